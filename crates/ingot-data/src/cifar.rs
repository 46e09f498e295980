//! CIFAR-10 and CIFAR-100 in their binary format: records of label byte(s)
//! followed by a 32 x 32 RGB image in channel-major order.

use std::path::{Path, PathBuf};

use ingot_core::Result;

use crate::dataset::{Dataset, Sample, Target, check_index};
use crate::files::{bad, read_maybe_gz};

const IMAGE: usize = 3 * 32 * 32;
/// The most records one CIFAR file holds (CIFAR-100's training file has
/// 50 000), with room to spare: a file that inflates past it is rejected
/// before it fills memory.
const MAX_RECORDS: usize = 100_000;

/// Images `[3, 32, 32]` in `[0, 1]` with class targets.
struct Records {
    images: Vec<u8>,
    labels: Vec<u8>,
}

impl Records {
    /// Reads `files` of records of `label_bytes` label bytes (the last is the
    /// class) and an image, rejecting labels of `classes` or more.
    fn read(files: &[PathBuf], label_bytes: usize, classes: u8) -> Result<Records> {
        let record = label_bytes + IMAGE;
        let mut out = Records {
            images: Vec::new(),
            labels: Vec::new(),
        };
        for path in files {
            let bytes = read_maybe_gz(path, MAX_RECORDS * record)?;
            if bytes.is_empty() || bytes.len() % record != 0 {
                return Err(bad(
                    path,
                    format!(
                        "{} bytes is not a whole number of {record}-byte records (truncated?)",
                        bytes.len()
                    ),
                ));
            }
            for (i, r) in bytes.chunks_exact(record).enumerate() {
                let label = r[label_bytes - 1];
                if label >= classes {
                    return Err(bad(
                        path,
                        format!("record {i} has label {label}, expected below {classes}"),
                    ));
                }
                out.labels.push(label);
                out.images.extend_from_slice(&r[label_bytes..]);
            }
        }
        Ok(out)
    }

    fn get(&self, index: usize, op: &'static str) -> Result<Sample> {
        check_index(op, index, self.labels.len())?;
        let features = self.images[index * IMAGE..(index + 1) * IMAGE]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect();
        Ok(Sample::new(
            features,
            vec![3, 32, 32],
            Target::Class(self.labels[index] as i64),
        ))
    }
}

/// The directory holding the binary files: `dir` or its usual subdirectory.
fn data_dir(dir: &Path, sub: &str, marker: &str) -> PathBuf {
    if dir.join(marker).is_file() || dir.join(format!("{marker}.gz")).is_file() {
        dir.to_path_buf()
    } else {
        dir.join(sub)
    }
}

fn existing(dir: &Path, names: &[String]) -> Result<Vec<PathBuf>> {
    names
        .iter()
        .map(|n| {
            let raw = dir.join(n);
            let gz = dir.join(format!("{n}.gz"));
            if raw.is_file() {
                Ok(raw)
            } else if gz.is_file() {
                Ok(gz)
            } else {
                Err(bad(&raw, "missing CIFAR file"))
            }
        })
        .collect()
}

/// CIFAR-10: 50 000 training and 10 000 test images of 10 classes, from
/// `data_batch_1.bin` .. `data_batch_5.bin` and `test_batch.bin` (in `dir`
/// or `dir/cifar-10-batches-bin`).
///
/// ```no_run
/// use ingot::data::{Cifar10, Dataset};
/// let train = Cifar10::load("data", true)?;
/// assert_eq!(train.len(), 50_000);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Cifar10(Records);

impl std::fmt::Debug for Cifar10 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cifar10({} images)", self.0.labels.len())
    }
}

impl Cifar10 {
    /// Loads a split.
    ///
    /// ```
    /// assert!(ingot::data::Cifar10::load("/nonexistent", false).is_err());
    /// ```
    pub fn load(dir: impl AsRef<Path>, train: bool) -> Result<Cifar10> {
        let dir = data_dir(dir.as_ref(), "cifar-10-batches-bin", "test_batch.bin");
        let names: Vec<String> = if train {
            (1..=5).map(|i| format!("data_batch_{i}.bin")).collect()
        } else {
            vec!["test_batch.bin".into()]
        };
        Ok(Cifar10(Records::read(&existing(&dir, &names)?, 1, 10)?))
    }
}

impl Dataset for Cifar10 {
    type Item = Sample;
    fn len(&self) -> usize {
        self.0.labels.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        self.0.get(index, "Cifar10")
    }
}

/// CIFAR-100 with its 100 fine labels, from `train.bin` / `test.bin` (in
/// `dir` or `dir/cifar-100-binary`).
///
/// ```no_run
/// use ingot::data::{Cifar100, Dataset};
/// let test = Cifar100::load("data", false)?;
/// assert_eq!(test.len(), 10_000);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Cifar100(Records);

impl std::fmt::Debug for Cifar100 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cifar100({} images)", self.0.labels.len())
    }
}

impl Cifar100 {
    /// Loads a split.
    ///
    /// ```
    /// assert!(ingot::data::Cifar100::load("/nonexistent", true).is_err());
    /// ```
    pub fn load(dir: impl AsRef<Path>, train: bool) -> Result<Cifar100> {
        let dir = data_dir(dir.as_ref(), "cifar-100-binary", "test.bin");
        let name = if train { "train.bin" } else { "test.bin" };
        Ok(Cifar100(Records::read(
            &existing(&dir, &[name.to_string()])?,
            2,
            100,
        )?))
    }
}

impl Dataset for Cifar100 {
    type Item = Sample;
    fn len(&self) -> usize {
        self.0.labels.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        self.0.get(index, "Cifar100")
    }
}
