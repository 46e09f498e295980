//! [`DataLoader`]: batches of a dataset as tensors, shuffled per epoch,
//! optionally prepared by worker threads.
//!
//! Each call of [`DataLoader::iter`] is an epoch: the order is a permutation
//! seeded by `seed + epoch`, transforms draw from a stream per
//! `(seed, epoch, sample)`, and batch `k` always holds the same samples, so
//! `num_workers(n)` delivers exactly what `num_workers(0)` does. A batch is
//! assembled in one host buffer and uploaded as one tensor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use ingot_core::{Device, Error, Result, Tensor};

use crate::dataset::{Dataset, Sample, Target};
use crate::rng::SampleRng;
use crate::transforms::Transform;

/// Batches of `(features, targets)`: features `F32 [B, ...]`, targets
/// `I64 [B]` for classes or `F32 [B, k]` for values.
///
/// ```
/// use ingot::data::{DataLoader, Mnist};
/// let loader = DataLoader::new(Mnist::embedded(false)?, 128).shuffle(true).seed(1).num_workers(2);
/// assert_eq!(loader.len(), 8);
/// for batch in loader.iter() {
///     let (images, labels) = batch?;
///     assert_eq!(images.shape()[1..], [1, 28, 28]);
///     assert_eq!(labels.shape()[0], images.shape()[0]);
/// }
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct DataLoader<D> {
    dataset: Arc<D>,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    num_workers: usize,
    prefetch: usize,
    drop_last: bool,
    device: Device,
    transform: Option<Arc<dyn Transform>>,
    epoch: AtomicU64,
}

impl<D: Dataset<Item = Sample> + 'static> DataLoader<D> {
    /// Batches of `batch_size` in dataset order, prepared on the calling
    /// thread, on the CPU.
    ///
    /// ```
    /// let loader = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 100);
    /// assert_eq!(loader.len(), 10);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(dataset: D, batch_size: usize) -> Self {
        DataLoader::from_arc(Arc::new(dataset), batch_size)
    }

    /// A loader over a shared dataset.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let ds = Arc::new(ingot::data::Mnist::embedded(false)?);
    /// let loader = ingot::data::DataLoader::from_arc(ds.clone(), 10);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn from_arc(dataset: Arc<D>, batch_size: usize) -> Self {
        DataLoader {
            dataset,
            batch_size,
            shuffle: false,
            seed: 0,
            num_workers: 0,
            prefetch: 2,
            drop_last: false,
            device: Device::cpu(),
            transform: None,
            epoch: AtomicU64::new(0),
        }
    }

    /// Whether each epoch visits the samples in a new random order.
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10).shuffle(true);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// The seed of shuffling and random transforms.
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10).seed(42);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Threads preparing batches ahead (0: the calling thread does it).
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10).num_workers(2);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn num_workers(mut self, n: usize) -> Self {
        self.num_workers = n;
        self
    }

    /// Batches each worker keeps ready (default 2, at least 1).
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10).prefetch(4);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn prefetch(mut self, batches: usize) -> Self {
        self.prefetch = batches.max(1);
        self
    }

    /// Whether to skip a last batch smaller than `batch_size`.
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 300).drop_last(true);
    /// assert_eq!(l.len(), 3);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The device batches are delivered on.
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10).device(&ingot::Device::cpu());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn device(mut self, device: &Device) -> Self {
        self.device = device.clone();
        self
    }

    /// A transform applied to every sample (in the workers).
    ///
    /// ```
    /// use ingot::data::{DataLoader, Mnist, Normalize};
    /// let l = DataLoader::new(Mnist::embedded(false)?, 10).transform(Normalize::new(vec![0.1307], vec![0.3081]));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn transform(mut self, transform: impl Transform + 'static) -> Self {
        self.transform = Some(Arc::new(transform));
        self
    }

    /// Batches per epoch.
    ///
    /// ```
    /// assert_eq!(ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 300).len(), 4);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        let n = self.dataset.len();
        match self.batch_size {
            0 => 0,
            b if self.drop_last => n / b,
            b => n.div_ceil(b),
        }
    }

    /// Whether an epoch has no batches.
    ///
    /// ```
    /// assert!(!ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10).is_empty());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset.
    ///
    /// ```
    /// use ingot::data::Dataset;
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 10);
    /// assert_eq!(l.dataset().len(), 1000);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn dataset(&self) -> &Arc<D> {
        &self.dataset
    }

    /// The epoch the next [`DataLoader::iter`] will run.
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 500);
    /// l.iter().count();
    /// assert_eq!(l.epoch(), 1);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Sets the next epoch (for resuming a run at the same order).
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 500);
    /// l.set_epoch(7);
    /// assert_eq!(l.epoch(), 7);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }

    /// The batches of the next epoch.
    ///
    /// ```
    /// let l = ingot::data::DataLoader::new(ingot::data::Mnist::embedded(false)?, 400);
    /// let sizes: Vec<usize> = l.iter().map(|b| b.unwrap().0.shape()[0]).collect();
    /// assert_eq!(sizes, vec![400, 400, 200]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn iter(&self) -> Batches<'_, D> {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed);
        let n = self.dataset.len();
        let order: Vec<usize> = if self.shuffle {
            SampleRng::new(self.seed.wrapping_add(epoch), u64::MAX, 0).permutation(n)
        } else {
            (0..n).collect()
        };
        let plan: Vec<Vec<usize>> = if self.batch_size == 0 {
            Vec::new()
        } else {
            order
                .chunks(self.batch_size)
                .take(self.len())
                .map(<[usize]>::to_vec)
                .collect()
        };
        let job = Arc::new(Job {
            dataset: self.dataset.clone(),
            transform: self.transform.clone(),
            seed: self.seed,
            epoch,
            plan,
        });
        let workers = (self.num_workers > 0 && job.plan.len() > 1)
            .then(|| Workers::spawn(&job, self.num_workers, self.prefetch));
        Batches {
            loader: self,
            job,
            next: 0,
            workers,
            invalid: self.batch_size == 0,
        }
    }
}

/// What an epoch's batches are made from.
struct Job<D> {
    dataset: Arc<D>,
    transform: Option<Arc<dyn Transform>>,
    seed: u64,
    epoch: u64,
    plan: Vec<Vec<usize>>,
}

/// One batch in host memory.
struct HostBatch {
    features: Vec<f32>,
    shape: Vec<usize>,
    classes: Vec<i64>,
    values: Vec<f32>,
    value_width: usize,
}

impl<D: Dataset<Item = Sample>> Job<D> {
    /// Assembles batch `k` in one buffer.
    fn build(&self, k: usize) -> Result<HostBatch> {
        let indices = &self.plan[k];
        let mut b = HostBatch {
            features: Vec::new(),
            shape: Vec::new(),
            classes: Vec::new(),
            values: Vec::new(),
            value_width: 0,
        };
        for (pos, &i) in indices.iter().enumerate() {
            let mut s = self.dataset.get(i)?;
            if let Some(t) = &self.transform {
                s = t.apply(s, &mut SampleRng::new(self.seed, self.epoch, i as u64))?;
            }
            let size: usize = s.shape.iter().product();
            if s.features.len() != size {
                return Err(Error::Shape {
                    op: "DataLoader",
                    msg: format!(
                        "sample {i} has {} values for shape {:?}",
                        s.features.len(),
                        s.shape
                    ),
                });
            }
            if pos == 0 {
                b.features.reserve(size * indices.len());
                b.shape = s.shape.clone();
            } else if s.shape != b.shape {
                return Err(Error::Shape {
                    op: "DataLoader",
                    msg: format!(
                        "sample {i} has shape {:?}, the batch {:?}; resize samples to one shape (e.g. with Resize)",
                        s.shape, b.shape
                    ),
                });
            }
            b.features.extend_from_slice(&s.features);
            match s.target {
                Target::Class(c) if b.values.is_empty() => b.classes.push(c),
                Target::Values(v)
                    if b.classes.is_empty() && (pos == 0 || v.len() == b.value_width) =>
                {
                    b.value_width = v.len();
                    b.values.extend(v);
                }
                _ => {
                    return Err(Error::Shape {
                        op: "DataLoader",
                        msg: format!(
                            "sample {i}'s target differs in kind or size from the batch's"
                        ),
                    });
                }
            }
        }
        Ok(b)
    }
}

impl HostBatch {
    fn into_tensors(self, device: &Device) -> Result<(Tensor, Tensor)> {
        let n = self
            .classes
            .len()
            .max(self.values.len().checked_div(self.value_width).unwrap_or(0));
        let mut shape = vec![n];
        shape.extend(&self.shape);
        let x = Tensor::from_vec(self.features, &shape, device)?;
        let y = if self.values.is_empty() {
            Tensor::from_vec(self.classes, &[n], device)?
        } else {
            Tensor::from_vec(self.values, &[n, self.value_width], device)?
        };
        Ok((x, y))
    }
}

/// Worker threads of one epoch: worker `w` prepares batches `w, w + n, ...`.
struct Workers {
    receivers: Vec<Receiver<Result<HostBatch>>>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    fn spawn<D: Dataset<Item = Sample> + 'static>(
        job: &Arc<Job<D>>,
        n: usize,
        prefetch: usize,
    ) -> Workers {
        let n = n.min(job.plan.len());
        let mut receivers = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for w in 0..n {
            let (tx, rx): (SyncSender<Result<HostBatch>>, _) = sync_channel(prefetch);
            let job = job.clone();
            handles.push(std::thread::spawn(move || {
                for k in (w..job.plan.len()).step_by(n) {
                    // A send fails once the iterator is gone: stop early.
                    if tx.send(job.build(k)).is_err() {
                        break;
                    }
                }
            }));
            receivers.push(rx);
        }
        Workers { receivers, handles }
    }
}

/// One epoch of batches from [`DataLoader::iter`].
pub struct Batches<'a, D> {
    loader: &'a DataLoader<D>,
    job: Arc<Job<D>>,
    next: usize,
    workers: Option<Workers>,
    invalid: bool,
}

impl<D: Dataset<Item = Sample> + 'static> Iterator for Batches<'_, D> {
    type Item = Result<(Tensor, Tensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.invalid {
            self.invalid = false;
            return Some(Err(Error::InvalidArgument {
                op: "DataLoader",
                msg: "batch_size must be positive".into(),
            }));
        }
        let k = self.next;
        if k >= self.job.plan.len() {
            return None;
        }
        self.next += 1;
        let host = match &self.workers {
            Some(w) => w.receivers[k % w.receivers.len()]
                .recv()
                .unwrap_or_else(|_| {
                    Err(Error::InvalidArgument {
                        op: "DataLoader",
                        msg: format!("a worker stopped before delivering batch {k}"),
                    })
                }),
            None => self.job.build(k),
        };
        Some(host.and_then(|b| b.into_tensors(&self.loader.device)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.job.plan.len() - self.next.min(self.job.plan.len());
        (left, Some(left))
    }
}

impl<D> Drop for Batches<'_, D> {
    fn drop(&mut self) {
        if let Some(w) = self.workers.take() {
            // Closing the channels makes blocked workers stop; then wait.
            drop(w.receivers);
            for h in w.handles {
                let _ = h.join();
            }
        }
    }
}
