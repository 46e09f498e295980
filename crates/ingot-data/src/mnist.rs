//! MNIST and Fashion-MNIST from their IDX files, and the MNIST subset built
//! into the crate.

use std::path::Path;

use ingot_core::Result;

use crate::dataset::{Dataset, Sample, Target, check_index};
use crate::files::{Idx, bad, find, parse_idx, read_idx};

/// 28 x 28 grayscale digits (or, via [`FashionMnist`], clothes); samples are
/// `[1, 28, 28]` in `[0, 1]` with class targets 0..9.
///
/// ```
/// use ingot::data::{Dataset, Mnist, Target};
/// let test = Mnist::embedded(false)?;
/// assert_eq!(test.len(), 1000);
/// let s = test.get(0)?;
/// assert_eq!(s.shape, vec![1, 28, 28]);
/// assert!(matches!(s.target, Target::Class(c) if (0..10).contains(&c)));
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Mnist {
    images: Vec<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
}

impl std::fmt::Debug for Mnist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mnist({} images of {}x{})",
            self.labels.len(),
            self.rows,
            self.cols
        )
    }
}

const EMBEDDED_TRAIN_IMAGES: &[u8] = include_bytes!("../data/train-images-idx3-ubyte.gz");
const EMBEDDED_TRAIN_LABELS: &[u8] = include_bytes!("../data/train-labels-idx1-ubyte.gz");
const EMBEDDED_TEST_IMAGES: &[u8] = include_bytes!("../data/t10k-images-idx3-ubyte.gz");
const EMBEDDED_TEST_LABELS: &[u8] = include_bytes!("../data/t10k-labels-idx1-ubyte.gz");

impl Mnist {
    /// Loads the training (`train-*`) or test (`t10k-*`) split from `dir`,
    /// with the standard file names, raw or gzipped.
    ///
    /// ```no_run
    /// let train = ingot::data::Mnist::load("data/mnist", true)?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>, train: bool) -> Result<Mnist> {
        load_split(dir.as_ref(), train, "MNIST")
    }

    /// The subset built into the crate: 20 000 training and 1 000 test
    /// images drawn at random from MNIST (`data/make_embedded.py`).
    ///
    /// ```
    /// use ingot::data::{Dataset, Mnist};
    /// assert_eq!(Mnist::embedded(true)?.len(), 20_000);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn embedded(train: bool) -> Result<Mnist> {
        let (images, labels) = if train {
            (EMBEDDED_TRAIN_IMAGES, EMBEDDED_TRAIN_LABELS)
        } else {
            (EMBEDDED_TEST_IMAGES, EMBEDDED_TEST_LABELS)
        };
        let name = Path::new("<embedded MNIST>");
        let decode = |bytes: &[u8], rank: usize| -> Result<Idx> { parse_idx(name, bytes, rank) };
        Mnist::from_idx(name, decode(images, 3)?, decode(labels, 1)?)
    }

    fn from_idx(path: &Path, images: Idx, labels: Idx) -> Result<Mnist> {
        let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
        if labels.dims[0] != n {
            return Err(bad(
                path,
                format!("{n} images but {} labels", labels.dims[0]),
            ));
        }
        if let Some(&l) = labels.data.iter().find(|&&l| l > 9) {
            return Err(bad(path, format!("label {l} is not a digit class 0..9")));
        }
        Ok(Mnist {
            images: images.data,
            labels: labels.data,
            rows,
            cols,
        })
    }

    /// The label of every example, as bytes (cheap histograms).
    ///
    /// ```
    /// let m = ingot::data::Mnist::embedded(false)?;
    /// assert_eq!(m.labels().len(), 1000);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The raw pixels, image after image, row-major, 0..255.
    ///
    /// ```
    /// let m = ingot::data::Mnist::embedded(false)?;
    /// assert_eq!(m.pixels().len(), 1000 * 784);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn pixels(&self) -> &[u8] {
        &self.images
    }
}

fn load_split(dir: &Path, train: bool, what: &str) -> Result<Mnist> {
    let prefix = if train { "train" } else { "t10k" };
    let images = find(
        dir,
        &[
            &format!("{prefix}-images-idx3-ubyte"),
            &format!("{prefix}-images.idx3-ubyte"),
        ],
        &format!("{what} images"),
    )?;
    let labels = find(
        dir,
        &[
            &format!("{prefix}-labels-idx1-ubyte"),
            &format!("{prefix}-labels.idx1-ubyte"),
        ],
        &format!("{what} labels"),
    )?;
    let (images_idx, labels_idx) = (read_idx(&images, 3)?, read_idx(&labels, 1)?);
    Mnist::from_idx(&labels, images_idx, labels_idx)
}

impl Dataset for Mnist {
    type Item = Sample;
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        check_index("Mnist", index, self.len())?;
        let size = self.rows * self.cols;
        let features = self.images[index * size..(index + 1) * size]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect();
        Ok(Sample::new(
            features,
            vec![1, self.rows, self.cols],
            Target::Class(self.labels[index] as i64),
        ))
    }
}

/// Fashion-MNIST: the MNIST format with 10 kinds of clothing.
///
/// ```no_run
/// use ingot::data::{Dataset, FashionMnist};
/// let test = FashionMnist::load("data/fashion-mnist", false)?;
/// assert_eq!(test.len(), 10_000);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct FashionMnist;

impl FashionMnist {
    /// Loads a split from `dir` (the MNIST file names).
    ///
    /// ```
    /// assert!(ingot::data::FashionMnist::load("/nonexistent", true).is_err());
    /// ```
    pub fn load(dir: impl AsRef<Path>, train: bool) -> Result<Mnist> {
        load_split(dir.as_ref(), train, "Fashion-MNIST")
    }
}
