//! What `ingot train` records in each checkpoint's metadata, so that `eval`,
//! `predict` and `--resume` can rebuild the model and its data without the
//! original command line.

use std::path::{Path, PathBuf};

use ingot::Device;
use ingot::models::ModelKind;
use ingot::nn::{Module, Sequential};
use ingot::train::Checkpoint;
use serde_json::{Value, json};

use crate::args::Parsed;
use crate::datasets::DataSetKind;
use crate::failure::Failure;

/// The settings of a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub model: ModelKind,
    pub dataset: DataSetKind,
    /// Where the data set's files were (absolute), for data sets on disk.
    pub data_dir: Option<PathBuf>,
    pub input_shape: Vec<usize>,
    pub class_names: Vec<String>,
    pub optimizer: String,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    /// The fraction of the training split held out for validation.
    pub val_split: f64,
}

impl RunInfo {
    /// The JSON stored as the checkpoint's `metadata`.
    pub fn to_json(&self) -> Value {
        json!({
            "model": self.model.to_string(),
            "dataset": self.dataset.to_string(),
            "data_dir": self.data_dir,
            "input_shape": self.input_shape,
            "classes": self.class_names.len(),
            "class_names": self.class_names,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "val_split": self.val_split,
        })
    }

    /// Reads the metadata of a checkpoint written by `ingot train`.
    pub fn from_checkpoint(ckpt: &Checkpoint, path: &Path) -> Result<RunInfo, Failure> {
        let m = &ckpt.state["metadata"];
        let missing = |what: &str| {
            Failure::run(format!(
                "{}: checkpoint metadata lacks {what} (was it written by `ingot train`?)",
                path.display()
            ))
        };
        let text = |key: &str| m[key].as_str().ok_or_else(|| missing(key));
        let model = text("model")?
            .parse::<ModelKind>()
            .map_err(|e| Failure::run(format!("{}: {e}", path.display())))?;
        let dataset = text("dataset")?
            .parse::<DataSetKind>()
            .map_err(|e| Failure::run(format!("{}: {e}", path.display())))?;
        let input_shape: Vec<usize> = m["input_shape"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_u64().map(|v| v as usize)).collect())
            .ok_or_else(|| missing("input_shape"))?;
        let class_names: Vec<String> = m["class_names"]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect())
            .ok_or_else(|| missing("class_names"))?;
        // Every value is checked against what `ingot train` can have
        // written, so that a damaged file is an error naming the field, not
        // a model of absurd size or a panic later.
        let wrong = |key: &str, expected: &str| {
            Failure::run(format!(
                "{}: checkpoint metadata {key} is {}; expected {expected}",
                path.display(),
                m[key]
            ))
        };
        if input_shape != dataset.input_shape() {
            return Err(wrong(
                "input_shape",
                &format!("{:?}, the images of {dataset}", dataset.input_shape()),
            ));
        }
        if class_names.len() != dataset.class_names().len() {
            return Err(wrong(
                "class_names",
                &format!("the {} classes of {dataset}", dataset.class_names().len()),
            ));
        }
        let optimizer = text("optimizer")?.to_string();
        if !["sgd", "adam", "adamw"].contains(&optimizer.as_str()) {
            return Err(wrong("optimizer", "sgd, adam or adamw"));
        }
        let lr = m["lr"]
            .as_f64()
            .filter(|lr| lr.is_finite() && *lr > 0.0)
            .ok_or_else(|| wrong("lr", "a positive number"))?;
        let batch_size = m["batch_size"]
            .as_u64()
            .filter(|&b| b >= 1)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or_else(|| wrong("batch_size", "a whole number of at least 1"))?;
        let val_split = m["val_split"]
            .as_f64()
            .filter(|v| (0.0..1.0).contains(v))
            .ok_or_else(|| wrong("val_split", "a number in [0, 1)"))?;
        Ok(RunInfo {
            model,
            dataset,
            data_dir: m["data_dir"].as_str().map(PathBuf::from),
            input_shape,
            class_names,
            optimizer,
            lr,
            batch_size,
            seed: m["seed"]
                .as_u64()
                .ok_or_else(|| wrong("seed", "a whole number >= 0"))?,
            val_split,
        })
    }

    /// The model, freshly initialized (load the checkpoint's weights next).
    pub fn build_model(&self, device: &Device) -> Result<Sequential, Failure> {
        Ok(self
            .model
            .build(&self.input_shape, self.class_names.len(), device)?)
    }
}

/// `--model`, if given (`mlp` or `cnn`).
pub fn model_flag(p: &Parsed, command: &'static str) -> Result<Option<ModelKind>, Failure> {
    p.value("model")
        .map(|v| {
            v.parse::<ModelKind>()
                .map_err(|_| Failure::usage(command, format!("--model {v:?}: expected mlp or cnn")))
        })
        .transpose()
}

/// The model saved in the checkpoint at `path`, with its run's settings.
pub fn load_model(path: &Path, device: &Device) -> Result<(RunInfo, Sequential), Failure> {
    let ckpt = Checkpoint::load(path, device)?;
    let info = RunInfo::from_checkpoint(&ckpt, path)?;
    let model = info.build_model(device)?;
    model.load_state_dict(&ckpt.model, true)?;
    Ok((info, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_gaps_are_named() {
        let info = RunInfo {
            model: ModelKind::Cnn,
            dataset: DataSetKind::Cifar10,
            data_dir: Some(PathBuf::from("/data/cifar")),
            input_shape: vec![3, 32, 32],
            class_names: DataSetKind::Cifar10.class_names(),
            optimizer: "adamw".into(),
            lr: 3e-4,
            batch_size: 32,
            seed: 7,
            val_split: 0.1,
        };
        let mut ckpt = Checkpoint::new(ingot::nn::StateDict::new());
        ckpt.state = json!({ "metadata": info.to_json() });
        let path = Path::new("run/checkpoint-last");
        assert_eq!(RunInfo::from_checkpoint(&ckpt, path).unwrap(), info);
        ckpt.state["metadata"]["input_shape"] = json!("wide");
        let err = RunInfo::from_checkpoint(&ckpt, path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("run/checkpoint-last") && err.contains("input_shape"),
            "{err}"
        );
        for (key, value, expected) in [
            ("val_split", json!(1.5), "in [0, 1)"),
            ("val_split", json!(-0.1), "in [0, 1)"),
            (
                "input_shape",
                json!([1, 100000, 100000]),
                "the images of cifar10",
            ),
            ("lr", json!(-1.0), "a positive number"),
            ("batch_size", json!(0), "at least 1"),
            ("class_names", json!(["a"]), "the 10 classes"),
            ("optimizer", json!("lbfgs"), "sgd, adam or adamw"),
            ("seed", json!(-1), "a whole number"),
        ] {
            let mut bad = info.to_json();
            bad[key] = value.clone();
            ckpt.state = json!({ "metadata": bad });
            let err = RunInfo::from_checkpoint(&ckpt, path)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("metadata {key} is {value}")) && err.contains(expected),
                "{err}"
            );
        }
        let bare = Checkpoint::new(ingot::nn::StateDict::new());
        let err = RunInfo::from_checkpoint(&bare, path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ingot train"), "{err}");
    }
}
