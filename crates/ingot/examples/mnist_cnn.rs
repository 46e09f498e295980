//! A small CNN with batch norm on MNIST, trained by `ingot::train::Trainer`:
//! a validation split, a cosine learning-rate schedule, early stopping, and
//! a run directory with logs, a plot and checkpoints.
//!
//! ```sh
//! cargo run --release -p ingot-ml --example mnist_cnn              # the embedded MNIST subset
//! cargo run --release -p ingot-ml --example mnist_cnn -- DIR       # the full MNIST in DIR
//! INGOT_EPOCHS=1 cargo run --release -p ingot-ml --example mnist_cnn
//! ```

use std::sync::Arc;

use ingot::data::{DataLoader, Dataset, Mnist, random_split};
use ingot::nn::{self, CrossEntropyLoss, Module};
use ingot::optim::lr_scheduler::CosineAnnealingLR;
use ingot::optim::{AdamConfig, AdamW};
use ingot::train::{EarlyStopping, Goal, Monitor, Trainer, TrainerConfig};
use ingot::{Device, Result};

fn main() -> Result<()> {
    let epochs: usize = std::env::var("INGOT_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let (train, test) = match std::env::args().nth(1) {
        Some(dir) => (Mnist::load(&dir, true)?, Mnist::load(&dir, false)?),
        None => (Mnist::embedded(true)?, Mnist::embedded(false)?),
    };
    let (n, n_val) = (train.len(), train.len() / 10);
    let mut parts = random_split(Arc::new(train), &[n - n_val, n_val], 0)?;
    let (val, train) = (parts.pop().unwrap(), parts.pop().unwrap());
    let train = DataLoader::new(train, 64)
        .shuffle(true)
        .seed(0)
        .num_workers(1);
    let val = DataLoader::new(val, 500);
    let test = DataLoader::new(test, 500);

    let conv = |cin, cout| {
        nn::Conv2d::new(
            cin,
            cout,
            3,
            nn::Conv2dConfig {
                padding: 1,
                ..Default::default()
            },
            &dev,
        )
    };
    let model = nn::Sequential::new()
        .add(conv(1, 16)?)
        .add(nn::BatchNorm2d::new(16, &dev)?)
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(conv(16, 32)?)
        .add(nn::BatchNorm2d::new(32, &dev)?)
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(nn::Flatten::new())
        .add(nn::Linear::new(32 * 7 * 7, 10, &dev)?);
    println!("{}", nn::repr(&model));

    let mut opt = AdamW::new(
        model.parameters(),
        AdamConfig {
            lr: 2e-3,
            ..Default::default()
        },
    )?;
    let mut schedule = CosineAnnealingLR::new(&mut opt, epochs, 1e-5)?;
    let loss = CrossEntropyLoss::default();
    let config = TrainerConfig {
        epochs,
        monitor: Some(Monitor::new("val_accuracy", Goal::Maximize)),
        early_stopping: Some(EarlyStopping {
            patience: 2,
            min_delta: 1e-4,
        }),
        out_dir: Some("runs/example-mnist-cnn".into()),
        ..Default::default()
    };
    let mut trainer = Trainer::new(&model, &mut opt, &loss, config).with_scheduler(&mut schedule);
    trainer.fit(&train, Some(&val))?;
    let report = trainer.evaluate(&test)?;
    println!(
        "test accuracy {:.2}%, macro F1 {:.4}; logs, plot.png and checkpoints in runs/example-mnist-cnn",
        100.0 * report.metrics["accuracy"],
        report.metrics["f1"]
    );
    Ok(())
}
