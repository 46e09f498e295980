//! One training step (forward, cross-entropy, backward, Adam) of an MLP
//! 784-256-10 (batch 128) and a LeNet-like CNN (batch 64), timed against
//! PyTorch in the same run; prints both times and the ratio (below 1.0:
//! ingot is faster).
//!
//! `cargo bench -p ingot-nn --bench train_step`. PyTorch runs through
//! `INGOT_TORCH_PYTHON`, else the Python printed by
//! `../shared/tools/torch-env.sh`; both sides use rayon's thread count.
//! The two sides alternate for `INGOT_BENCH_ROUNDS` rounds (default 3) and
//! each workload keeps its best round: on a shared machine, load comes and
//! goes, and should not fall on one side only.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ingot::nn::functional::{CrossEntropyOptions, cross_entropy};
use ingot::nn::{self, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};
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
    for _ in 0..5 {
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

fn pytorch_times(threads: usize) -> Option<HashMap<String, f64>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var("INGOT_TORCH_PYTHON").ok().or_else(|| {
        let out = Command::new(root.join("../shared/tools/torch-env.sh"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    })?;
    let out = Command::new(python)
        .arg(root.join("benches/compare/train_step.py"))
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
    let dev = Device::cpu();
    let threads = rayon::current_num_threads();
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
    let rounds = rounds();
    let mut ours = Vec::new();
    let mut torch: Option<HashMap<String, f64>> = None;
    for _ in 0..rounds {
        let round = [
            ("mlp_step", step_time(&mlp, &mlp_x, &labels(128, &dev), 200)),
            ("cnn_step", step_time(&lenet, &cnn_x, &labels(64, &dev), 50)),
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
    println!(
        "{threads} threads; median seconds per training step (forward, backward, Adam), best of {rounds} alternating rounds"
    );
    println!(
        "{:<10} {:>12} {:>12} {:>8}",
        "workload", "ingot", "pytorch", "ratio"
    );
    for (name, t) in ours {
        match torch.as_ref().and_then(|m| m.get(name)) {
            Some(p) => println!("{name:<10} {t:>12.6} {p:>12.6} {:>8.3}", t / p),
            None => println!("{name:<10} {t:>12.6} {:>12} {:>8}", "-", "-"),
        }
    }
}
