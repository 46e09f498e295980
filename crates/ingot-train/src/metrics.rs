//! Metrics accumulated over an epoch: loss, accuracy, top-k accuracy,
//! macro precision/recall/F1 and the confusion matrix for classification;
//! MAE, RMSE and R² for regression.
//!
//! Per batch, the device computes what the metrics need (predicted classes,
//! top-k hits); [`BatchStats::new`] builds those lazily so that they are
//! computed by the training step's own graph, and [`Metrics::update`] reads
//! them afterwards.

use std::collections::BTreeMap;

use ingot_core::{DType, Error, Result, Tensor};

/// What the model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// Logits `[B, classes]` against class indices `[B]`; top-`top_k`
    /// accuracy is reported too when `top_k > 1`.
    Classification { classes: usize, top_k: usize },
    /// Values `[B, k]` (or `[B]`) against targets of the same shape.
    Regression,
}

/// The device-side numbers of one batch, built lazily.
pub struct BatchStats {
    loss: Tensor,
    size: usize,
    /// Classification: predicted classes, targets, top-k hits.
    classes: Option<(Tensor, Tensor, Option<Tensor>)>,
    /// Regression: predictions and targets.
    values: Option<(Tensor, Tensor)>,
}

impl BatchStats {
    /// The lazy statistics of `output` against `target` with `loss`; each is
    /// marked for the next evaluation (see [`ingot_core::defer`]).
    ///
    /// ```
    /// use ingot::train::{BatchStats, Metrics, Task};
    /// use ingot::{Device, Tensor};
    /// let dev = Device::cpu();
    /// let logits = Tensor::from_vec(vec![2.0f32, 1.0, 0.0, 3.0], &[2, 2], &dev)?;
    /// let target = Tensor::from_vec(vec![0i64, 0], &[2], &dev)?;
    /// let loss = Tensor::full(&[], 0.5, ingot::DType::F32, &dev)?;
    /// let task = Task::Classification { classes: 2, top_k: 1 };
    /// let mut m = Metrics::new(task);
    /// m.update(&BatchStats::new(task, &logits, &target, &loss)?)?;
    /// assert_eq!(m.summary()["accuracy"], 0.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(task: Task, output: &Tensor, target: &Tensor, loss: &Tensor) -> Result<BatchStats> {
        let output = output.detach();
        let size = output.shape().first().copied().unwrap_or(1);
        let mut stats = BatchStats {
            loss: loss.detach(),
            size,
            classes: None,
            values: None,
        };
        match task {
            Task::Classification { top_k, .. }
                if output.dim() == 2 && target.dtype() == DType::I64 && target.dim() == 1 =>
            {
                let pred = output.argmax(1, false)?;
                let hits = if top_k > 1 {
                    // A target is in the top k when fewer than k logits beat it.
                    let own = output.gather(1, &target.unsqueeze(1)?)?;
                    let rank = output.gt(&own)?.sum(&[1], false)?;
                    Some(rank.lt(&rank.full_like(top_k as f64)?)?.sum_all()?)
                } else {
                    None
                };
                for t in std::iter::once(&pred).chain(&hits) {
                    ingot_core::defer(t);
                }
                stats.classes = Some((pred, target.clone(), hits));
            }
            Task::Classification { .. } => {}
            Task::Regression => {
                ingot_core::defer(&output);
                stats.values = Some((output, target.clone()));
            }
        }
        ingot_core::defer(&stats.loss);
        Ok(stats)
    }
}

/// Running metrics of an epoch (or an evaluation).
///
/// ```
/// use ingot::train::{Metrics, Task};
/// let m = Metrics::new(Task::Regression);
/// assert!(m.summary().is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    task: Task,
    loss_sum: f64,
    samples: usize,
    /// `confusion[t * classes + p]`: targets `t` predicted as `p`.
    confusion: Vec<u64>,
    top_k_hits: u64,
    abs_err: f64,
    sq_err: f64,
    target_sum: f64,
    target_sq_sum: f64,
    values: usize,
}

impl Metrics {
    /// Empty metrics for `task`.
    ///
    /// ```
    /// let m = ingot::train::Metrics::new(ingot::train::Task::Classification { classes: 10, top_k: 5 });
    /// assert_eq!(m.samples(), 0);
    /// ```
    pub fn new(task: Task) -> Metrics {
        let classes = match task {
            Task::Classification { classes, .. } => classes,
            Task::Regression => 0,
        };
        Metrics {
            task,
            loss_sum: 0.0,
            samples: 0,
            confusion: vec![0; classes * classes],
            top_k_hits: 0,
            abs_err: 0.0,
            sq_err: 0.0,
            target_sum: 0.0,
            target_sq_sum: 0.0,
            values: 0,
        }
    }

    /// Samples seen.
    ///
    /// ```
    /// assert_eq!(ingot::train::Metrics::new(ingot::train::Task::Regression).samples(), 0);
    /// ```
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Adds one batch (reads its statistics, which evaluates them if the
    /// step has not).
    ///
    /// ```
    /// use ingot::train::{BatchStats, Metrics, Task};
    /// use ingot::{Device, Tensor};
    /// let dev = Device::cpu();
    /// let y = Tensor::from_vec(vec![1.0f32, 3.0], &[2, 1], &dev)?;
    /// let p = Tensor::from_vec(vec![2.0f32, 3.0], &[2, 1], &dev)?;
    /// let loss = Tensor::full(&[], 0.5, ingot::DType::F32, &dev)?;
    /// let mut m = Metrics::new(Task::Regression);
    /// m.update(&BatchStats::new(Task::Regression, &p, &y, &loss)?)?;
    /// assert_eq!(m.summary()["mae"], 0.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn update(&mut self, stats: &BatchStats) -> Result<()> {
        let loss = stats.loss.item::<f64>()?;
        self.loss_sum += loss * stats.size as f64;
        self.samples += stats.size;
        if let (Some((pred, target, hits)), Task::Classification { classes, .. }) =
            (&stats.classes, self.task)
        {
            let (p, t) = (pred.to_vec::<i64>()?, target.to_vec::<i64>()?);
            for (&pi, &ti) in p.iter().zip(&t) {
                if ti < 0 || ti as usize >= classes || pi as usize >= classes {
                    return Err(Error::InvalidArgument {
                        op: "metrics",
                        msg: format!("class {ti} (predicted {pi}) is outside 0..{classes}"),
                    });
                }
                self.confusion[ti as usize * classes + pi as usize] += 1;
            }
            if let Some(h) = hits {
                self.top_k_hits += h.item::<i64>()? as u64;
            }
        }
        if let Some((pred, target)) = &stats.values {
            let (p, t) = (pred.to_vec::<f64>()?, target.to_vec::<f64>()?);
            if p.len() != t.len() {
                return Err(Error::Shape {
                    op: "metrics",
                    msg: format!("{} predictions for {} targets", p.len(), t.len()),
                });
            }
            for (&a, &b) in p.iter().zip(&t) {
                let e = a - b;
                self.abs_err += e.abs();
                self.sq_err += e * e;
                self.target_sum += b;
                self.target_sq_sum += b * b;
            }
            self.values += p.len();
        }
        Ok(())
    }

    /// The mean loss and the task's metrics by name: `loss`, `accuracy`,
    /// `top{k}_accuracy`, `precision`, `recall`, `f1` (macro averages) for
    /// classification; `loss`, `mae`, `rmse`, `r2` for regression. Empty
    /// before any update.
    ///
    /// ```
    /// let m = ingot::train::Metrics::new(ingot::train::Task::Regression);
    /// assert!(m.summary().get("loss").is_none());
    /// ```
    pub fn summary(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        if self.samples == 0 {
            return out;
        }
        out.insert("loss".into(), self.loss_sum / self.samples as f64);
        match self.task {
            Task::Classification { classes, top_k } => {
                let counted: u64 = self.confusion.iter().sum();
                if counted == 0 {
                    return out;
                }
                let correct: u64 = (0..classes).map(|c| self.confusion[c * classes + c]).sum();
                out.insert("accuracy".into(), correct as f64 / counted as f64);
                if top_k > 1 {
                    out.insert(
                        format!("top{top_k}_accuracy"),
                        self.top_k_hits as f64 / counted as f64,
                    );
                }
                let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
                for c in 0..classes {
                    let tp = self.confusion[c * classes + c] as f64;
                    let predicted: u64 =
                        (0..classes).map(|t| self.confusion[t * classes + c]).sum();
                    let actual: u64 = self.confusion[c * classes..(c + 1) * classes].iter().sum();
                    let prec = if predicted > 0 {
                        tp / predicted as f64
                    } else {
                        0.0
                    };
                    let rec = if actual > 0 { tp / actual as f64 } else { 0.0 };
                    p += prec;
                    r += rec;
                    f += if prec + rec > 0.0 {
                        2.0 * prec * rec / (prec + rec)
                    } else {
                        0.0
                    };
                }
                let n = classes.max(1) as f64;
                out.insert("precision".into(), p / n);
                out.insert("recall".into(), r / n);
                out.insert("f1".into(), f / n);
            }
            Task::Regression if self.values > 0 => {
                let n = self.values as f64;
                out.insert("mae".into(), self.abs_err / n);
                out.insert("rmse".into(), (self.sq_err / n).sqrt());
                let sst = self.target_sq_sum - self.target_sum * self.target_sum / n;
                out.insert(
                    "r2".into(),
                    if sst > 0.0 {
                        1.0 - self.sq_err / sst
                    } else {
                        f64::NAN
                    },
                );
            }
            Task::Regression => {}
        }
        out
    }

    /// Rows are true classes, columns predicted ones (classification only).
    ///
    /// ```
    /// let m = ingot::train::Metrics::new(ingot::train::Task::Classification { classes: 3, top_k: 1 });
    /// assert_eq!(m.confusion_matrix().unwrap(), vec![vec![0; 3]; 3]);
    /// ```
    pub fn confusion_matrix(&self) -> Option<Vec<Vec<u64>>> {
        match self.task {
            Task::Classification { classes, .. } => Some(
                self.confusion
                    .chunks(classes.max(1))
                    .map(<[u64]>::to_vec)
                    .collect(),
            ),
            Task::Regression => None,
        }
    }
}
