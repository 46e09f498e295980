//! [`Trainer`]: fits a model with an optimizer and a loss over data loaders,
//! with scheduling, gradient accumulation and clipping, early stopping,
//! best-model checkpointing, logs, plots and exact resumption.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ingot_core::{Error, Result, Tensor, no_grad};
use ingot_data::{DataLoader, Dataset, Sample};
use ingot_nn::optim::lr_scheduler::LrScheduler;
use ingot_nn::optim::{Optimizer, clip_grad_norm_tensor};
use ingot_nn::{Loss, Module};
use serde_json::{Value, json};

use crate::checkpoint::Checkpoint;
use crate::metrics::{BatchStats, Metrics, Task};
use crate::plot::plot_history;
use crate::progress::{Progress, ProgressMode};
use crate::run_log::{EpochRecord, RunLog};

/// Whether a monitored metric should go down or up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    Minimize,
    Maximize,
}

/// A metric to watch (`val_loss`, `val_accuracy`, `train_loss`, ...).
///
/// ```
/// let m = ingot::train::Monitor::new("val_accuracy", ingot::train::Goal::Maximize);
/// assert!(m.improves(0.9, Some(0.8), 0.0));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Monitor {
    pub metric: String,
    pub goal: Goal,
}

impl Monitor {
    /// Watches `metric` towards `goal`.
    ///
    /// ```
    /// let m = ingot::train::Monitor::new("val_loss", ingot::train::Goal::Minimize);
    /// assert_eq!(m.metric, "val_loss");
    /// ```
    pub fn new(metric: impl Into<String>, goal: Goal) -> Monitor {
        Monitor {
            metric: metric.into(),
            goal,
        }
    }

    /// Whether `value` beats `best` by more than `min_delta`.
    ///
    /// ```
    /// let m = ingot::train::Monitor::new("val_loss", ingot::train::Goal::Minimize);
    /// assert!(!m.improves(0.5, Some(0.5), 0.0));
    /// assert!(m.improves(0.5, None, 0.0));
    /// ```
    pub fn improves(&self, value: f64, best: Option<f64>, min_delta: f64) -> bool {
        match best {
            None => value.is_finite(),
            Some(b) => match self.goal {
                Goal::Minimize => value < b - min_delta,
                Goal::Maximize => value > b + min_delta,
            },
        }
    }
}

/// Stop when the monitored metric has not improved for `patience` epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f64,
}

/// When the scheduler steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchedulerStep {
    /// After every optimizer step (OneCycleLR, warm-ups).
    PerStep,
    /// After every epoch (StepLR, ReduceLROnPlateau, which gets the
    /// monitored metric).
    #[default]
    PerEpoch,
}

/// Options of a [`Trainer`]; `Default` trains 10 epochs of classification
/// into 10 classes, without a run directory.
///
/// ```
/// let c = ingot::train::TrainerConfig { epochs: 3, ..Default::default() };
/// assert_eq!(c.accumulation_steps, 1);
/// ```
#[derive(Clone, Debug)]
pub struct TrainerConfig {
    pub epochs: usize,
    pub task: Task,
    /// Micro-batches whose gradients add up before each optimizer step.
    pub accumulation_steps: usize,
    /// Clip the gradients' joint L2 norm to this before each step.
    pub clip_grad_norm: Option<f64>,
    /// The metric for early stopping, the best checkpoint and plateau
    /// schedulers (default: `val_loss`, or `train_loss` without validation).
    pub monitor: Option<Monitor>,
    pub early_stopping: Option<EarlyStopping>,
    pub scheduler_step: SchedulerStep,
    /// Where logs, plots and checkpoints go (none: nothing is written).
    pub out_dir: Option<PathBuf>,
    pub progress: ProgressMode,
    /// Saved in every checkpoint's state (`"metadata"`), for the caller.
    pub metadata: Value,
    /// What a NaN or infinite training loss does (default: stop with an
    /// error naming the epoch and step).
    pub on_nonfinite_loss: NonFiniteLoss,
}

/// What [`Trainer::fit`] does when a batch's loss is NaN or infinite.
///
/// ```
/// use ingot::train::{NonFiniteLoss, TrainerConfig};
/// let config = TrainerConfig { on_nonfinite_loss: NonFiniteLoss::SkipStep, ..Default::default() };
/// assert_eq!(TrainerConfig::default().on_nonfinite_loss, NonFiniteLoss::Stop);
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NonFiniteLoss {
    /// Stop training with an error naming the epoch and step. Nothing more
    /// is written, so the last checkpoint saved is the last good one.
    #[default]
    Stop,
    /// Undo the optimizer step whose batches gave the loss (parameters and
    /// optimizer state go back to what they were), leave the loss out of
    /// the epoch's metrics, and go on.
    SkipStep,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            epochs: 10,
            task: Task::Classification {
                classes: 10,
                top_k: 1,
            },
            accumulation_steps: 1,
            clip_grad_norm: None,
            monitor: None,
            early_stopping: None,
            scheduler_step: SchedulerStep::PerEpoch,
            out_dir: None,
            progress: ProgressMode::Auto,
            metadata: Value::Null,
            on_nonfinite_loss: NonFiniteLoss::Stop,
        }
    }
}

/// What one optimizer step did, for callbacks.
#[derive(Clone, Debug)]
pub struct StepInfo {
    pub epoch: usize,
    /// Optimizer steps since the run began.
    pub global_step: u64,
    pub loss: f64,
    pub lr: f64,
}

/// Whether training goes on after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Stop,
}

/// Hooks into training for the user's own code.
///
/// ```
/// use ingot::train::{Callback, Control, EpochRecord, StepInfo};
/// use ingot::Result;
///
/// /// Stops once the training loss falls below a threshold.
/// struct StopBelow(f64);
///
/// impl Callback for StopBelow {
///     fn on_epoch_end(&mut self, record: &EpochRecord) -> Result<Control> {
///         let loss = record.metrics["train_loss"];
///         Ok(if loss < self.0 { Control::Stop } else { Control::Continue })
///     }
/// }
/// ```
pub trait Callback {
    /// Before the first epoch (of this call to `fit`).
    fn on_train_begin(&mut self, _config: &TrainerConfig) -> Result<()> {
        Ok(())
    }
    /// Before each epoch (1-based).
    fn on_epoch_begin(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// After each optimizer step.
    fn on_step_end(&mut self, _step: &StepInfo) -> Result<()> {
        Ok(())
    }
    /// After each epoch, with its metrics; `Control::Stop` ends training.
    fn on_epoch_end(&mut self, _record: &EpochRecord) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After the last epoch.
    fn on_train_end(&mut self, _history: &[EpochRecord]) -> Result<()> {
        Ok(())
    }
}

/// The result of [`Trainer::evaluate`]: mean loss, metrics and (for
/// classification) the confusion matrix.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub metrics: BTreeMap<String, f64>,
    pub confusion_matrix: Option<Vec<Vec<u64>>>,
}

/// Loss and metrics of `model` (in eval mode, without gradients) over
/// `loader`, without a trainer or an optimizer; the model is left in eval
/// mode.
///
/// ```
/// use ingot::data::{DataLoader, Mnist};
/// use ingot::nn::{self, CrossEntropyLoss};
/// use ingot::train::{Task, evaluate};
/// let dev = ingot::Device::cpu();
/// let model = nn::Sequential::new().add(nn::Flatten::new()).add(nn::Linear::new(784, 10, &dev)?);
/// let test = DataLoader::new(Mnist::embedded(false)?, 250);
/// let task = Task::Classification { classes: 10, top_k: 1 };
/// let e = evaluate(&model, &CrossEntropyLoss::default(), task, &test)?;
/// assert!(e.metrics["accuracy"] < 0.5); // an untrained model
/// assert_eq!(e.confusion_matrix.unwrap().len(), 10);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn evaluate<V: Dataset<Item = Sample> + 'static>(
    model: &dyn Module,
    loss: &dyn Loss,
    task: Task,
    loader: &DataLoader<V>,
) -> Result<Evaluation> {
    model.eval();
    let mut metrics = Metrics::new(task);
    no_grad(|| {
        for batch in loader.iter() {
            let (x, y) = batch?;
            let output = model.forward(&x)?;
            let batch_loss = loss.forward(&output, &y)?;
            metrics.update(&BatchStats::new(task, &output, &y, &batch_loss)?)?;
        }
        Ok::<(), Error>(())
    })?;
    Ok(Evaluation {
        metrics: metrics.summary(),
        confusion_matrix: metrics.confusion_matrix(),
    })
}

/// Counters that a checkpoint restores.
#[derive(Clone, Debug, Default)]
struct Progressed {
    /// Epochs completed.
    epochs: usize,
    steps: u64,
    best: Option<f64>,
    bad_epochs: usize,
    history: Vec<EpochRecord>,
    /// Wall time of the completed epochs (training, validation, logs and
    /// checkpoints), over every session of the run.
    seconds: f64,
}

/// Fits a model.
///
/// ```
/// use ingot::data::{DataLoader, Mnist};
/// use ingot::nn::{self, CrossEntropyLoss, Module};
/// use ingot::optim::{Adam, AdamConfig};
/// use ingot::train::{ProgressMode, Trainer, TrainerConfig};
/// let dev = ingot::Device::cpu();
/// let model = nn::Sequential::new().add(nn::Flatten::new()).add(nn::Linear::new(784, 10, &dev)?);
/// let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 1e-2, ..Default::default() })?;
/// let loss = CrossEntropyLoss::default();
/// let test = DataLoader::new(Mnist::embedded(false)?, 100);
/// let config = TrainerConfig { epochs: 2, progress: ProgressMode::Quiet, ..Default::default() };
/// let mut trainer = Trainer::new(&model, &mut opt, &loss, config);
/// let history = trainer.fit(&test, None::<&DataLoader<Mnist>>)?;
/// assert_eq!(history.len(), 2);
/// assert!(history[1].metrics["train_loss"] < history[0].metrics["train_loss"]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Trainer<'a> {
    model: &'a dyn Module,
    optimizer: &'a mut dyn Optimizer,
    loss: &'a dyn Loss,
    scheduler: Option<&'a mut dyn LrScheduler>,
    callbacks: Vec<Box<dyn Callback + 'a>>,
    config: TrainerConfig,
    done: Progressed,
}

impl<'a> Trainer<'a> {
    /// A trainer for `model` with `optimizer` and `loss`.
    ///
    /// ```no_run
    /// # use ingot::{nn::{self, Module}, optim::{Sgd, SgdConfig}, train::{Trainer, TrainerConfig}};
    /// # let model = nn::Linear::new(2, 2, &ingot::Device::cpu())?;
    /// # let mut opt = Sgd::new(model.parameters(), SgdConfig::default())?;
    /// let loss = nn::CrossEntropyLoss::default();
    /// let trainer = Trainer::new(&model, &mut opt, &loss, TrainerConfig::default());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(
        model: &'a dyn Module,
        optimizer: &'a mut dyn Optimizer,
        loss: &'a dyn Loss,
        config: TrainerConfig,
    ) -> Trainer<'a> {
        Trainer {
            model,
            optimizer,
            loss,
            scheduler: None,
            callbacks: Vec::new(),
            config,
            done: Progressed::default(),
        }
    }

    /// Steps `scheduler` as `config.scheduler_step` says.
    ///
    /// ```no_run
    /// # use ingot::{nn::{self, Module}, optim::{Sgd, SgdConfig, lr_scheduler::StepLR}, train::{Trainer, TrainerConfig}};
    /// # let model = nn::Linear::new(2, 2, &ingot::Device::cpu())?;
    /// # let mut opt = Sgd::new(model.parameters(), SgdConfig::default())?;
    /// # let loss = nn::CrossEntropyLoss::default();
    /// let mut sched = StepLR::new(&mut opt, 5, 0.5)?;
    /// let trainer = Trainer::new(&model, &mut opt, &loss, TrainerConfig::default()).with_scheduler(&mut sched);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_scheduler(mut self, scheduler: &'a mut dyn LrScheduler) -> Self {
        self.scheduler = Some(scheduler);
        self
    }

    /// Adds a callback.
    ///
    /// ```no_run
    /// # use ingot::{nn::{self, Module}, optim::{Sgd, SgdConfig}, train::{Callback, Trainer, TrainerConfig}};
    /// # let model = nn::Linear::new(2, 2, &ingot::Device::cpu())?;
    /// # let mut opt = Sgd::new(model.parameters(), SgdConfig::default())?;
    /// # let loss = nn::CrossEntropyLoss::default();
    /// struct Nothing;
    /// impl Callback for Nothing {}
    /// let trainer = Trainer::new(&model, &mut opt, &loss, TrainerConfig::default()).with_callback(Nothing);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_callback(mut self, callback: impl Callback + 'a) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Epochs completed so far (restored by [`Trainer::resume`]).
    ///
    /// ```no_run
    /// # use ingot::{nn::{self, Module}, optim::{Sgd, SgdConfig}, train::{Trainer, TrainerConfig}};
    /// # let model = nn::Linear::new(2, 2, &ingot::Device::cpu())?;
    /// # let mut opt = Sgd::new(model.parameters(), SgdConfig::default())?;
    /// # let loss = nn::CrossEntropyLoss::default();
    /// let trainer = Trainer::new(&model, &mut opt, &loss, TrainerConfig::default());
    /// assert_eq!(trainer.epochs_done(), 0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn epochs_done(&self) -> usize {
        self.done.epochs
    }

    /// Seconds spent in [`Trainer::fit`]'s epochs so far, over every
    /// session of the run: a resumed run counts the time before the resume
    /// too.
    ///
    /// ```no_run
    /// # use ingot::{nn::{self, Module}, optim::{Sgd, SgdConfig}, train::{Trainer, TrainerConfig}};
    /// # let model = nn::Linear::new(2, 2, &ingot::Device::cpu())?;
    /// # let mut opt = Sgd::new(model.parameters(), SgdConfig::default())?;
    /// # let loss = nn::CrossEntropyLoss::default();
    /// let trainer = Trainer::new(&model, &mut opt, &loss, TrainerConfig::default());
    /// assert_eq!(trainer.train_seconds(), 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn train_seconds(&self) -> f64 {
        self.done.seconds
    }

    /// The per-epoch records so far.
    ///
    /// ```no_run
    /// # use ingot::{nn::{self, Module}, optim::{Sgd, SgdConfig}, train::{Trainer, TrainerConfig}};
    /// # let model = nn::Linear::new(2, 2, &ingot::Device::cpu())?;
    /// # let mut opt = Sgd::new(model.parameters(), SgdConfig::default())?;
    /// # let loss = nn::CrossEntropyLoss::default();
    /// let trainer = Trainer::new(&model, &mut opt, &loss, TrainerConfig::default());
    /// assert!(trainer.history().is_empty());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn history(&self) -> &[EpochRecord] {
        &self.done.history
    }

    fn monitor(&self, has_val: bool) -> Monitor {
        self.config.monitor.clone().unwrap_or_else(|| {
            Monitor::new(
                if has_val { "val_loss" } else { "train_loss" },
                Goal::Minimize,
            )
        })
    }

    /// Trains from the current epoch to `config.epochs` (or an early stop).
    /// Each epoch `e` reads `train` in epoch `e`'s order; with `val`, it is
    /// evaluated after each epoch.
    pub fn fit<D, V>(
        &mut self,
        train: &DataLoader<D>,
        val: Option<&DataLoader<V>>,
    ) -> Result<Vec<EpochRecord>>
    where
        D: Dataset<Item = Sample> + 'static,
        V: Dataset<Item = Sample> + 'static,
    {
        if self.config.accumulation_steps == 0 {
            return Err(Error::InvalidArgument {
                op: "Trainer",
                msg: "accumulation_steps must be at least 1".into(),
            });
        }
        let monitor = self.monitor(val.is_some());
        let mut log = match &self.config.out_dir {
            Some(dir) => Some(RunLog::open(dir, &self.done.history)?),
            None => None,
        };
        let mut progress = Progress::new(self.config.progress);
        for cb in &mut self.callbacks {
            cb.on_train_begin(&self.config)?;
        }
        let epochs = self.config.epochs;
        while self.done.epochs < epochs {
            let epoch = self.done.epochs + 1;
            for cb in &mut self.callbacks {
                cb.on_epoch_begin(epoch)?;
            }
            let started = Instant::now();
            let (train_metrics, steps) = self.train_epoch(train, epoch, &mut progress)?;
            let seconds = started.elapsed().as_secs_f64();
            let mut metrics: BTreeMap<String, f64> = train_metrics
                .summary()
                .into_iter()
                .map(|(k, v)| (format!("train_{k}"), v))
                .collect();
            metrics.insert("lr".into(), self.optimizer.lr());
            metrics.insert("epoch_seconds".into(), seconds);
            metrics.insert(
                "samples_per_sec".into(),
                train_metrics.samples() as f64 / seconds.max(1e-9),
            );
            metrics.insert("step_time_ms".into(), 1e3 * seconds / steps.max(1) as f64);
            if let Some(v) = val {
                for (k, value) in self.evaluate(v)?.metrics {
                    metrics.insert(format!("val_{k}"), value);
                }
            }
            let monitored = metrics.get(&monitor.metric).copied();
            if let (Some(s), SchedulerStep::PerEpoch) =
                (self.scheduler.as_deref_mut(), self.config.scheduler_step)
            {
                match monitored {
                    Some(m) => s.step_with_metric(self.optimizer, m)?,
                    None => s.step(self.optimizer)?,
                }
            }
            let record = EpochRecord { epoch, metrics };
            progress.end_epoch(&summary_line(&record, epochs));
            self.done.history.push(record.clone());
            self.done.epochs = epoch;
            self.done.seconds += started.elapsed().as_secs_f64();
            let improved = monitored.is_some_and(|m| {
                monitor.improves(
                    m,
                    self.done.best,
                    self.config
                        .early_stopping
                        .as_ref()
                        .map_or(0.0, |e| e.min_delta),
                )
            });
            if improved {
                self.done.best = monitored;
                self.done.bad_epochs = 0;
            } else {
                self.done.bad_epochs += 1;
            }
            if let Some(dir) = self.config.out_dir.clone() {
                if let Some(l) = log.as_mut() {
                    l.append(&record)?;
                }
                plot_history(&self.done.history, &dir.join("plot.png"))?;
                if improved {
                    self.save_checkpoint(&dir.join("checkpoint-best"))?;
                }
                self.save_checkpoint(&dir.join("checkpoint-last"))?;
            }
            let mut control = Control::Continue;
            for cb in &mut self.callbacks {
                if cb.on_epoch_end(&record)? == Control::Stop {
                    control = Control::Stop;
                }
            }
            let patience_over = self
                .config
                .early_stopping
                .as_ref()
                .is_some_and(|e| self.done.bad_epochs > e.patience);
            if control == Control::Stop || patience_over {
                break;
            }
        }
        for cb in &mut self.callbacks {
            cb.on_train_end(&self.done.history)?;
        }
        Ok(self.done.history.clone())
    }

    /// One epoch of optimizer steps; returns the running metrics and the
    /// number of steps.
    fn train_epoch<D: Dataset<Item = Sample> + 'static>(
        &mut self,
        train: &DataLoader<D>,
        epoch: usize,
        progress: &mut Progress,
    ) -> Result<(Metrics, u64)> {
        self.model.train();
        train.set_epoch((epoch - 1) as u64);
        let total = train.len();
        let accumulate = self.config.accumulation_steps;
        let mut metrics = Metrics::new(self.config.task);
        let mut steps = 0;
        let skip_bad = self.config.on_nonfinite_loss == NonFiniteLoss::SkipStep;
        // Whether a batch since the last step had a non-finite loss (its
        // gradients are in the ones the next step applies).
        let mut poisoned = false;
        progress.start_epoch();
        self.optimizer.zero_grad();
        for (i, batch) in train.iter().enumerate() {
            let (x, y) = batch?;
            let output = self.model.forward(&x)?;
            let loss = self.loss.forward(&output, &y)?;
            let scaled = if accumulate > 1 {
                loss.div_scalar(accumulate as f64)?
            } else {
                loss.clone()
            };
            scaled.backward()?;
            let stats = BatchStats::new(self.config.task, &output, &y, &loss)?;
            let boundary = (i + 1) % accumulate == 0 || i + 1 == total;
            // What the step overwrites, to put back if it turns out bad.
            let saved = if boundary && skip_bad {
                let params = self.optimizer.parameters();
                let values: Vec<Tensor> = params.iter().map(|p| p.tensor()).collect();
                Some((params, values, self.optimizer.state_dict()?))
            } else {
                None
            };
            if boundary {
                if let Some(max) = self.config.clip_grad_norm {
                    clip_grad_norm_tensor(&self.optimizer.parameters(), max, 2.0)?;
                }
                self.optimizer.step()?;
                self.optimizer.zero_grad();
            }
            // Read after the step, whose graph computed it.
            let value = loss.item::<f64>()?;
            if !value.is_finite() && !skip_bad {
                return Err(Error::InvalidArgument {
                    op: "Trainer",
                    msg: format!(
                        "the training loss is {value} at epoch {epoch}, batch {} of {total} \
                         (after {} optimizer steps): training stopped, and the last checkpoint \
                         saved is the last good one (TrainerConfig::on_nonfinite_loss can skip \
                         such steps instead)",
                        i + 1,
                        self.done.steps
                    ),
                });
            }
            if boundary {
                match saved {
                    Some((params, values, state)) if poisoned || !value.is_finite() => {
                        for (p, v) in params.iter().zip(values) {
                            p.set(v);
                        }
                        self.optimizer.load_state_dict(&state)?;
                    }
                    _ => {
                        self.done.steps += 1;
                        steps += 1;
                        if let (Some(s), SchedulerStep::PerStep) =
                            (self.scheduler.as_deref_mut(), self.config.scheduler_step)
                        {
                            s.step(self.optimizer)?;
                        }
                    }
                }
                poisoned = false;
            } else {
                poisoned |= !value.is_finite();
            }
            if value.is_finite() {
                metrics.update(&stats)?;
            }
            let info = StepInfo {
                epoch,
                global_step: self.done.steps,
                loss: metrics.summary().get("loss").copied().unwrap_or(f64::NAN),
                lr: self.optimizer.lr(),
            };
            for cb in &mut self.callbacks {
                cb.on_step_end(&info)?;
            }
            progress.step(epoch, self.config.epochs, i + 1, total, &live(&metrics));
        }
        Ok((metrics, steps))
    }

    /// Loss and metrics of the model (in eval mode, without gradients) over
    /// a loader; the model is left in eval mode. See [`evaluate`].
    pub fn evaluate<V: Dataset<Item = Sample> + 'static>(
        &self,
        loader: &DataLoader<V>,
    ) -> Result<Evaluation> {
        evaluate(self.model, self.loss, self.config.task, loader)
    }

    /// The model's outputs (eval mode, no gradients) for every batch of
    /// `loader`, concatenated along the batch dimension.
    pub fn predict<V: Dataset<Item = Sample> + 'static>(
        &self,
        loader: &DataLoader<V>,
    ) -> Result<Tensor> {
        self.model.eval();
        let outputs = no_grad(|| {
            loader
                .iter()
                .map(|b| self.model.forward(&b?.0))
                .collect::<Result<Vec<_>>>()
        })?;
        if outputs.is_empty() {
            return Err(Error::InvalidArgument {
                op: "predict",
                msg: "the loader has no batches".into(),
            });
        }
        Tensor::cat(&outputs.iter().collect::<Vec<_>>(), 0)
    }

    /// The run so far: weights, optimizer, scheduler, RNG, counters, history.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let (seed, offset) = ingot_core::rng::get_state();
        let state = json!({
            "epochs_done": self.done.epochs,
            "steps": self.done.steps,
            "best": self.done.best,
            "bad_epochs": self.done.bad_epochs,
            "rng": {"seed": seed.to_string(), "offset": offset.to_string()},
            "scheduler": self.scheduler.as_ref().map(|s| s.state()),
            "history": self.done.history.iter().map(EpochRecord::to_json).collect::<Vec<_>>(),
            "train_seconds": self.done.seconds,
            "metadata": self.config.metadata,
        });
        Ok(Checkpoint {
            model: self.model.state_dict(),
            optimizer: Some(self.optimizer.state_dict()?),
            state,
        })
    }

    /// Writes [`Trainer::checkpoint`] to `dir`.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        self.checkpoint()?.save(dir)
    }

    /// Restores a run from a checkpoint written by this trainer's
    /// configuration, so [`Trainer::fit`] continues it exactly: the same
    /// batches, random draws and updates as an uninterrupted run.
    pub fn resume(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let device = self
            .model
            .parameters()
            .first()
            .map(|p| p.device())
            .unwrap_or_else(ingot_core::Device::cpu);
        let ckpt = Checkpoint::load(path, &device)?;
        let (done, rng) = progress_of(&ckpt.state).map_err(|msg| Error::File {
            path: Checkpoint::dir_of(path).join("state.json"),
            msg: format!("checkpoint state: {msg}"),
        })?;
        let s = &ckpt.state;
        self.model.load_state_dict(&ckpt.model, true)?;
        self.optimizer
            .load_state_dict(ckpt.optimizer.as_ref().ok_or_else(|| Error::File {
                path: Checkpoint::dir_of(path),
                msg: "the checkpoint has no optimizer state to resume from".into(),
            })?)?;
        if let Some(sched) = self.scheduler.as_deref_mut() {
            sched.load_state(&s["scheduler"])?;
        }
        ingot_core::rng::set_state(rng);
        self.done = done;
        Ok(())
    }
}

/// The progress and RNG state recorded in a checkpoint's state, every field
/// checked for its type, its range and its consistency with the others; an
/// error names the field and what is wrong with it.
fn progress_of(s: &Value) -> std::result::Result<(Progressed, (u64, u64)), String> {
    let count = |key: &str| -> std::result::Result<u64, String> {
        s[key]
            .as_u64()
            .ok_or_else(|| format!("{key} is {}; expected a whole number >= 0", s[key]))
    };
    let big_number = |key: &str| -> std::result::Result<u64, String> {
        s["rng"][key]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                format!(
                    "rng.{key} is {}; expected a 64-bit number as a string",
                    s["rng"][key]
                )
            })
    };
    let rng = (big_number("seed")?, big_number("offset")?);
    let history = s["history"]
        .as_array()
        .ok_or_else(|| format!("history is {}; expected a list of epochs", s["history"]))?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            EpochRecord::from_json(r)
                .filter(|r| r.epoch == i + 1)
                .ok_or_else(|| format!("history[{i}] is not the record of epoch {}", i + 1))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let epochs = count("epochs_done")?;
    if epochs != history.len() as u64 {
        return Err(format!(
            "epochs_done is {epochs}, but history holds {} epochs",
            history.len()
        ));
    }
    let steps = count("steps")?;
    let bad_epochs = match &s["bad_epochs"] {
        Value::Null => 0,
        _ => count("bad_epochs")?,
    };
    if bad_epochs > epochs {
        return Err(format!(
            "bad_epochs is {bad_epochs}, more than the {epochs} epochs done"
        ));
    }
    let best = match &s["best"] {
        Value::Null => None,
        v => Some(
            v.as_f64()
                .filter(|b| b.is_finite())
                .ok_or_else(|| format!("best is {v}; expected a finite number or null"))?,
        ),
    };
    let seconds = match &s["train_seconds"] {
        Value::Null => 0.0,
        v => v
            .as_f64()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or_else(|| format!("train_seconds is {v}; expected a number >= 0"))?,
    };
    let progressed = Progressed {
        epochs: epochs as usize,
        steps,
        best,
        bad_epochs: bad_epochs as usize,
        history,
        seconds,
    };
    Ok((progressed, rng))
}

/// `loss 0.1234 acc 97.1%` for the progress bar.
fn live(m: &Metrics) -> String {
    let s = m.summary();
    let mut out = format!("loss {:.4}", s.get("loss").copied().unwrap_or(f64::NAN));
    if let Some(a) = s.get("accuracy") {
        out += &format!(" acc {:.1}%", 100.0 * a);
    }
    out
}

/// The line printed after each epoch.
fn summary_line(r: &EpochRecord, epochs: usize) -> String {
    let m = &r.metrics;
    let get = |k: &str| m.get(k).copied();
    let mut line = format!("epoch {}/{epochs}", r.epoch);
    if let Some(v) = get("train_loss") {
        line += &format!("  loss {v:.4}");
    }
    if let Some(v) = get("train_accuracy") {
        line += &format!("  acc {:.2}%", 100.0 * v);
    }
    if let Some(v) = get("val_loss") {
        line += &format!("  val_loss {v:.4}");
    }
    if let Some(v) = get("val_accuracy") {
        line += &format!("  val_acc {:.2}%", 100.0 * v);
    }
    if let Some(v) = get("val_rmse") {
        line += &format!("  val_rmse {v:.4}");
    }
    if let (Some(s), Some(sec)) = (get("samples_per_sec"), get("epoch_seconds")) {
        line += &format!("  {s:.0} samples/s  {sec:.1}s");
    }
    line
}
