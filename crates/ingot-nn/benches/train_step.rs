//! One training step (forward, cross-entropy, backward, Adam) of an MLP
//! 784-256-10 (batch 128) and a LeNet-like CNN (batch 64), timed against
//! PyTorch in the same run; prints both times and the ratio (below 1.0:
//! ingot is faster).
//!
//! `cargo bench -p ingot-nn --bench train_step`. Both sides use rayon's
//! thread count; `benches/compare/side_by_side.rs` says how PyTorch is
//! found and how the rounds alternate.

#[path = "../../../benches/compare/side_by_side.rs"]
mod side_by_side;

use ingot::nn::functional::{CrossEntropyOptions, cross_entropy};
use ingot::nn::{self, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};
use ingot::{DType, Device, Tensor};
use side_by_side::median_time;

fn step_time(model: &dyn Module, x: &Tensor, y: &Tensor, reps: usize) -> f64 {
    let mut opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    ingot::eval(&[x, y]).unwrap();
    median_time(reps, || {
        opt.zero_grad();
        let loss = cross_entropy(
            &model.forward(x).unwrap(),
            y,
            &CrossEntropyOptions::default(),
        )
        .unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
        loss.item::<f32>().unwrap();
    })
}

fn labels(n: usize, dev: &Device) -> Tensor {
    Tensor::rand(&[n], DType::F32, dev)
        .unwrap()
        .mul_scalar(10.0)
        .unwrap()
        .floor()
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap()
}

fn main() {
    let dev = Device::cpu();
    let mlp = nn::Sequential::new()
        .add(nn::Linear::new(784, 256, &dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::Linear::new(256, 10, &dev).unwrap());
    let mlp_x = Tensor::rand(&[128, 784], DType::F32, &dev).unwrap();
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
        .unwrap()
    };
    let lenet = nn::Sequential::new()
        .add(conv5(1, 16, 2))
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(conv5(16, 32, 0))
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(nn::Flatten::new())
        .add(nn::Linear::new(800, 10, &dev).unwrap());
    let cnn_x = Tensor::rand(&[64, 1, 28, 28], DType::F32, &dev).unwrap();
    let (mlp_y, cnn_y) = (labels(128, &dev), labels(64, &dev));
    side_by_side::compare(
        "train_step.py",
        "median seconds per training step (forward, backward, Adam)",
        || {
            vec![
                ("mlp_step", step_time(&mlp, &mlp_x, &mlp_y, 200)),
                ("cnn_step", step_time(&lenet, &cnn_x, &cnn_y, 50)),
            ]
        },
    );
}
