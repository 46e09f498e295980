//! The [`Dataset`] trait, the [`Sample`] the loader batches, and datasets
//! built from others: [`Subset`], [`random_split`], [`ConcatDataset`] and
//! the in-memory [`TensorDataset`].

use std::sync::Arc;

use ingot_core::{DType, Error, HostData, Result, Tensor};

use crate::rng::SampleRng;

/// `Ok` when `index` is below `len`, else the error `op` (a data set)
/// reports for it.
pub(crate) fn check_index(op: &'static str, index: usize, len: usize) -> Result<()> {
    if index < len {
        return Ok(());
    }
    Err(Error::IndexOutOfBounds {
        op,
        index: index as i64,
        dim: 0,
        size: len,
    })
}

/// Indexed access to examples (`torch.utils.data.Dataset`).
///
/// ```
/// use ingot::data::{Dataset, Sample, Target};
/// use ingot::Result;
///
/// /// The numbers 0..n, each labelled by its parity.
/// struct Parity(usize);
///
/// impl Dataset for Parity {
///     type Item = Sample;
///     fn len(&self) -> usize {
///         self.0
///     }
///     fn get(&self, i: usize) -> Result<Sample> {
///         Ok(Sample::new(vec![i as f32], vec![1], Target::Class((i % 2) as i64)))
///     }
/// }
///
/// assert_eq!(Parity(10).get(3)?.target, Target::Class(1));
/// # Ok::<(), ingot::Error>(())
/// ```
pub trait Dataset: Send + Sync {
    /// What one index yields.
    type Item;
    /// Number of examples.
    fn len(&self) -> usize;
    /// The example at `index` (`0..len()`).
    fn get(&self, index: usize) -> Result<Self::Item>;
    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }
}

/// What a sample predicts: a class index or a vector of values.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A class index; batches become an `I64` tensor `[B]`.
    Class(i64),
    /// Regression targets; batches become an `F32` tensor `[B, n]`.
    Values(Vec<f32>),
}

/// One example: `f32` features of a fixed `shape` (row-major) and a target.
///
/// ```
/// use ingot::data::{Sample, Target};
/// let s = Sample::new(vec![0.0; 12], vec![3, 2, 2], Target::Class(4));
/// assert_eq!(s.features.len(), 12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub features: Vec<f32>,
    pub shape: Vec<usize>,
    pub target: Target,
}

impl Sample {
    /// A sample; `features.len()` must equal the product of `shape` (the
    /// loader checks).
    ///
    /// ```
    /// let s = ingot::data::Sample::new(vec![1.0, 2.0], vec![2], ingot::data::Target::Class(0));
    /// assert_eq!(s.shape, vec![2]);
    /// ```
    pub fn new(features: Vec<f32>, shape: Vec<usize>, target: Target) -> Sample {
        Sample {
            features,
            shape,
            target,
        }
    }
}

/// The examples of `dataset` at `indices` (`torch.utils.data.Subset`).
///
/// ```
/// use std::sync::Arc;
/// use ingot::data::{Dataset, Mnist, Subset};
/// let test = Arc::new(Mnist::embedded(false)?);
/// let first = Subset::new(test, (0..10).collect())?;
/// assert_eq!(first.len(), 10);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Subset<D> {
    dataset: Arc<D>,
    indices: Vec<usize>,
}

impl<D: Dataset> Subset<D> {
    /// A view of `dataset` through `indices`, which must be in range.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ingot::data::{Mnist, Subset};
    /// let test = Arc::new(Mnist::embedded(false)?);
    /// assert!(Subset::new(test, vec![5000]).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(dataset: Arc<D>, indices: Vec<usize>) -> Result<Subset<D>> {
        for &i in &indices {
            check_index("Subset", i, dataset.len())?;
        }
        Ok(Subset { dataset, indices })
    }

    /// The indices into the underlying dataset.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ingot::data::{Mnist, Subset};
    /// let s = Subset::new(Arc::new(Mnist::embedded(false)?), vec![3, 1])?;
    /// assert_eq!(s.indices(), &[3, 1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        check_index("Subset", index, self.indices.len())?;
        self.dataset.get(self.indices[index])
    }
}

/// Splits `dataset` at random into subsets of the given sizes, which must
/// add up to its length (`torch.utils.data.random_split`); the split depends
/// only on `seed`.
///
/// ```
/// use std::sync::Arc;
/// use ingot::data::{random_split, Dataset, Mnist};
/// let test = Arc::new(Mnist::embedded(false)?);
/// let parts = random_split(test, &[800, 200], 7)?;
/// assert_eq!((parts[0].len(), parts[1].len()), (800, 200));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn random_split<D: Dataset>(
    dataset: Arc<D>,
    lengths: &[usize],
    seed: u64,
) -> Result<Vec<Subset<D>>> {
    let total = lengths
        .iter()
        .try_fold(0usize, |t, &n| t.checked_add(n))
        .unwrap_or(usize::MAX);
    if total != dataset.len() {
        return Err(Error::InvalidArgument {
            op: "random_split",
            msg: format!(
                "lengths {lengths:?} add up to {total}, the dataset has {} examples",
                dataset.len()
            ),
        });
    }
    let order = SampleRng::new(seed, 0, 0).permutation(total);
    let mut start = 0;
    lengths
        .iter()
        .map(|&n| {
            let part = order[start..start + n].to_vec();
            start += n;
            Subset::new(dataset.clone(), part)
        })
        .collect()
}

/// Datasets one after another (`torch.utils.data.ConcatDataset`).
///
/// ```
/// use ingot::data::{ConcatDataset, Dataset, Mnist};
/// let both = ConcatDataset::new(vec![Mnist::embedded(false)?, Mnist::embedded(false)?]);
/// assert_eq!(both.len(), 2000);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct ConcatDataset<D> {
    parts: Vec<D>,
    /// Cumulative lengths: `ends[i]` is one past part `i`'s last index.
    ends: Vec<usize>,
}

impl<D: Dataset> ConcatDataset<D> {
    /// The concatenation of `parts`.
    ///
    /// ```
    /// use ingot::data::{ConcatDataset, Dataset, Mnist};
    /// assert!(ConcatDataset::<Mnist>::new(vec![]).is_empty());
    /// ```
    pub fn new(parts: Vec<D>) -> Self {
        let ends = parts
            .iter()
            .scan(0, |acc, p| {
                *acc += p.len();
                Some(*acc)
            })
            .collect();
        ConcatDataset { parts, ends }
    }
}

impl<D: Dataset> Dataset for ConcatDataset<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        check_index("ConcatDataset", index, self.len())?;
        let part = self.ends.partition_point(|&e| e <= index);
        let start = if part == 0 { 0 } else { self.ends[part - 1] };
        self.parts[part].get(index - start)
    }
}

/// Examples held in memory as two tensors: features `[N, ...]` and targets
/// `[N]` (`I64` classes) or `[N, k]` (float values), like
/// `torch.utils.data.TensorDataset`.
///
/// ```
/// use ingot::data::{Dataset, Target, TensorDataset};
/// use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2], &Device::cpu())?;
/// let y = Tensor::from_vec(vec![0i64, 1], &[2], &Device::cpu())?;
/// let ds = TensorDataset::new(&x, &y)?;
/// assert_eq!(ds.get(1)?.features, vec![3.0, 4.0]);
/// assert_eq!(ds.get(1)?.target, Target::Class(1));
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct TensorDataset {
    features: Vec<f32>,
    shape: Vec<usize>,
    classes: Option<Vec<i64>>,
    values: Vec<f32>,
    value_width: usize,
    len: usize,
}

impl std::fmt::Debug for TensorDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TensorDataset({} examples of shape {:?})",
            self.len, self.shape
        )
    }
}

impl TensorDataset {
    /// Copies the tensors to host memory once.
    ///
    /// ```
    /// use ingot::data::TensorDataset;
    /// use ingot::{DType, Device, Tensor};
    /// let x = Tensor::zeros(&[3, 2], DType::F32, &Device::cpu())?;
    /// let y = Tensor::zeros(&[4], DType::I64, &Device::cpu())?;
    /// assert!(TensorDataset::new(&x, &y).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(features: &Tensor, targets: &Tensor) -> Result<TensorDataset> {
        let n = features.shape().first().copied().unwrap_or(0);
        if features.dim() == 0 || targets.dim() == 0 || targets.shape()[0] != n || targets.dim() > 2
        {
            return Err(Error::Shape {
                op: "TensorDataset",
                msg: format!(
                    "features {:?} and targets {:?} need the same first dimension (targets [N] or [N, k])",
                    features.shape(),
                    targets.shape()
                ),
            });
        }
        let host = features.to_dtype(DType::F32)?.to_vec::<f32>()?;
        let (classes, values, value_width) = match targets.to_host()? {
            HostData::I64(v) if targets.dim() == 1 => (Some(v), Vec::new(), 0),
            other if targets.dtype().is_float() => {
                let width = targets.shape().get(1).copied().unwrap_or(1);
                (None, HostData::into_vec::<f32>(other), width)
            }
            other => {
                return Err(Error::DType {
                    op: "TensorDataset",
                    msg: format!(
                        "targets must be int64 classes [N] or floats, got {} {:?}",
                        other.dtype(),
                        targets.shape()
                    ),
                });
            }
        };
        Ok(TensorDataset {
            features: host,
            shape: features.shape()[1..].to_vec(),
            classes,
            values,
            value_width,
            len: n,
        })
    }
}

impl Dataset for TensorDataset {
    type Item = Sample;
    fn len(&self) -> usize {
        self.len
    }
    fn get(&self, index: usize) -> Result<Sample> {
        check_index("TensorDataset", index, self.len)?;
        let size: usize = self.shape.iter().product();
        let features = self.features[index * size..(index + 1) * size].to_vec();
        let target = match &self.classes {
            Some(c) => Target::Class(c[index]),
            None => Target::Values(
                self.values[index * self.value_width..(index + 1) * self.value_width].to_vec(),
            ),
        };
        Ok(Sample::new(features, self.shape.clone(), target))
    }
}
