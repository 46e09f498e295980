//! The models and batches of the `train_step` bench, shared with the
//! `profile_train_step` example so that both time the same steps. Included
//! with `#[path = ...] mod workloads;`.

use ingot::nn::functional::{CrossEntropyOptions, cross_entropy};
use ingot::nn::{self, Module};
use ingot::optim::Optimizer;
use ingot::{DType, Device, Result, Tensor};

/// A model with one batch of inputs and class labels.
pub struct Workload {
    pub model: nn::Sequential,
    pub x: Tensor,
    pub y: Tensor,
}

impl Workload {
    /// MLP 784-256-10 on a batch of 128.
    pub fn mlp(dev: &Device) -> Result<Workload> {
        let model = nn::Sequential::new()
            .add(nn::Linear::new(784, 256, dev)?)
            .add(nn::ReLU::new())
            .add(nn::Linear::new(256, 10, dev)?);
        Workload::new(model, &[128, 784], dev)
    }

    /// LeNet-like CNN (conv5x5 1→16 pad 2, pool, conv5x5 16→32, pool,
    /// linear 800→10) on a batch of 64.
    pub fn lenet(dev: &Device) -> Result<Workload> {
        let conv5 = |i, o, padding| {
            let config = nn::Conv2dConfig {
                padding,
                ..Default::default()
            };
            nn::Conv2d::new(i, o, 5, config, dev)
        };
        let model = nn::Sequential::new()
            .add(conv5(1, 16, 2)?)
            .add(nn::ReLU::new())
            .add(nn::MaxPool2d::new(2))
            .add(conv5(16, 32, 0)?)
            .add(nn::ReLU::new())
            .add(nn::MaxPool2d::new(2))
            .add(nn::Flatten::new())
            .add(nn::Linear::new(800, 10, dev)?);
        Workload::new(model, &[64, 1, 28, 28], dev)
    }

    /// `depth` layers of `Linear(16, 16)` + ReLU, then `Linear(16, 10)`, on
    /// a batch of 1: a step whose kernels are tiny, so that its time is
    /// the host's bookkeeping (building, hashing and binding the graph).
    pub fn deep_narrow(depth: usize, dev: &Device) -> Result<Workload> {
        let mut model = nn::Sequential::new();
        for _ in 0..depth {
            model = model
                .add(nn::Linear::new(16, 16, dev)?)
                .add(nn::ReLU::new());
        }
        Workload::new(model.add(nn::Linear::new(16, 10, dev)?), &[1, 16], dev)
    }

    /// Random inputs in [0, 1) of `shape` and random labels of 10 classes.
    fn new(model: nn::Sequential, shape: &[usize], dev: &Device) -> Result<Workload> {
        let x = Tensor::rand(shape, DType::F32, dev)?;
        let y = Tensor::rand(&shape[..1], DType::F32, dev)?
            .mul_scalar(10.0)?
            .floor()?
            .to_dtype(DType::I64)?;
        ingot::eval(&[&x, &y])?;
        Ok(Workload { model, x, y })
    }

    /// One training step (forward, cross-entropy, backward, `opt`), reading
    /// the loss back so that the whole compiled step runs.
    pub fn step(&self, opt: &mut dyn Optimizer) -> Result<f32> {
        opt.zero_grad();
        let logits = self.model.forward(&self.x)?;
        let loss = cross_entropy(&logits, &self.y, &CrossEntropyOptions::default())?;
        loss.backward()?;
        opt.step()?;
        loss.item::<f32>()
    }
}
