//! Times the training steps of the `train_step` benchmark and, with
//! `INGOT_PROFILE=1`, prints where the CPU backend spends them, kernel by
//! kernel.
//!
//! `INGOT_PROFILE=1 cargo run --release -p ingot-nn --example profile_train_step -- cnn 50`
//! (models: `mlp`, `cnn`; then the number of steps).

use ingot::nn::functional::{CrossEntropyOptions, cross_entropy};
use ingot::nn::{self, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};
use ingot::{DType, Device, Result, Tensor};

fn main() -> Result<()> {
    let dev = Device::cpu();
    let which = std::env::args().nth(1).unwrap_or_else(|| "mlp".into());
    let steps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (model, x) = match which.as_str() {
        "mlp" => (
            nn::Sequential::new()
                .add(nn::Linear::new(784, 256, &dev)?)
                .add(nn::ReLU::new())
                .add(nn::Linear::new(256, 10, &dev)?),
            Tensor::rand(&[128, 784], DType::F32, &dev)?,
        ),
        "cnn" => {
            let conv5 = |i, o, padding| {
                nn::Conv2d::new(
                    i,
                    o,
                    5,
                    nn::Conv2dConfig {
                        padding,
                        ..Default::default()
                    },
                    &dev,
                )
            };
            let model = nn::Sequential::new()
                .add(conv5(1, 16, 2)?)
                .add(nn::ReLU::new())
                .add(nn::MaxPool2d::new(2))
                .add(conv5(16, 32, 0)?)
                .add(nn::ReLU::new())
                .add(nn::MaxPool2d::new(2))
                .add(nn::Flatten::new())
                .add(nn::Linear::new(800, 10, &dev)?);
            (model, Tensor::rand(&[64, 1, 28, 28], DType::F32, &dev)?)
        }
        other => {
            eprintln!("unknown model {other}; use mlp or cnn");
            std::process::exit(2);
        }
    };
    let n = x.shape()[0];
    let y = Tensor::rand(&[n], DType::F32, &dev)?
        .mul_scalar(10.0)?
        .floor()?
        .to_dtype(DType::I64)?;
    ingot::eval(&[&x, &y])?;
    let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
    let start = std::time::Instant::now();
    for _ in 0..steps {
        opt.zero_grad();
        let loss = cross_entropy(&model.forward(&x)?, &y, &CrossEntropyOptions::default())?;
        loss.backward()?;
        opt.step()?;
        loss.item::<f32>()?;
    }
    println!("{which}: {:?} per step", start.elapsed() / steps as u32);
    for k in ingot::cpu::take_profile().iter().take(20) {
        println!(
            "{:>10.1?} per step  {:>4} runs  {:>10.1?} fastest  {}",
            k.total / steps as u32,
            k.count,
            k.min,
            k.kernel
        );
    }
    Ok(())
}
