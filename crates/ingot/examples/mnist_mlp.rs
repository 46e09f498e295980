//! An MLP on MNIST with a hand-written training loop, the way it reads in
//! PyTorch: zero_grad, forward, loss, backward, step.
//!
//! ```sh
//! cargo run --release -p ingot-ml --example mnist_mlp              # the embedded MNIST subset
//! cargo run --release -p ingot-ml --example mnist_mlp -- DIR       # the full MNIST in DIR (IDX files)
//! INGOT_EPOCHS=1 cargo run --release -p ingot-ml --example mnist_mlp
//! ```
//!
//! Underneath, each `opt.step()` evaluates forward, backward and the Adam
//! update as one compiled graph; the loop compiles a handful of graphs (one
//! per batch shape) and replays them, as the last line shows.

use ingot::data::{DataLoader, Mnist};
use ingot::nn::{self, CrossEntropyLoss, Loss, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};
use ingot::{Device, Result};

/// Fraction of `loader`'s images that `model` classifies right.
fn accuracy(model: &dyn Module, loader: &DataLoader<Mnist>) -> Result<f64> {
    model.eval();
    let (mut right, mut seen) = (0i64, 0usize);
    ingot::no_grad(|| {
        for batch in loader.iter() {
            let (x, y) = batch?;
            let predicted = model.forward(&x)?.argmax(1, false)?;
            right += predicted
                .eq(&y)?
                .to_dtype(ingot::DType::I64)?
                .sum_all()?
                .item::<i64>()?;
            seen += y.numel();
        }
        Ok(right as f64 / seen as f64)
    })
}

fn main() -> Result<()> {
    let epochs: usize = std::env::var("INGOT_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let (train, test) = match std::env::args().nth(1) {
        Some(dir) => (Mnist::load(&dir, true)?, Mnist::load(&dir, false)?),
        None => (Mnist::embedded(true)?, Mnist::embedded(false)?),
    };
    let train = DataLoader::new(train, 64)
        .shuffle(true)
        .seed(0)
        .num_workers(1);
    let test = DataLoader::new(test, 500);

    let model = nn::Sequential::new()
        .add(nn::Flatten::new())
        .add(nn::Linear::new(784, 128, &dev)?)
        .add(nn::ReLU::new())
        .add(nn::Linear::new(128, 10, &dev)?);
    println!("{}", nn::repr(&model));
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )?;
    let loss_fn = CrossEntropyLoss::default();

    for epoch in 1..=epochs {
        model.train();
        let (mut total, mut batches) = (0.0, 0);
        for batch in train.iter() {
            let (x, y) = batch?;
            opt.zero_grad();
            let loss = loss_fn.forward(&model.forward(&x)?, &y)?;
            loss.backward()?;
            opt.step()?;
            total += loss.item::<f32>()? as f64; // already computed by the step's graph
            batches += 1;
        }
        println!(
            "epoch {epoch}: train loss {:.4}, test accuracy {:.2}%",
            total / batches as f64,
            100.0 * accuracy(&model, &test)?
        );
    }
    let stats = ingot::stats();
    println!(
        "graphs compiled: {}, replayed from the cache: {}",
        stats.graphs_compiled, stats.cache_hits
    );
    Ok(())
}
