//! MNIST batches per second (batch 128) with 0 and 2 workers, next to the
//! time of one CPU training step of the MLP 784-256-10 that would consume
//! them: the loader must never be the bottleneck.
//!
//! `cargo bench -p ingot-data --bench loader` (full MNIST from
//! `INGOT_MNIST_DIR`, else the embedded subset).

use std::path::Path;
use std::time::Instant;

use ingot::Device;
use ingot::data::{DataLoader, Mnist};
use ingot::nn::functional::{CrossEntropyOptions, cross_entropy};
use ingot::nn::{self, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};

fn main() -> ingot::Result<()> {
    let dir = std::env::var("INGOT_MNIST_DIR").unwrap_or_default();
    let (train, what) = if !dir.is_empty() && Path::new(&dir).is_dir() {
        (Mnist::load(&dir, true)?, "full MNIST")
    } else {
        (Mnist::embedded(true)?, "embedded MNIST")
    };
    let train = std::sync::Arc::new(train);
    println!("{what}, batch 128, shuffled");
    let mut step_inputs = None;
    for workers in [0, 2] {
        let loader = DataLoader::from_arc(train.clone(), 128)
            .shuffle(true)
            .seed(0)
            .num_workers(workers);
        let start = Instant::now();
        let mut batches = 0;
        for b in loader.iter() {
            let b = b?;
            if step_inputs.is_none() {
                step_inputs = Some(b);
            }
            batches += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{workers} workers: {:.0} batches/s ({:.3} ms per batch)",
            batches as f64 / secs,
            1e3 * secs / batches as f64
        );
    }
    let (x, y) = step_inputs.expect("a batch");
    let dev = Device::cpu();
    let model = nn::Sequential::new()
        .add(nn::Flatten::new())
        .add(nn::Linear::new(784, 256, &dev)?)
        .add(nn::ReLU::new())
        .add(nn::Linear::new(256, 10, &dev)?);
    let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
    let mut step = || -> ingot::Result<()> {
        opt.zero_grad();
        let loss = cross_entropy(&model.forward(&x)?, &y, &CrossEntropyOptions::default())?;
        loss.backward()?;
        opt.step()?;
        loss.item::<f32>().map(|_| ())
    };
    for _ in 0..10 {
        step()?;
    }
    let start = Instant::now();
    for _ in 0..200 {
        step()?;
    }
    println!(
        "MLP training step: {:.3} ms (the loader's time per batch must stay below this)",
        start.elapsed().as_secs_f64() * 1e3 / 200.0
    );
    Ok(())
}
