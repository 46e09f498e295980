//! Trains a small MLP on two interleaved spirals with ingot's tensors and
//! autograd (plain SGD written out by hand), then reports the accuracy.
//!
//! `cargo run --release -p ingot-ml --example spirals`
//!
//! Each step's forward pass, backward pass and update are evaluated as one
//! compiled graph: the loop compiles a couple of graphs and then replays them.

use std::time::Instant;

use ingot::{DType, Device, Result, Tensor};

/// `n` points per class on two spirals, with labels 0 and 1.
fn spirals(n: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
    let mut xs = Vec::with_capacity(4 * n);
    let mut ys = Vec::with_capacity(2 * n);
    for class in 0..2 {
        for i in 0..n {
            let t = 0.25 + 3.0 * std::f32::consts::PI * i as f32 / n as f32;
            let phase = class as f32 * std::f32::consts::PI;
            xs.extend([t * (t + phase).cos() / 10.0, t * (t + phase).sin() / 10.0]);
            ys.push(class as i64);
        }
    }
    Ok((
        Tensor::from_vec(xs, &[2 * n, 2], dev)?,
        Tensor::from_vec(ys, &[2 * n, 1], dev)?,
    ))
}

fn main() -> Result<()> {
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let (x, y) = spirals(500, &dev)?;
    let init = |shape: &[usize], fan_in: usize| -> Result<Tensor> {
        Tensor::randn(shape, DType::F32, &dev)?.mul_scalar((2.0 / fan_in as f64).sqrt())
    };
    let mut params = vec![
        init(&[2, 64], 2)?,
        Tensor::zeros(&[64], DType::F32, &dev)?,
        init(&[64, 64], 64)?,
        Tensor::zeros(&[64], DType::F32, &dev)?,
        init(&[64, 2], 64)?,
        Tensor::zeros(&[2], DType::F32, &dev)?,
    ];
    ingot::eval(&params.iter().collect::<Vec<_>>())?;
    let forward = |p: &[Tensor]| -> Result<Tensor> {
        let h = x.matmul(&p[0])?.add(&p[1])?.relu()?;
        let h = h.matmul(&p[2])?.add(&p[3])?.relu()?;
        h.matmul(&p[4])?.add(&p[5])
    };
    let start = Instant::now();
    for step in 1..=1500 {
        for p in &params {
            p.requires_grad_(true);
        }
        let loss = forward(&params)?
            .log_softmax(-1)?
            .gather(1, &y)?
            .mean_all()?
            .neg()?;
        loss.backward()?;
        params = ingot::no_grad(|| {
            params
                .iter()
                .map(|p| p.sub(&p.grad().expect("gradient").mul_scalar(0.2)?))
                .collect::<Result<Vec<_>>>()
        })?;
        // One evaluation per step: forward, backward and update run as one
        // compiled graph (the loss is computed in the same run).
        ingot::eval(&params.iter().chain([&loss]).collect::<Vec<_>>())?;
        if step % 300 == 0 {
            println!("step {step:>4}  loss {:.4}", loss.item::<f32>()?);
        }
    }
    let predicted = forward(&params)?.argmax(1, true)?;
    let accuracy = predicted
        .eq(&y)?
        .to_dtype(DType::F32)?
        .mean_all()?
        .item::<f32>()?;
    let stats = ingot::stats();
    println!(
        "accuracy {:.1}% in {:.2?} ({} graphs compiled, {} replays)",
        100.0 * accuracy,
        start.elapsed(),
        stats.graphs_compiled,
        stats.cache_hits
    );
    Ok(())
}
