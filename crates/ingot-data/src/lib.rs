//! # ingot-data
//!
//! Data loading for ingot (`ingot::data`): the [`Dataset`] trait, a
//! [`DataLoader`] that batches samples into tensors with seeded shuffling and
//! worker threads, real datasets ([`Mnist`], [`FashionMnist`], [`Cifar10`],
//! [`Cifar100`], [`ImageFolder`], [`CsvDataset`], [`TensorDataset`]), dataset
//! combinators and torchvision-style transforms. An MNIST subset is built
//! into the crate ([`Mnist::embedded`]), so examples and the default training
//! job need nothing on disk.
//!
//! ```
//! use ingot::data::{DataLoader, Mnist, Normalize};
//! let loader = DataLoader::new(Mnist::embedded(false)?, 256)
//!     .shuffle(true)
//!     .seed(0)
//!     .transform(Normalize::new(vec![0.1307], vec![0.3081]));
//! let (images, labels) = loader.iter().next().unwrap()?;
//! assert_eq!(images.shape(), &[256, 1, 28, 28]);
//! assert_eq!(labels.dtype(), ingot::DType::I64);
//! # Ok::<(), ingot::Error>(())
//! ```
//!
//! Bad files (missing, wrong magic numbers, truncated or corrupt gzip or
//! images, image/label count mismatches, ragged CSV rows) are errors naming
//! the file and the problem, never a panic or a silently shorter dataset.

mod cifar;
mod csv;
mod dataset;
mod files;
mod image_folder;
mod loader;
mod mnist;
mod rng;
mod transforms;

pub use cifar::{Cifar10, Cifar100};
pub use csv::CsvDataset;
pub use dataset::{ConcatDataset, Dataset, Sample, Subset, Target, TensorDataset, random_split};
pub use image_folder::{ImageFolder, MAX_IMAGE_PIXELS, decode_image};
pub use loader::{Batches, DataLoader};
pub use mnist::{FashionMnist, Mnist};
pub use rng::SampleRng;
pub use transforms::{
    CenterCrop, Compose, Normalize, RandomCrop, RandomHorizontalFlip, Resize, Transform,
};
