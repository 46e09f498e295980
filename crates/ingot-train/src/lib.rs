//! # ingot-train
//!
//! The training loop of ingot (`ingot::train`): a [`Trainer`] that fits a
//! model over data loaders with LR scheduling, gradient accumulation and
//! clipping, early stopping, best-model checkpoints and exact resumption;
//! classification and regression [`Metrics`]; [`Callback`]s; progress bars;
//! and, in a run directory, `metrics.jsonl`, `metrics.csv`, `plot.png` and
//! checkpoints (`checkpoint-best/`, `checkpoint-last/`).
//!
//! ```
//! use ingot::data::{DataLoader, Mnist};
//! use ingot::nn::{self, CrossEntropyLoss, Module};
//! use ingot::optim::{Adam, AdamConfig};
//! use ingot::train::{ProgressMode, Trainer, TrainerConfig};
//! let dev = ingot::Device::cpu();
//! let model = nn::Sequential::new().add(nn::Flatten::new()).add(nn::Linear::new(784, 10, &dev)?);
//! let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 1e-2, ..Default::default() })?;
//! let loss = CrossEntropyLoss::default();
//! let test = DataLoader::new(Mnist::embedded(false)?, 50);
//! let config = TrainerConfig { epochs: 2, progress: ProgressMode::Quiet, ..Default::default() };
//! let mut trainer = Trainer::new(&model, &mut opt, &loss, config);
//! trainer.fit(&test, Some(&test))?;
//! let report = trainer.evaluate(&test)?;
//! assert!(report.metrics["accuracy"] > 0.5);
//! # Ok::<(), ingot::Error>(())
//! ```

mod checkpoint;
mod metrics;
mod plot;
mod progress;
mod run_log;
mod trainer;

pub use checkpoint::Checkpoint;
pub use metrics::{BatchStats, Metrics, Task};
pub use plot::plot_history;
pub use progress::ProgressMode;
pub use run_log::EpochRecord;
pub use trainer::{
    Callback, Control, EarlyStopping, Evaluation, Goal, Monitor, NonFiniteLoss, SchedulerStep,
    StepInfo, Trainer, TrainerConfig, evaluate,
};
