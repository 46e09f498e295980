//! What the benches that time ingot and PyTorch in the same run share: the
//! timing method, the PyTorch side (a script in this folder, run through
//! `INGOT_TORCH_PYTHON`, else the Python printed by `tools/torch-env.sh`)
//! and the table of ratios.
//!
//! The PyTorch script stays running and times a workload whenever asked
//! (`serve` in `side_by_side.py`). Each round times every workload on both
//! sides back to back, the side that goes first alternating from round to
//! round, for `INGOT_BENCH_ROUNDS` rounds (default 10). A workload's ratio
//! is the median of its rounds' ratios: the two times of a round are taken
//! a fraction of a second apart, so the ratio holds while a shared machine's
//! speed comes and goes between rounds. Each timing starts after a pause
//! of [`PAUSE`], so that neither side's worker threads still spin from its
//! last loop (measured here: PyTorch's OpenMP threads spin for about 10 ms
//! after a parallel region, ingot's for 200 us). Benches include this file
//! with `#[path = ...] mod side_by_side;`.
//!
//! PyTorch runs with glibc's malloc told to keep the memory it frees
//! ([`KEEP_FREED_MEMORY`]), as ingot's buffer cache does. By default glibc
//! hands blocks of a few megabytes back to the system when they are freed,
//! and PyTorch, which has no caching allocator on the CPU, faults them in
//! again on the next step: measured here, its conv2d forward and backward
//! (N=64, 32 channels, 28x28) took 34-40 ms that way and 19-20 ms with
//! the memory kept, with a fifth of the page faults; the matmuls and the
//! MLP did not change. Variables already set in the environment win, so
//! `MALLOC_MMAP_THRESHOLD_= MALLOC_TRIM_THRESHOLD_= cargo bench ...` does
//! not apply them (an empty value is ignored by glibc).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The pause before each timing.
const PAUSE: Duration = Duration::from_millis(50);

/// glibc settings for the PyTorch side: blocks up to 32 MiB come from the
/// heap rather than fresh mappings, and up to 1 GiB of freed heap stays
/// with the process.
const KEEP_FREED_MEMORY: [(&str, &str); 2] = [
    ("MALLOC_MMAP_THRESHOLD_", "33554432"),
    ("MALLOC_TRIM_THRESHOLD_", "1073741824"),
];

/// The malloc settings PyTorch runs with: [`KEEP_FREED_MEMORY`], each
/// unless the environment sets it already.
fn pytorch_malloc() -> Vec<(&'static str, String)> {
    KEEP_FREED_MEMORY
        .iter()
        .map(|&(var, value)| (var, std::env::var(var).unwrap_or_else(|_| value.into())))
        .collect()
}

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
    median(&mut times)
}

/// The median of `v` (the upper one of an even count), reordering `v`.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// An ingot workload: a function that returns its time in seconds.
pub type Timer<'a> = Box<dyn FnMut() -> f64 + 'a>;

/// Times each `(name, timer)` workload on ingot and, through `script`, on
/// PyTorch, alternately for the rounds, then prints each workload's median
/// times and ratio; `unit` says what a time is, for the table's heading.
pub fn compare(script: &str, unit: &str, mut workloads: Vec<(&'static str, Timer<'_>)>) {
    let threads = ingot::cpu::num_threads();
    let rounds = std::env::var("INGOT_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10usize)
        .max(1);
    let mut torch = Torch::start(script, threads);
    if torch.is_none() {
        println!("PyTorch not found (set INGOT_TORCH_PYTHON): printing ingot's times only");
    }
    let mut ours = vec![Vec::new(); workloads.len()];
    let mut theirs = vec![Vec::new(); workloads.len()];
    let mut ratios = vec![Vec::new(); workloads.len()];
    for round in 0..rounds {
        for (i, (name, timer)) in workloads.iter_mut().enumerate() {
            let mut torch_time = || {
                std::thread::sleep(PAUSE);
                let t = torch.as_mut()?.time(name);
                if t.is_none() {
                    eprintln!("PyTorch side failed on {name}; going on with ingot alone");
                    torch = None;
                }
                t
            };
            let mut ingot_time = || {
                std::thread::sleep(PAUSE);
                timer()
            };
            let (ingot, pytorch) = if round % 2 == 0 {
                let ingot = ingot_time();
                (ingot, torch_time())
            } else {
                let pytorch = torch_time();
                (ingot_time(), pytorch)
            };
            ours[i].push(ingot);
            if let Some(p) = pytorch {
                theirs[i].push(p);
                ratios[i].push(ingot / p);
            }
        }
    }
    println!(
        "{threads} threads; {unit}: the median of {rounds} rounds, \
         ingot and PyTorch back to back in each"
    );
    if torch.is_some() {
        let malloc: Vec<String> = pytorch_malloc()
            .iter()
            .map(|(var, value)| format!("{var}={value}"))
            .collect();
        println!("PyTorch's malloc: {}", malloc.join(" "));
    }
    println!(
        "{:<16} {:>12} {:>12} {:>8}  ratio range",
        "workload", "ingot", "pytorch", "ratio"
    );
    for (i, (name, _)) in workloads.iter().enumerate() {
        let t = median(&mut ours[i]);
        if ratios[i].is_empty() {
            println!("{name:<16} {t:>12.6} {:>12} {:>8}", "-", "-");
            continue;
        }
        let p = median(&mut theirs[i]);
        let r = median(&mut ratios[i]);
        let (lo, hi) = (ratios[i][0], ratios[i][ratios[i].len() - 1]);
        println!("{name:<16} {t:>12.6} {p:>12.6} {r:>8.3}  {lo:.3}-{hi:.3}");
    }
}

/// The PyTorch script, running, with a pipe each way.
struct Torch {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Torch {
    /// Starts `script` on `threads` threads, if a PyTorch Python is found.
    fn start(script: &str, threads: usize) -> Option<Torch> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var("INGOT_TORCH_PYTHON").ok().or_else(|| {
            let out = Command::new(root.join("tools/torch-env.sh"))
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })?;
        let mut child = Command::new(python)
            .envs(pytorch_malloc())
            .arg(root.join("benches/compare").join(script))
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take()?);
        Some(Torch {
            child,
            stdin,
            stdout,
        })
    }

    /// PyTorch's time of workload `name` in seconds; `None` if the script
    /// failed (its error went to stderr) or does not know `name`.
    fn time(&mut self, name: &str) -> Option<f64> {
        writeln!(self.stdin.as_mut()?, "{name}").ok()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        line.trim().parse().ok().filter(|t: &f64| t.is_finite())
    }
}

impl Drop for Torch {
    /// Closes the script's input, so that it ends, and waits for it.
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.wait();
    }
}
