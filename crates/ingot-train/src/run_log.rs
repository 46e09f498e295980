//! The files of a run directory that grow epoch by epoch: `metrics.jsonl`
//! (one JSON object per epoch) and `metrics.csv` (the same, as a table).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ingot_core::{Error, Result};
use serde_json::{Value, json};

/// One epoch's numbers: `epoch` and metric name to value.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// `train_loss`, `val_accuracy`, `lr`, `samples_per_sec`, ...
    pub metrics: BTreeMap<String, f64>,
}

impl EpochRecord {
    /// As a JSON object (non-finite numbers become `null`).
    ///
    /// ```
    /// let r = ingot::train::EpochRecord { epoch: 1, metrics: [("lr".to_string(), 0.1)].into() };
    /// assert_eq!(r.to_json()["lr"], 0.1);
    /// ```
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("epoch".into(), json!(self.epoch));
        for (k, v) in &self.metrics {
            o.insert(
                k.clone(),
                if v.is_finite() { json!(v) } else { Value::Null },
            );
        }
        Value::Object(o)
    }

    /// Parses [`EpochRecord::to_json`]'s output.
    ///
    /// ```
    /// let r = ingot::train::EpochRecord { epoch: 2, metrics: [("train_loss".to_string(), 0.5)].into() };
    /// assert_eq!(ingot::train::EpochRecord::from_json(&r.to_json()), Some(r));
    /// ```
    pub fn from_json(v: &Value) -> Option<EpochRecord> {
        let o = v.as_object()?;
        let epoch = o.get("epoch")?.as_u64()? as usize;
        let metrics = o
            .iter()
            .filter(|(k, _)| *k != "epoch")
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NAN)))
            .collect();
        Some(EpochRecord { epoch, metrics })
    }
}

pub(crate) struct RunLog {
    jsonl: PathBuf,
    csv: PathBuf,
    columns: Vec<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl RunLog {
    /// Starts the logs in `dir`, or continues them when `resume` (dropping
    /// any lines past `epochs_done`, from an interrupted epoch).
    pub fn open(dir: &Path, history: &[EpochRecord]) -> Result<RunLog> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let log = RunLog {
            jsonl: dir.join("metrics.jsonl"),
            csv: dir.join("metrics.csv"),
            columns: Vec::new(),
        };
        // Rewrite both files from the history so they agree with the state.
        File::create(&log.jsonl).map_err(io(&log.jsonl))?;
        File::create(&log.csv).map_err(io(&log.csv))?;
        let mut log = log;
        for r in history {
            log.append(r)?;
        }
        Ok(log)
    }

    pub fn append(&mut self, record: &EpochRecord) -> Result<()> {
        let mut j = OpenOptions::new()
            .append(true)
            .open(&self.jsonl)
            .map_err(io(&self.jsonl))?;
        writeln!(j, "{}", record.to_json()).map_err(io(&self.jsonl))?;
        let mut c = OpenOptions::new()
            .append(true)
            .open(&self.csv)
            .map_err(io(&self.csv))?;
        if self.columns.is_empty() {
            self.columns = record.metrics.keys().cloned().collect();
            writeln!(c, "epoch,{}", self.columns.join(",")).map_err(io(&self.csv))?;
        }
        let cells: Vec<String> = self
            .columns
            .iter()
            .map(|k| {
                record
                    .metrics
                    .get(k)
                    .filter(|v| v.is_finite())
                    .map(|v| format!("{v}"))
                    .unwrap_or_default()
            })
            .collect();
        writeln!(c, "{},{}", record.epoch, cells.join(",")).map_err(io(&self.csv))
    }
}
