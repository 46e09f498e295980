//! Times the training steps of the `train_step` benchmark and, with
//! `INGOT_PROFILE=1`, prints where the CPU backend spends them, kernel by
//! kernel.
//!
//! `INGOT_PROFILE=1 cargo run --release -p ingot-nn --example profile_train_step -- cnn 50`
//! (models: `mlp`, `cnn`, `deepD` for `D` layers of `Linear(16, 16)` on a
//! batch of 1, such as `deep64`; then the number of steps).

#[path = "../benches/support/workloads.rs"]
mod workloads;

use ingot::nn::Module;
use ingot::optim::{Adam, AdamConfig};
use ingot::{Device, Result};
use workloads::Workload;

fn main() -> Result<()> {
    let dev = Device::cpu();
    let which = std::env::args().nth(1).unwrap_or_else(|| "mlp".into());
    let steps: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let w = match which.as_str() {
        "mlp" => Workload::mlp(&dev)?,
        "cnn" => Workload::lenet(&dev)?,
        other => match other.strip_prefix("deep").and_then(|d| d.parse().ok()) {
            Some(depth) => Workload::deep_narrow(depth, &dev)?,
            None => {
                eprintln!("unknown model {other}; use mlp, cnn or deepD (such as deep64)");
                std::process::exit(2);
            }
        },
    };
    let mut opt = Adam::new(w.model.parameters(), AdamConfig::default())?;
    let start = std::time::Instant::now();
    for _ in 0..steps {
        w.step(&mut opt)?;
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
