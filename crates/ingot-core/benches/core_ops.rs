//! Core workloads timed against PyTorch in the same run; prints ingot's time,
//! PyTorch's and the ratio (below 1.0: ingot is faster).
//!
//! `cargo bench -p ingot-core --bench core_ops`. PyTorch runs through the
//! Python named by `INGOT_TORCH_PYTHON`, else the one printed by
//! `../shared/tools/torch-env.sh`; without either only ingot's times print.
//! Both sides use the same number of threads (rayon's pool size).
//! The two sides alternate for `INGOT_BENCH_ROUNDS` rounds (default 3) and
//! each workload keeps its best round: on a shared machine, load comes and
//! goes, and should not fall on one side only.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ingot::{DType, Device, Tensor};

/// Rounds of both sides, alternating (`INGOT_BENCH_ROUNDS`, default 3).
/// Each workload reports its best round, so a burst of load on a shared
/// machine does not fall on one side alone.
fn rounds() -> usize {
    std::env::var("INGOT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1)
}

/// Keeps, per workload, the lower of the time in `best` and the new one.
fn keep_best(
    best: &mut Vec<(&'static str, f64)>,
    round: impl IntoIterator<Item = (&'static str, f64)>,
) {
    for (name, t) in round {
        match best.iter_mut().find(|(n, _)| *n == name) {
            Some((_, b)) => *b = b.min(t),
            None => best.push((name, t)),
        }
    }
}

fn median_time(reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn matmul(n: usize, reps: usize) -> f64 {
    let dev = Device::cpu();
    let a = Tensor::randn(&[n, n], DType::F32, &dev).unwrap();
    let b = Tensor::randn(&[n, n], DType::F32, &dev).unwrap();
    ingot::eval(&[&a, &b]).unwrap();
    median_time(reps, || ingot::eval(&[&a.matmul(&b).unwrap()]).unwrap())
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
        params[0]
            .conv2d(&params[1], Some(&params[2]), 1, 1, 1, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad().unwrap()).collect();
        ingot::eval(&grads.iter().collect::<Vec<_>>()).unwrap();
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
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad().unwrap()).collect();
        ingot::eval(&grads.iter().collect::<Vec<_>>()).unwrap();
    })
}

/// PyTorch's times for the same workloads, if a PyTorch Python is found.
fn pytorch_times(threads: usize) -> Option<HashMap<String, f64>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("INGOT_TORCH_PYTHON").ok().or_else(|| {
        let script = root.join("../shared/tools/torch-env.sh");
        let out = Command::new(script).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    })?;
    let out = Command::new(python)
        .arg(root.join("benches/compare/core_ops.py"))
        .arg(threads.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "PyTorch side failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            })
            .collect(),
    )
}

fn main() {
    let threads = rayon::current_num_threads();
    let rounds = rounds();
    let mut ours = Vec::new();
    let mut torch: Option<HashMap<String, f64>> = None;
    for _ in 0..rounds {
        let round = [
            ("matmul_256", matmul(256, 200)),
            ("matmul_1024", matmul(1024, 20)),
            ("conv2d_fwd_bwd", conv()),
            ("mlp_fwd_bwd", mlp()),
        ];
        keep_best(&mut ours, round);
        if let Some(times) = pytorch_times(threads) {
            let best = torch.get_or_insert_with(HashMap::new);
            for (name, t) in times {
                let e = best.entry(name).or_insert(t);
                *e = e.min(t);
            }
        }
    }
    if torch.is_none() {
        println!("PyTorch not found (set INGOT_TORCH_PYTHON): printing ingot's times only");
    }
    println!("{threads} threads; median seconds per run, best of {rounds} alternating rounds");
    println!(
        "{:<16} {:>12} {:>12} {:>8}",
        "workload", "ingot", "pytorch", "ratio"
    );
    for (name, t) in ours {
        match torch.as_ref().and_then(|m| m.get(name)) {
            Some(p) => println!("{name:<16} {t:>12.6} {p:>12.6} {:>8.3}", t / p),
            None => println!("{name:<16} {t:>12.6} {:>12} {:>8}", "-", "-"),
        }
    }
}
