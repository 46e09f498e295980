//! `ingot bench`: the training-step time (forward, cross-entropy, backward,
//! Adam) of the standard models on a device.

use std::time::Instant;

use ingot::models::ModelKind;
use ingot::nn::{CrossEntropyLoss, Loss, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};
use ingot::{DType, Device, Tensor};

use crate::args::{DEVICE, Opt, Parsed, Spec};
use crate::failure::Failure;
use crate::run_info::model_flag;

pub const SPEC: Spec = Spec {
    name: "bench",
    about: "time training steps of the standard models",
    positional: "",
    arity: (0, 0),
    opts: &[
        Opt {
            name: "model",
            value: "mlp|cnn",
            help: "Only this model (default: both)",
        },
        DEVICE,
        Opt {
            name: "batch-size",
            value: "N",
            help: "Images per step (default: 64)",
        },
        Opt {
            name: "steps",
            value: "N",
            help: "Timed steps per model, after 5 warm-up steps (default: 50)",
        },
    ],
    after: "Inputs are random MNIST-sized images [1, 28, 28] with 10 classes. The time is the\n\
            median of the steps; each step reads its loss back, so it includes the whole\n\
            compiled step (forward, backward and the Adam update).",
};

const WARMUP: usize = 5;

/// A batch of random images and labels.
fn random_batch(batch: usize, device: &Device) -> ingot::Result<(Tensor, Tensor)> {
    let x = Tensor::rand(&[batch, 1, 28, 28], DType::F32, device)?;
    let y = Tensor::rand(&[batch], DType::F32, device)?
        .mul_scalar(10.0)?
        .floor()?
        .to_dtype(DType::I64)?;
    ingot::eval(&[&x, &y])?;
    Ok((x, y))
}

/// Median seconds per step of `model` over `steps` timed steps, and the
/// graphs compiled while timing.
fn time_steps(
    model: &dyn Module,
    x: &Tensor,
    y: &Tensor,
    steps: usize,
) -> ingot::Result<(f64, u64)> {
    let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
    let loss_fn = CrossEntropyLoss::default();
    let mut step = || -> ingot::Result<()> {
        opt.zero_grad();
        let loss = loss_fn.forward(&model.forward(x)?, y)?;
        loss.backward()?;
        opt.step()?;
        loss.item::<f32>()?;
        Ok(())
    };
    for _ in 0..WARMUP {
        step()?;
    }
    let compiled = ingot::stats().graphs_compiled;
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let t0 = Instant::now();
        step()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok((times[steps / 2], ingot::stats().graphs_compiled - compiled))
}

pub fn run(p: &Parsed) -> Result<(), Failure> {
    let device = p.device()?;
    let batch = p.count("batch-size", 1)?.unwrap_or(64);
    let steps = p.count("steps", 1)?.unwrap_or(50);
    if batch == 0 || steps == 0 {
        return Err(Failure::usage(
            "bench",
            "--batch-size and --steps must be at least 1",
        ));
    }
    let models = match model_flag(p, "bench")? {
        Some(m) => vec![m],
        None => ModelKind::ALL.to_vec(),
    };
    println!(
        "training step (forward, cross-entropy, backward, Adam) on {device}, batch {batch}, \
         median of {steps} steps, {} CPU threads",
        ingot::cpu::num_threads()
    );
    ingot::manual_seed(0);
    let (x, y) = random_batch(batch, &device)?;
    for kind in models {
        let model = kind.build(&[1, 28, 28], 10, &device)?;
        let (seconds, compiled) = time_steps(&model, &x, &y, steps)?;
        println!(
            "{kind:<4} {:>9} parameters  {:>8.3} ms/step  {:>9.0} images/s  ({compiled} graphs compiled while timed)",
            model.num_parameters(),
            1e3 * seconds,
            batch as f64 / seconds
        );
    }
    Ok(())
}
