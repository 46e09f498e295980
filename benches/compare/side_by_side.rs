//! What the benches that time ingot and PyTorch in the same run share: the
//! timing method, the PyTorch side (a script in this folder, run through
//! `INGOT_TORCH_PYTHON`, else the Python printed by
//! `../shared/tools/torch-env.sh`) and the table of ratios.
//!
//! The two sides alternate for `INGOT_BENCH_ROUNDS` rounds (default 3) and
//! each workload keeps its best round: on a shared machine, load comes and
//! goes, and should not fall on one side only. Benches include this file
//! with `#[path = ...] mod side_by_side;`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The median wall time of `reps` runs of `f`, after 3 warm-up runs.
pub fn median_time(reps: usize, mut f: impl FnMut()) -> f64 {
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

/// Runs `round` (ingot's `(workload, seconds)` pairs) and the PyTorch
/// `script` alternately, then prints each workload's best times and their
/// ratio; `unit` says what a time is, for the table's heading.
pub fn compare(script: &str, unit: &str, mut round: impl FnMut() -> Vec<(&'static str, f64)>) {
    let threads = ingot::cpu::num_threads();
    let rounds = std::env::var("INGOT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3usize)
        .max(1);
    let mut ours: Vec<(&'static str, f64)> = Vec::new();
    let mut torch: Option<HashMap<String, f64>> = None;
    for _ in 0..rounds {
        for (name, t) in round() {
            match ours.iter_mut().find(|(n, _)| *n == name) {
                Some((_, best)) => *best = best.min(t),
                None => ours.push((name, t)),
            }
        }
        if let Some(times) = pytorch_times(script, threads) {
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
    println!("{threads} threads; {unit}, best of {rounds} alternating rounds");
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

/// PyTorch's times from `script`, one `name seconds` line per workload, if
/// a PyTorch Python is found.
fn pytorch_times(script: &str, threads: usize) -> Option<HashMap<String, f64>> {
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
        .arg(root.join("benches/compare").join(script))
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
