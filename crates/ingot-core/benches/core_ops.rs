//! Core workloads timed against PyTorch in the same run; prints ingot's time,
//! PyTorch's and the ratio (below 1.0: ingot is faster).
//!
//! `cargo bench -p ingot-core --bench core_ops`. Both sides use the same
//! number of threads (`ingot::cpu::num_threads()`, `INGOT_NUM_THREADS` to
//! set it); `benches/compare/side_by_side.rs` says how PyTorch is found and
//! how the two sides alternate.

#[path = "../../../benches/compare/side_by_side.rs"]
mod side_by_side;

use ingot::{DType, Device, Tensor};
use side_by_side::median_time;

fn matmul(n: usize, reps: usize) -> f64 {
    let dev = Device::cpu();
    let a = Tensor::randn(&[n, n], DType::F32, &dev).unwrap();
    let b = Tensor::randn(&[n, n], DType::F32, &dev).unwrap();
    ingot::eval(&[&a, &b]).unwrap();
    median_time(reps, || ingot::eval(&[&a.matmul(&b).unwrap()]).unwrap())
}

/// Evaluates the loss and the parameters' gradients in one run. The loss
/// is read too, as PyTorch computes it: the gradients of a sum do not need
/// its value, and lazily ingot would skip the forward pass.
fn eval_with_grads(loss: &Tensor, params: &[Tensor]) {
    let grads: Vec<Tensor> = params.iter().map(|p| p.grad().unwrap()).collect();
    let mut outs = vec![loss];
    outs.extend(&grads);
    ingot::eval(&outs).unwrap();
}

fn conv() -> f64 {
    let dev = Device::cpu();
    let x = Tensor::randn(&[64, 32, 28, 28], DType::F32, &dev).unwrap();
    let w = Tensor::randn(&[32, 32, 3, 3], DType::F32, &dev)
        .unwrap()
        .mul_scalar(0.1)
        .unwrap();
    let b = Tensor::zeros(&[32], DType::F32, &dev).unwrap();
    ingot::eval(&[&x, &w, &b]).unwrap();
    let params = [
        x.requires_grad_(true),
        w.requires_grad_(true),
        b.requires_grad_(true),
    ];
    median_time(10, || {
        for p in &params {
            p.zero_grad();
        }
        let loss = params[0]
            .conv2d(&params[1], Some(&params[2]), 1, 1, 1, 1)
            .unwrap()
            .sum_all()
            .unwrap();
        loss.backward().unwrap();
        eval_with_grads(&loss, &params);
    })
}

fn mlp() -> f64 {
    let dev = Device::cpu();
    let x = Tensor::randn(&[128, 784], DType::F32, &dev).unwrap();
    let y = Tensor::rand(&[128, 1], DType::F32, &dev)
        .unwrap()
        .mul_scalar(10.0)
        .unwrap()
        .floor()
        .unwrap()
        .to_dtype(DType::I64)
        .unwrap();
    let params = [
        Tensor::randn(&[784, 256], DType::F32, &dev)
            .unwrap()
            .mul_scalar(0.05)
            .unwrap(),
        Tensor::zeros(&[256], DType::F32, &dev).unwrap(),
        Tensor::randn(&[256, 10], DType::F32, &dev)
            .unwrap()
            .mul_scalar(0.05)
            .unwrap(),
        Tensor::zeros(&[10], DType::F32, &dev).unwrap(),
    ];
    ingot::eval(&[&x, &y, &params[0], &params[1], &params[2], &params[3]]).unwrap();
    for p in &params {
        p.requires_grad_(true);
    }
    median_time(200, || {
        for p in &params {
            p.zero_grad();
        }
        let h = x
            .matmul(&params[0])
            .unwrap()
            .add(&params[1])
            .unwrap()
            .relu()
            .unwrap();
        let logits = h.matmul(&params[2]).unwrap().add(&params[3]).unwrap();
        let loss = logits
            .log_softmax(-1)
            .unwrap()
            .gather(1, &y)
            .unwrap()
            .mean_all()
            .unwrap()
            .neg()
            .unwrap();
        loss.backward().unwrap();
        eval_with_grads(&loss, &params);
    })
}

fn main() {
    side_by_side::compare(
        "core_ops.py",
        "median seconds per run",
        vec![
            ("matmul_256", Box::new(|| matmul(256, 200))),
            ("matmul_1024", Box::new(|| matmul(1024, 20))),
            ("conv2d_fwd_bwd", Box::new(conv)),
            ("mlp_fwd_bwd", Box::new(mlp)),
        ],
    );
}
