//! One training step (forward, cross-entropy, backward, Adam) of an MLP
//! 784-256-10 (batch 128), a LeNet-like CNN (batch 64) and, where the host's
//! bookkeeping is the step, `depth` layers of `Linear(16, 16)` + ReLU on a
//! batch of 1 (`deep_narrow_D`), timed against PyTorch eager in the same
//! run; prints both times and the ratio (below 1.0: ingot is faster).
//!
//! `cargo bench -p ingot-nn --bench train_step`. Both sides use the same
//! number of threads (`ingot::cpu::num_threads()`, `INGOT_NUM_THREADS` to
//! set it); `benches/compare/side_by_side.rs` says how PyTorch is found and
//! how the two sides alternate.

#[path = "../../../benches/compare/side_by_side.rs"]
mod side_by_side;
#[path = "support/workloads.rs"]
mod workloads;

use ingot::Device;
use ingot::nn::Module;
use ingot::optim::{Adam, AdamConfig};
use side_by_side::median_time;
use workloads::Workload;

/// The depths of the `deep_narrow` workloads, with their names (as in
/// `train_step.py`).
const DEPTHS: [(usize, &str); 4] = [
    (2, "deep_narrow_2"),
    (8, "deep_narrow_8"),
    (32, "deep_narrow_32"),
    (64, "deep_narrow_64"),
];

/// The median time of a training step with Adam.
fn step_time(w: &Workload, reps: usize) -> f64 {
    let mut opt = Adam::new(w.model.parameters(), AdamConfig::default()).unwrap();
    median_time(reps, || {
        w.step(&mut opt).unwrap();
    })
}

fn main() {
    let dev = Device::cpu();
    let (mlp, lenet) = (Workload::mlp(&dev).unwrap(), Workload::lenet(&dev).unwrap());
    let deep: Vec<(&str, Workload)> = DEPTHS
        .iter()
        .map(|&(d, name)| (name, Workload::deep_narrow(d, &dev).unwrap()))
        .collect();
    let mut workloads: Vec<(&str, side_by_side::Timer<'_>)> = vec![
        ("mlp_step", Box::new(|| step_time(&mlp, 200))),
        ("cnn_step", Box::new(|| step_time(&lenet, 50))),
    ];
    for (name, w) in &deep {
        workloads.push((name, Box::new(|| step_time(w, 200))));
    }
    side_by_side::compare(
        "train_step.py",
        "median seconds per training step (forward, backward, Adam)",
        workloads,
    );
}
