//! The data sets `ingot train --dataset` knows, their shapes, class names and
//! where their files are.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ingot::data::{Cifar10, Dataset, FashionMnist, Mnist, Sample};

use crate::failure::Failure;

/// A split of a data set, type-erased.
pub type Split = Box<dyn Dataset<Item = Sample>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataSetKind {
    /// The MNIST subset built into the library (20 000 train, 1 000 test).
    Embedded,
    Mnist,
    FashionMnist,
    Cifar10,
}

const ALL: [DataSetKind; 4] = [
    DataSetKind::Embedded,
    DataSetKind::Mnist,
    DataSetKind::FashionMnist,
    DataSetKind::Cifar10,
];

impl fmt::Display for DataSetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataSetKind::Embedded => "embedded",
            DataSetKind::Mnist => "mnist",
            DataSetKind::FashionMnist => "fashion-mnist",
            DataSetKind::Cifar10 => "cifar10",
        })
    }
}

impl FromStr for DataSetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<DataSetKind, String> {
        ALL.into_iter()
            .find(|k| k.to_string().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                "unknown data set; known: embedded, mnist, fashion-mnist, cifar10".to_string()
            })
    }
}

impl DataSetKind {
    /// One image's shape, `[C, H, W]`.
    pub fn input_shape(self) -> Vec<usize> {
        match self {
            DataSetKind::Cifar10 => vec![3, 32, 32],
            _ => vec![1, 28, 28],
        }
    }

    /// The classes' names, by label.
    pub fn class_names(self) -> Vec<String> {
        let names: &[&str] = match self {
            DataSetKind::Embedded | DataSetKind::Mnist => {
                &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
            }
            DataSetKind::FashionMnist => &[
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
            DataSetKind::Cifar10 => &[
                "airplane",
                "automobile",
                "bird",
                "cat",
                "deer",
                "dog",
                "frog",
                "horse",
                "ship",
                "truck",
            ],
        };
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Where the files are looked for without `--data-dir`.
    pub fn default_dir(self) -> PathBuf {
        Path::new("data").join(self.to_string())
    }

    /// Whether the data live in files (everything but the embedded subset).
    pub fn needs_files(self) -> bool {
        self != DataSetKind::Embedded
    }

    /// Loads the training (`train`) or test split from `dir`.
    pub fn load(self, dir: &Path, train: bool) -> Result<Split, Failure> {
        if self.needs_files() && !dir.is_dir() {
            let files = match self {
                DataSetKind::Cifar10 => "the CIFAR-10 binary files (data_batch_1.bin ...)",
                _ => "the IDX files (train-images-idx3-ubyte.gz ...)",
            };
            return Err(Failure::run(format!(
                "data directory {} does not exist; pass --data-dir DIR, a folder with {files}",
                dir.display()
            )));
        }
        Ok(match self {
            DataSetKind::Embedded => Box::new(Mnist::embedded(train)?),
            DataSetKind::Mnist => Box::new(Mnist::load(dir, train)?),
            DataSetKind::FashionMnist => Box::new(FashionMnist::load(dir, train)?),
            DataSetKind::Cifar10 => Box::new(Cifar10::load(dir, train)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_shapes_match_the_data() {
        for kind in ALL {
            assert_eq!(kind.to_string().parse::<DataSetKind>().unwrap(), kind);
            assert_eq!(kind.class_names().len(), 10);
        }
        assert!("imagenet".parse::<DataSetKind>().is_err());
        let test = DataSetKind::Embedded.load(Path::new(""), false).unwrap();
        let sample = test.get(0).unwrap();
        assert_eq!(sample.shape, DataSetKind::Embedded.input_shape());
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = DataSetKind::Mnist
            .load(Path::new("/nonexistent/mnist"), true)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("/nonexistent/mnist") && err.contains("--data-dir"),
            "{err}"
        );
    }
}
