//! `CsvDataset`: numeric features and a label column from a CSV file.

use std::path::Path;

use ingot_core::{Error, Result};

use crate::dataset::{Dataset, Sample, Target, check_index};
use crate::files::bad;

/// Rows of a comma-separated file with a header line: every column but the
/// label is a numeric feature. Classification labels must be non-negative
/// integers; [`CsvDataset::load_regression`] reads them as values instead.
/// Ragged rows, non-numbers and empty files are errors naming the line.
///
/// ```
/// use ingot::data::{CsvDataset, Dataset, Target};
/// let path = std::env::temp_dir().join("ingot-doc.csv");
/// std::fs::write(&path, "a,b,label\n1,2,0\n3.5,-1,1\n")?;
/// let ds = CsvDataset::load(&path, "label")?;
/// assert_eq!(ds.get(1)?.features, vec![3.5, -1.0]);
/// assert_eq!(ds.get(1)?.target, Target::Class(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CsvDataset {
    features: Vec<f32>,
    width: usize,
    labels: Vec<f64>,
    regression: bool,
    columns: Vec<String>,
    label_at: usize,
}

impl std::fmt::Debug for CsvDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CsvDataset({} rows, features {:?}, {})",
            self.labels.len(),
            self.feature_names(),
            if self.regression {
                "regression"
            } else {
                "classes"
            }
        )
    }
}

impl CsvDataset {
    /// Loads a classification dataset labelled by column `label`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("ingot-doc-bad.csv");
    /// std::fs::write(&path, "x,label\n1,0\n2\n")?;
    /// let err = ingot::data::CsvDataset::load(&path, "label").unwrap_err().to_string();
    /// assert!(err.contains("line 3"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load(path: impl AsRef<Path>, label: &str) -> Result<CsvDataset> {
        CsvDataset::read(path.as_ref(), label, false)
    }

    /// Loads a regression dataset: the label column becomes a 1-value target.
    ///
    /// ```
    /// use ingot::data::{CsvDataset, Dataset, Target};
    /// let path = std::env::temp_dir().join("ingot-doc-reg.csv");
    /// std::fs::write(&path, "x,y\n1,0.5\n")?;
    /// assert_eq!(CsvDataset::load_regression(&path, "y")?.get(0)?.target, Target::Values(vec![0.5]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn load_regression(path: impl AsRef<Path>, label: &str) -> Result<CsvDataset> {
        CsvDataset::read(path.as_ref(), label, true)
    }

    fn read(path: &Path, label: &str, regression: bool) -> Result<CsvDataset> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or_else(|| bad(path, "empty file: no header line"))?;
        let columns: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
        let label_at = columns.iter().position(|c| c == label).ok_or_else(|| {
            bad(
                path,
                format!(
                    "no column named {label:?} (columns: {})",
                    columns.join(", ")
                ),
            )
        })?;
        let width = columns.len() - 1;
        let (mut features, mut labels) = (Vec::new(), Vec::new());
        for (i, line) in lines {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != columns.len() {
                return Err(bad(
                    path,
                    format!(
                        "line {}: {} fields, the header has {}",
                        i + 1,
                        fields.len(),
                        columns.len()
                    ),
                ));
            }
            for (j, f) in fields.iter().enumerate() {
                let v: f64 = f.parse().map_err(|_| {
                    bad(
                        path,
                        format!(
                            "line {}: column {:?} is not a number: {f:?}",
                            i + 1,
                            columns[j]
                        ),
                    )
                })?;
                if j == label_at {
                    if !regression && (v < 0.0 || v.fract() != 0.0) {
                        return Err(bad(
                            path,
                            format!(
                                "line {}: label {f:?} is not a class index (a non-negative integer)",
                                i + 1
                            ),
                        ));
                    }
                    labels.push(v);
                } else {
                    features.push(v as f32);
                }
            }
        }
        if labels.is_empty() {
            return Err(bad(path, "no data rows after the header"));
        }
        Ok(CsvDataset {
            features,
            width,
            labels,
            regression,
            columns,
            label_at,
        })
    }

    /// The feature column names, in feature order.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("ingot-doc-cols.csv");
    /// std::fs::write(&path, "a,label,b\n1,0,2\n")?;
    /// assert_eq!(ingot::data::CsvDataset::load(&path, "label")?.feature_names(), vec!["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn feature_names(&self) -> Vec<&str> {
        self.columns
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != self.label_at)
            .map(|(_, c)| c.as_str())
            .collect()
    }
}

impl Dataset for CsvDataset {
    type Item = Sample;
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        check_index("CsvDataset", index, self.len())?;
        let features = self.features[index * self.width..(index + 1) * self.width].to_vec();
        let target = if self.regression {
            Target::Values(vec![self.labels[index] as f32])
        } else {
            Target::Class(self.labels[index] as i64)
        };
        Ok(Sample::new(features, vec![self.width], target))
    }
}
