//! The trainer: exact resumption, run-directory outputs, damaged
//! checkpoints, metrics, early stopping, gradient accumulation, callbacks.
//!
//! The random generator is process-wide (as PyTorch's default generator),
//! and exact comparisons depend on its draws, so the tests take a lock and
//! run one at a time.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ingot::data::{DataLoader, Mnist, Subset, TensorDataset};
use ingot::nn::{self, CrossEntropyLoss, MSELoss, Module};
use ingot::optim::lr_scheduler::StepLR;
use ingot::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use ingot::train::{
    BatchStats, Callback, Checkpoint, Control, EarlyStopping, EpochRecord, Goal, Metrics, Monitor,
    NonFiniteLoss, ProgressMode, StepInfo, Task, Trainer, TrainerConfig,
};
use ingot::{DType, Device, Error, Result, Tensor};
use serde_json::json;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ingot-train-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small_mnist() -> Subset<Mnist> {
    Subset::new(
        std::sync::Arc::new(Mnist::embedded(true).unwrap()),
        (0..600).collect(),
    )
    .unwrap()
}

/// A model with dropout, so resuming must also restore the RNG.
fn model(dev: &Device) -> nn::Sequential {
    nn::Sequential::new()
        .add(nn::Flatten::new())
        .add(nn::Linear::new(784, 32, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::Dropout::new(0.2))
        .add(nn::Linear::new(32, 10, dev).unwrap())
}

fn config(epochs: usize, out: Option<PathBuf>) -> TrainerConfig {
    TrainerConfig {
        epochs,
        out_dir: out,
        progress: ProgressMode::Quiet,
        ..Default::default()
    }
}

#[test]
fn resuming_from_a_checkpoint_equals_an_uninterrupted_run() {
    let _guard = serial();
    let dev = Device::cpu();
    let loader = || DataLoader::new(small_mnist(), 64).shuffle(true).seed(4);
    let val = DataLoader::new(Mnist::embedded(false).unwrap(), 500);
    let loss = CrossEntropyLoss::default();
    let run = |epochs_first: usize, dir: &Scratch| -> Vec<f32> {
        ingot::manual_seed(99);
        let m = model(&dev);
        let init = m.state_dict();
        let mut opt = Adam::new(
            m.parameters(),
            AdamConfig {
                lr: 3e-3,
                ..Default::default()
            },
        )
        .unwrap();
        let mut sched = StepLR::new(&mut opt, 1, 0.7).unwrap();
        let mut t = Trainer::new(
            &m,
            &mut opt,
            &loss,
            config(epochs_first, Some(dir.0.clone())),
        )
        .with_scheduler(&mut sched);
        t.fit(&loader(), Some(&val)).unwrap();
        if epochs_first == 4 {
            return m.state_dict().get("4.weight").unwrap().to_vec().unwrap();
        }
        // A fresh process would start from other weights and RNG state.
        ingot::manual_seed(12345);
        let m2 = model(&dev);
        m2.load_state_dict(&init, true).unwrap();
        let mut opt2 = Adam::new(
            m2.parameters(),
            AdamConfig {
                lr: 3e-3,
                ..Default::default()
            },
        )
        .unwrap();
        let mut sched2 = StepLR::new(&mut opt2, 1, 0.7).unwrap();
        let mut t2 = Trainer::new(&m2, &mut opt2, &loss, config(4, Some(dir.0.clone())))
            .with_scheduler(&mut sched2);
        t2.resume(dir.0.join("checkpoint-last")).unwrap();
        assert_eq!(t2.epochs_done(), 2);
        let history = t2.fit(&loader(), Some(&val)).unwrap();
        assert_eq!(history.len(), 4);
        m2.state_dict().get("4.weight").unwrap().to_vec().unwrap()
    };
    let (a, b) = (Scratch::new("uninterrupted"), Scratch::new("resumed"));
    let straight = run(4, &a);
    let resumed = run(2, &b);
    assert_eq!(
        straight, resumed,
        "resumed training diverged from the uninterrupted run"
    );
    // The resumed run's logs hold all four epochs, like the straight one's.
    let lines = |d: &Scratch| {
        std::fs::read_to_string(d.0.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!((lines(&a), lines(&b)), (4, 4));
}

#[test]
fn a_run_directory_has_logs_a_plot_and_checkpoints() {
    let _guard = serial();
    let dev = Device::cpu();
    let dir = Scratch::new("outputs");
    let m = model(&dev);
    let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
    let loss = CrossEntropyLoss::default();
    let val = DataLoader::new(Mnist::embedded(false).unwrap(), 250);
    let mut cfg = config(2, Some(dir.0.clone()));
    cfg.task = Task::Classification {
        classes: 10,
        top_k: 3,
    };
    cfg.metadata = serde_json::json!({"model": "test"});
    let mut t = Trainer::new(&m, &mut opt, &loss, cfg);
    let history = t
        .fit(&DataLoader::new(small_mnist(), 100), Some(&val))
        .unwrap();
    for key in [
        "train_loss",
        "train_accuracy",
        "train_top3_accuracy",
        "val_loss",
        "val_accuracy",
        "val_f1",
        "lr",
        "samples_per_sec",
        "step_time_ms",
    ] {
        assert!(
            history[1].metrics.contains_key(key),
            "no {key} in {:?}",
            history[1].metrics.keys()
        );
    }
    let jsonl = std::fs::read_to_string(dir.0.join("metrics.jsonl")).unwrap();
    let parsed: Vec<EpochRecord> = jsonl
        .lines()
        .map(|l| EpochRecord::from_json(&serde_json::from_str(l).unwrap()).unwrap())
        .collect();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1].epoch, 2);
    let csv = std::fs::read_to_string(dir.0.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,epoch_seconds,lr,samples_per_sec"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);
    let png = image::open(dir.0.join("plot.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1000, 400));
    for ckpt in ["checkpoint-best", "checkpoint-last"] {
        let c = Checkpoint::load(dir.0.join(ckpt), &dev).unwrap();
        assert_eq!(c.state["metadata"]["model"], "test");
        assert!(c.optimizer.is_some());
        assert_eq!(c.model.keys(), m.state_dict().keys());
    }
}

/// Saves the checkpoint of an untrained run of [`model`] with SGD in `dir`.
fn save_untrained(dir: &Path) {
    let m = model(&Device::cpu());
    let mut opt = Sgd::new(m.parameters(), SgdConfig::default()).unwrap();
    let loss = CrossEntropyLoss::default();
    Trainer::new(&m, &mut opt, &loss, config(1, None))
        .save_checkpoint(dir)
        .unwrap();
}

#[test]
fn damaged_checkpoints_are_clear_errors() {
    let _guard = serial();
    let dev = Device::cpu();
    let dir = Scratch::new("damaged");
    save_untrained(&dir.0);
    assert!(Checkpoint::load(&dir.0, &dev).is_ok());
    let weights = dir.0.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 7]).unwrap();
    match Checkpoint::load(&dir.0, &dev) {
        Err(Error::File { path, msg }) => assert!(
            path.ends_with("model.safetensors") && msg.contains("truncated"),
            "{msg}"
        ),
        other => panic!("expected a file error, got {other:?}"),
    }
    std::fs::write(&weights, &bytes).unwrap();
    let state = dir.0.join("state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, &text[..text.len() / 2]).unwrap();
    let err = Checkpoint::load(&dir.0, &dev).unwrap_err().to_string();
    assert!(
        err.contains("state.json") && err.contains("corrupt"),
        "{err}"
    );
    std::fs::remove_file(&state).unwrap();
    let err = Checkpoint::load(&dir.0, &dev).unwrap_err();
    assert!(matches!(err, Error::File { .. }), "{err}");
    assert!(err.to_string().contains("has no state.json"), "{err}");
}

#[test]
fn every_field_of_a_checkpoint_state_is_checked_on_resume() {
    let _guard = serial();
    let dev = Device::cpu();
    let dir = Scratch::new("state-fields");
    save_untrained(&dir.0);
    let loss = CrossEntropyLoss::default();
    let state = dir.0.join("state.json");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let cases: &[(&str, serde_json::Value, &str)] = &[
        (
            "/state/epochs_done",
            json!(u64::MAX),
            "epochs_done is 18446744073709551615, but history holds 0 epochs",
        ),
        (
            "/state/steps",
            json!(-1),
            "steps is -1; expected a whole number >= 0",
        ),
        (
            "/state/best",
            json!("low"),
            "best is \"low\"; expected a finite number or null",
        ),
        (
            "/state/bad_epochs",
            json!(3),
            "bad_epochs is 3, more than the 0 epochs done",
        ),
        (
            "/state/rng/seed",
            json!(5),
            "rng.seed is 5; expected a 64-bit number as a string",
        ),
        (
            "/state/history",
            json!({}),
            "history is {}; expected a list of epochs",
        ),
        (
            "/state/train_seconds",
            json!(-3.0),
            "train_seconds is -3.0; expected a number >= 0",
        ),
        (
            "/optimizer_scalars/group.0.lr",
            json!(-1.0),
            "invalid group.0.lr: -1",
        ),
        (
            "/optimizer_scalars/state.0.step",
            json!(-1.0),
            "state.0.step is -1; expected a whole number",
        ),
    ];
    for (pointer, value, expected) in cases {
        let mut doc = good.clone();
        *doc.pointer_mut(pointer).unwrap() = value.clone();
        std::fs::write(&state, serde_json::to_vec(&doc).unwrap()).unwrap();
        let m = model(&dev);
        let mut opt = Sgd::new(m.parameters(), SgdConfig::default()).unwrap();
        let mut t = Trainer::new(&m, &mut opt, &loss, config(1, None));
        let err = t.resume(&dir.0).unwrap_err().to_string();
        assert!(err.contains(expected), "{pointer}: {err}");
    }
}

/// 32 samples of 4 features in 4 classes, in batches of 4 (no shuffling);
/// with `nan_batch`, that batch's features are NaN. Without `keep_nan_batch`
/// that batch is left out altogether.
fn nan_data(nan_batch: usize, keep_nan_batch: bool) -> DataLoader<TensorDataset> {
    let dev = Device::cpu();
    let mut x: Vec<f32> = (0..32 * 4).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
    let mut y: Vec<i64> = (0..32).map(|i| (i % 4) as i64).collect();
    let bad = nan_batch * 16..(nan_batch + 1) * 16;
    if keep_nan_batch {
        x[bad].fill(f32::NAN);
    } else {
        x.drain(bad);
        y.drain(nan_batch * 4..(nan_batch + 1) * 4);
    }
    let n = y.len();
    let x = Tensor::from_vec(x, &[n, 4], &dev).unwrap();
    let y = Tensor::from_vec(y, &[n], &dev).unwrap();
    DataLoader::new(TensorDataset::new(&x, &y).unwrap(), 4)
}

fn small_classifier(dev: &Device) -> nn::Sequential {
    nn::Sequential::new()
        .add(nn::Linear::new(4, 8, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::Linear::new(8, 4, dev).unwrap())
}

#[test]
fn a_nonfinite_loss_stops_training_with_an_error_naming_where() {
    let _guard = serial();
    let dev = Device::cpu();
    let dir = Scratch::new("nan-stop");
    ingot::manual_seed(3);
    let m = small_classifier(&dev);
    let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
    let loss = CrossEntropyLoss::default();
    let mut config = config(2, Some(dir.0.clone()));
    config.task = Task::Classification {
        classes: 4,
        top_k: 1,
    };
    let mut t = Trainer::new(&m, &mut opt, &loss, config);
    let err = t
        .fit(&nan_data(5, true), None::<&DataLoader<TensorDataset>>)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("training loss is NaN at epoch 1, batch 6 of 8"),
        "{msg}"
    );
    assert!(
        !dir.0.join("checkpoint-last").exists(),
        "nothing is saved after the bad step"
    );
}

#[test]
fn skipping_nonfinite_steps_equals_training_without_those_batches() {
    let _guard = serial();
    let dev = Device::cpu();
    let loss = CrossEntropyLoss::default();
    let run = |data: DataLoader<TensorDataset>, on_nonfinite_loss| {
        ingot::manual_seed(3);
        let m = small_classifier(&dev);
        let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
        let config = TrainerConfig {
            task: Task::Classification {
                classes: 4,
                top_k: 1,
            },
            on_nonfinite_loss,
            ..config(2, None)
        };
        let mut t = Trainer::new(&m, &mut opt, &loss, config);
        let history = t.fit(&data, None::<&DataLoader<TensorDataset>>).unwrap();
        let losses: Vec<f64> = history.iter().map(|r| r.metrics["train_loss"]).collect();
        let weights: Vec<Vec<f32>> = m
            .parameters()
            .iter()
            .map(|p| p.tensor().to_vec::<f32>().unwrap())
            .collect();
        (losses, weights)
    };
    let skipped = run(nan_data(2, true), NonFiniteLoss::SkipStep);
    let without = run(nan_data(2, false), NonFiniteLoss::Stop);
    assert!(skipped.0.iter().all(|l| l.is_finite()), "{:?}", skipped.0);
    assert_eq!(skipped, without);
}

fn stats(task: Task, output: Tensor, target: Tensor) -> BatchStats {
    let loss = Tensor::full(&[], 1.0, DType::F32, &Device::cpu()).unwrap();
    BatchStats::new(task, &output, &target, &loss).unwrap()
}

#[test]
fn classification_and_regression_metrics_match_hand_computation() {
    let _guard = serial();
    let dev = Device::cpu();
    // Targets 0,0,1,1,2 predicted 0,1,1,1,0 (argmax of one-hot logits).
    let preds = [0usize, 1, 1, 1, 0];
    let mut logits = vec![0.0f32; 15];
    for (i, &p) in preds.iter().enumerate() {
        logits[i * 3 + p] = 1.0;
        logits[i * 3 + (p + 1) % 3] = 0.5;
    }
    let task = Task::Classification {
        classes: 3,
        top_k: 2,
    };
    let mut m = Metrics::new(task);
    m.update(&stats(
        task,
        Tensor::from_vec(logits, &[5, 3], &dev).unwrap(),
        Tensor::from_vec(vec![0i64, 0, 1, 1, 2], &[5], &dev).unwrap(),
    ))
    .unwrap();
    let s = m.summary();
    assert_eq!(
        m.confusion_matrix().unwrap(),
        vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
    );
    assert_eq!(s["accuracy"], 0.6);
    // Per class precision 1/2, 2/3, 0; recall 1/2, 1, 0.
    assert!((s["precision"] - (0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
    assert!((s["recall"] - 0.5).abs() < 1e-12);
    assert!((s["f1"] - (0.5 + 0.8) / 3.0).abs() < 1e-12);
    // Top-2 holds the predicted class p and (p + 1) % 3: samples 0, 2, 3
    // hit; sample 1 (target 0, top {1, 2}) and 4 (target 2, top {0, 1}) miss.
    assert_eq!(s["top2_accuracy"], 0.6);

    let mut r = Metrics::new(Task::Regression);
    let y = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[4, 1], &dev).unwrap();
    let p = Tensor::from_vec(vec![1.5f32, 2.0, 2.0, 4.0], &[4, 1], &dev).unwrap();
    r.update(&stats(Task::Regression, p, y)).unwrap();
    let s = r.summary();
    assert_eq!(s["mae"], 0.375);
    assert!((s["rmse"] - (1.25f64 / 4.0).sqrt()).abs() < 1e-12);
    assert!((s["r2"] - (1.0 - 1.25 / 5.0)).abs() < 1e-12);
}

#[test]
fn early_stopping_ends_training_when_the_monitor_stalls() {
    let _guard = serial();
    let dev = Device::cpu();
    let m = model(&dev);
    // A learning rate of zero: nothing improves.
    let mut opt = Sgd::new(
        m.parameters(),
        SgdConfig {
            lr: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let loss = CrossEntropyLoss::default();
    let val = DataLoader::new(Mnist::embedded(false).unwrap(), 500);
    let mut cfg = config(20, None);
    cfg.monitor = Some(Monitor::new("val_loss", Goal::Minimize));
    cfg.early_stopping = Some(EarlyStopping {
        patience: 2,
        min_delta: 0.0,
    });
    let history = Trainer::new(&m, &mut opt, &loss, cfg)
        .fit(&DataLoader::new(small_mnist(), 200), Some(&val))
        .unwrap();
    assert_eq!(
        history.len(),
        4,
        "one improving epoch (the first), then patience 2 is exceeded"
    );
}

#[test]
fn accumulating_two_half_batches_equals_one_full_batch() {
    let _guard = serial();
    let dev = Device::cpu();
    let x = Tensor::randn(&[40, 3], DType::F32, &dev).unwrap();
    let y = Tensor::randn(&[40, 2], DType::F32, &dev).unwrap();
    let data = || TensorDataset::new(&x, &y).unwrap();
    let loss = MSELoss::default();
    let train = |batch: usize, accumulate: usize| -> Vec<f32> {
        let m = nn::Linear::new(3, 2, &dev).unwrap();
        m.load_state_dict(&init(&dev), true).unwrap();
        let mut opt = Sgd::new(
            m.parameters(),
            SgdConfig {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        let mut cfg = config(3, None);
        cfg.task = Task::Regression;
        cfg.accumulation_steps = accumulate;
        Trainer::new(&m, &mut opt, &loss, cfg)
            .fit(
                &DataLoader::new(data(), batch),
                None::<&DataLoader<TensorDataset>>,
            )
            .unwrap();
        m.weight.tensor().to_vec().unwrap()
    };
    let (full, halves) = (train(20, 1), train(10, 2));
    for (a, b) in full.iter().zip(&halves) {
        assert!((a - b).abs() < 1e-5, "{full:?} vs {halves:?}");
    }
}

fn init(dev: &Device) -> nn::StateDict {
    ingot::manual_seed(3);
    nn::Linear::new(3, 2, dev).unwrap().state_dict()
}

#[test]
fn callbacks_see_every_step_and_can_stop() {
    let _guard = serial();
    #[derive(Default)]
    struct Seen {
        steps: Vec<u64>,
        epochs: Vec<usize>,
    }
    struct Recorder(Rc<RefCell<Seen>>);
    impl Callback for Recorder {
        fn on_step_end(&mut self, step: &StepInfo) -> Result<()> {
            self.0.borrow_mut().steps.push(step.global_step);
            Ok(())
        }
        fn on_epoch_end(&mut self, record: &EpochRecord) -> Result<Control> {
            self.0.borrow_mut().epochs.push(record.epoch);
            Ok(if record.epoch == 2 {
                Control::Stop
            } else {
                Control::Continue
            })
        }
    }
    let dev = Device::cpu();
    let m = model(&dev);
    let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
    let loss = CrossEntropyLoss::default();
    let seen = Rc::new(RefCell::new(Seen::default()));
    let mut cfg = config(5, None);
    cfg.clip_grad_norm = Some(1.0);
    Trainer::new(&m, &mut opt, &loss, cfg)
        .with_callback(Recorder(seen.clone()))
        .fit(
            &DataLoader::new(small_mnist(), 200),
            None::<&DataLoader<Mnist>>,
        )
        .unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.epochs, vec![1, 2]);
    assert_eq!(seen.steps, (1..=6).collect::<Vec<_>>());
}
