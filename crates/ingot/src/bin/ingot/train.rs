//! `ingot train`: fits a standard model on a data set and writes a run
//! directory (logs, plot, checkpoints, summary.json).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use ingot::Device;
use ingot::data::{DataLoader, Dataset, Subset, random_split};
use ingot::models::ModelKind;
use ingot::nn::{CrossEntropyLoss, Module, Parameter, write_atomically};
use ingot::optim::{Adam, AdamConfig, AdamW, Optimizer, Sgd, SgdConfig};
use ingot::train::{Checkpoint, ProgressMode, Task, Trainer, TrainerConfig};
use serde_json::json;

use crate::args::{DEVICE, Opt, Parsed, Spec};
use crate::datasets::{DataSetKind, Split};
use crate::failure::Failure;
use crate::run_info::{RunInfo, model_flag};

pub const SPEC: Spec = Spec {
    name: "train",
    about: "train a model and write a run directory",
    positional: "",
    arity: (0, 0),
    opts: &[
        Opt {
            name: "model",
            value: "mlp|cnn",
            help: "The model (default: mlp)",
        },
        Opt {
            name: "dataset",
            value: "NAME",
            help: "embedded | mnist | fashion-mnist | cifar10 (default: embedded, the MNIST subset built into ingot)",
        },
        Opt {
            name: "data-dir",
            value: "DIR",
            help: "Where the data set's files are (default: data/<dataset>)",
        },
        Opt {
            name: "epochs",
            value: "N",
            help: "Epochs to train, in all (default: 10 for mlp, 5 for cnn)",
        },
        Opt {
            name: "batch-size",
            value: "N",
            help: "Training batch size (default: 64)",
        },
        Opt {
            name: "lr",
            value: "RATE",
            help: "Learning rate (default: 0.001 for adam/adamw, 0.01 for sgd)",
        },
        Opt {
            name: "optimizer",
            value: "NAME",
            help: "sgd (momentum 0.9) | adam | adamw (default: adam)",
        },
        DEVICE,
        Opt {
            name: "seed",
            value: "N",
            help: "Seed of initialization, shuffling and the validation split (default: 0)",
        },
        Opt {
            name: "workers",
            value: "N",
            help: "Threads preparing batches (default: 1)",
        },
        Opt {
            name: "val-split",
            value: "F",
            help: "Fraction of the training split held out for validation (default: 0.1)",
        },
        Opt {
            name: "out",
            value: "DIR",
            help: "Run directory (default: runs/<dataset>-<model>-<n>, a new n)",
        },
        Opt {
            name: "resume",
            value: "CKPT",
            help: "Continue the run saved in a checkpoint directory to --epochs",
        },
        Opt {
            name: "progress",
            value: "MODE",
            help: "auto | bar | lines | quiet (default: auto: a bar on a terminal)",
        },
    ],
    after: "The run directory gets summary.json (test_accuracy, test_loss, epochs, train_seconds,\n\
            device, ...), metrics.jsonl, metrics.csv, plot.png, checkpoint-last/ and\n\
            checkpoint-best/ (best validation loss). The test split is evaluated once, at the end,\n\
            with the final weights.\n\n\
            Example: ingot train --dataset mnist --data-dir data/mnist --model cnn --epochs 2",
};

/// The training threads' companions: loader workers preparing batches.
const DEFAULT_WORKERS: usize = 1;
/// Batch size of validation and test passes.
const EVAL_BATCH: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
}

impl FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            _ => Err("unknown optimizer; known: sgd, adam, adamw".into()),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        })
    }
}

impl OptimizerKind {
    fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::Sgd => 0.01,
            OptimizerKind::Adam | OptimizerKind::AdamW => 1e-3,
        }
    }

    fn build(self, params: Vec<Parameter>, lr: f64) -> ingot::Result<Box<dyn Optimizer>> {
        Ok(match self {
            OptimizerKind::Sgd => Box::new(Sgd::new(
                params,
                SgdConfig {
                    lr,
                    momentum: 0.9,
                    ..Default::default()
                },
            )?),
            OptimizerKind::Adam => Box::new(Adam::new(
                params,
                AdamConfig {
                    lr,
                    ..Default::default()
                },
            )?),
            OptimizerKind::AdamW => Box::new(AdamW::new(
                params,
                AdamConfig {
                    lr,
                    ..Default::default()
                },
            )?),
        })
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::usage("train", msg)
}

/// The run's settings from the flags, or, when resuming, from the
/// checkpoint (flags may not contradict it).
fn settings(p: &Parsed, previous: Option<&RunInfo>) -> Result<RunInfo, Failure> {
    let model = model_flag(p, "train")?;
    let dataset = p.get::<DataSetKind>("dataset")?;
    let optimizer = p.get::<OptimizerKind>("optimizer")?;
    let lr = p.get::<f64>("lr")?;
    let batch_size = p.count("batch-size", 1)?;
    let seed = p.get::<u64>("seed")?;
    let val_split = p.get::<f64>("val-split")?;
    if let Some(prev) = previous {
        let clashes = [
            (
                "model",
                model.map(|m| m.to_string()),
                prev.model.to_string(),
            ),
            (
                "dataset",
                dataset.map(|d| d.to_string()),
                prev.dataset.to_string(),
            ),
            (
                "optimizer",
                optimizer.map(|o| o.to_string()),
                prev.optimizer.clone(),
            ),
            (
                "batch-size",
                batch_size.map(|b| b.to_string()),
                prev.batch_size.to_string(),
            ),
            ("seed", seed.map(|s| s.to_string()), prev.seed.to_string()),
            (
                "val-split",
                val_split.map(|v| v.to_string()),
                prev.val_split.to_string(),
            ),
            ("lr", lr.map(|v| v.to_string()), prev.lr.to_string()),
        ];
        for (flag, given, saved) in clashes {
            if let Some(given) = given.filter(|g| *g != saved) {
                return Err(usage(format!(
                    "--{flag} {given} contradicts the checkpoint being resumed ({flag} {saved}); \
                     a resumed run keeps its settings"
                )));
            }
        }
        let mut info = prev.clone();
        if let Some(dir) = p.value("data-dir") {
            info.data_dir = Some(absolute(Path::new(dir)));
        }
        return Ok(info);
    }
    let dataset = dataset.unwrap_or(DataSetKind::Embedded);
    let data_dir = match (dataset.needs_files(), p.value("data-dir")) {
        (false, Some(_)) => {
            return Err(usage(
                "--data-dir needs --dataset mnist, fashion-mnist or cifar10 (embedded data need no files)",
            ));
        }
        (false, None) => None,
        (true, dir) => Some(absolute(
            &dir.map(PathBuf::from)
                .unwrap_or_else(|| dataset.default_dir()),
        )),
    };
    let optimizer = optimizer.unwrap_or(OptimizerKind::Adam);
    let lr = lr.unwrap_or(optimizer.default_lr());
    if !(lr.is_finite() && lr > 0.0) {
        return Err(usage(format!("--lr must be a positive number, got {lr}")));
    }
    let batch_size = batch_size.unwrap_or(64);
    let val_split = val_split.unwrap_or(0.1);
    if !(0.0..1.0).contains(&val_split) {
        return Err(usage(format!(
            "--val-split must be in [0, 1), got {val_split}"
        )));
    }
    Ok(RunInfo {
        model: model.unwrap_or(ModelKind::Mlp),
        dataset,
        data_dir,
        input_shape: dataset.input_shape(),
        class_names: dataset.class_names(),
        optimizer: optimizer.to_string(),
        lr,
        batch_size,
        seed: seed.unwrap_or(0),
        val_split,
    })
}

/// `path` made absolute against the working directory, so checkpoints find
/// their data from anywhere.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn progress_mode(p: &Parsed) -> Result<ProgressMode, Failure> {
    Ok(match p.value("progress").unwrap_or("auto") {
        "auto" => ProgressMode::Auto,
        "bar" => ProgressMode::Bar,
        "lines" => ProgressMode::Lines,
        "quiet" => ProgressMode::Quiet,
        other => {
            return Err(usage(format!(
                "--progress {other:?}: expected auto, bar, lines or quiet"
            )));
        }
    })
}

/// `runs/<dataset>-<model>-<n>` for the first `n` not taken.
fn new_run_dir(info: &RunInfo) -> PathBuf {
    (1..)
        .map(|n| Path::new("runs").join(format!("{}-{}-{n}", info.dataset, info.model)))
        .find(|p| !p.exists())
        .expect("some run number is free")
}

/// Where a resumed run writes: the run directory that holds the checkpoint.
fn run_dir_of(checkpoint: &Path) -> Option<PathBuf> {
    let dir = Checkpoint::dir_of(checkpoint);
    let parent = dir.parent()?;
    parent
        .join("metrics.jsonl")
        .is_file()
        .then(|| parent.to_path_buf())
}

/// Splits the training set into train and validation parts.
fn split(train: Split, info: &RunInfo) -> Result<(Subset<Split>, Option<Subset<Split>>), Failure> {
    let n = train.len();
    let n_val = (n as f64 * info.val_split).round() as usize;
    let mut parts = random_split(Arc::new(train), &[n - n_val, n_val], info.seed)?;
    let val = parts.pop().filter(|v| !v.is_empty());
    let train = parts
        .pop()
        .expect("random_split returns one part per length");
    if train.is_empty() {
        return Err(Failure::run("the training split is empty"));
    }
    Ok((train, val))
}

pub fn run(p: &Parsed) -> Result<(), Failure> {
    let resume = p.value("resume").map(PathBuf::from);
    let previous = match &resume {
        Some(path) => {
            let ckpt = Checkpoint::load(path, &Device::cpu())?;
            Some(RunInfo::from_checkpoint(&ckpt, path)?)
        }
        None => None,
    };
    let info = settings(p, previous.as_ref())?;
    let device = p.device()?;
    let workers = p.count("workers", 0)?.unwrap_or(DEFAULT_WORKERS);
    let epochs = p.count("epochs", 1)?.unwrap_or(match info.model {
        ModelKind::Mlp => 10,
        ModelKind::Cnn => 5,
    });
    let progress = progress_mode(p)?;
    let out = match (p.value("out"), &resume) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(ckpt)) => run_dir_of(ckpt).unwrap_or_else(|| new_run_dir(&info)),
        (None, None) => new_run_dir(&info),
    };

    let data_dir = info.data_dir.clone().unwrap_or_default();
    let (train, val) = split(info.dataset.load(&data_dir, true)?, &info)?;
    let test = info.dataset.load(&data_dir, false)?;
    let (n_train, n_val, n_test) = (train.len(), val.as_ref().map_or(0, |v| v.len()), test.len());
    let train = DataLoader::new(train, info.batch_size)
        .shuffle(true)
        .seed(info.seed)
        .num_workers(workers)
        .device(&device);
    let val = val.map(|v| {
        DataLoader::new(v, EVAL_BATCH)
            .num_workers(workers)
            .device(&device)
    });
    let test = DataLoader::new(test, EVAL_BATCH)
        .num_workers(workers)
        .device(&device);

    ingot::manual_seed(info.seed);
    let model = info.build_model(&device)?;
    let mut optimizer = OptimizerKind::from_str(&info.optimizer)
        .map_err(Failure::run)?
        .build(model.parameters(), info.lr)?;
    let loss = CrossEntropyLoss::default();
    let parameters = model.num_parameters();
    let config = TrainerConfig {
        epochs,
        task: Task::Classification {
            classes: info.class_names.len(),
            top_k: 1,
        },
        out_dir: Some(out.clone()),
        progress,
        metadata: info.to_json(),
        ..Default::default()
    };
    let mut trainer = Trainer::new(&model, optimizer.as_mut(), &loss, config);
    if let Some(ckpt) = &resume {
        trainer.resume(ckpt)?;
        // What a killed save left beside the run's checkpoints goes.
        for name in ["checkpoint-last", "checkpoint-best"] {
            Checkpoint::tidy(out.join(name))?;
        }
    }
    let finished = resume.is_some() && trainer.epochs_done() >= epochs;
    if finished && out.join("summary.json").is_file() {
        // A finished run: nothing to train, and nothing in its directory
        // changes.
        println!(
            "nothing to train: the checkpoint has {} epochs already (--epochs {epochs}); \
             raise --epochs to train more. {} is unchanged.",
            trainer.epochs_done(),
            out.display()
        );
        return Ok(());
    }
    let quiet = progress == ProgressMode::Quiet;
    if !quiet && !finished {
        eprintln!(
            "training {} ({parameters} parameters) on {} ({n_train} train / {n_val} validation / \
             {n_test} test) on {device}: {epochs} epochs, {} lr {}, batch {} -> {}",
            info.model,
            info.dataset,
            info.optimizer,
            info.lr,
            info.batch_size,
            out.display()
        );
    }
    // A run that stopped after its last checkpoint but before its summary
    // only lacks the test evaluation.
    if !finished {
        trainer.fit(&train, val.as_ref())?;
    }
    let train_seconds = trainer.train_seconds();
    let tested = trainer.evaluate(&test)?;
    let metric = |k: &str| tested.metrics.get(k).copied().unwrap_or(f64::NAN);
    let last = trainer.history().last().map(|r| &r.metrics);
    let summary = json!({
        "test_accuracy": metric("accuracy"),
        "test_loss": metric("loss"),
        "test_macro_f1": metric("f1"),
        "epochs": trainer.epochs_done(),
        "train_seconds": train_seconds,
        "device": device.to_string(),
        "model": info.model.to_string(),
        "dataset": info.dataset.to_string(),
        "parameters": parameters,
        "train_samples": n_train,
        "val_samples": n_val,
        "test_samples": n_test,
        "final_train_loss": last.and_then(|m| m.get("train_loss")),
        "final_val_accuracy": last.and_then(|m| m.get("val_accuracy")),
        "samples_per_sec": last.and_then(|m| m.get("samples_per_sec")),
        "checkpoint": out.join("checkpoint-last"),
        "settings": info.to_json(),
        "ingot_version": env!("CARGO_PKG_VERSION"),
    });
    let text = serde_json::to_vec_pretty(&summary).map_err(|e| Failure::run(e.to_string()))?;
    write_atomically(&out.join("summary.json"), &text)?;
    let epochs_done = trainer.epochs_done();
    println!(
        "test accuracy {:.2}%  test loss {:.4}  ({epochs_done} epoch{}, {train_seconds:.1} s of training on {device})",
        100.0 * metric("accuracy"),
        metric("loss"),
        if epochs_done == 1 { "" } else { "s" },
    );
    println!("run directory: {}", out.display());
    Ok(())
}
