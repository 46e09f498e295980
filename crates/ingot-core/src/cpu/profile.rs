//! Optional per-kernel timing of the CPU backend. With the environment
//! variable `INGOT_PROFILE=1` set when the process starts, every kernel run is
//! timed and added to a table that [`take_profile`] returns.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Time spent in one kind of kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelTime {
    /// The kernel and its output shape, such as `matmul [128, 256]`.
    pub kernel: String,
    /// Runs.
    pub count: u64,
    /// Total time.
    pub total: Duration,
    /// The fastest run: on a busy machine a steadier figure than the mean.
    pub min: Duration,
}

pub(crate) fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("INGOT_PROFILE").is_ok_and(|v| v == "1"))
}

/// Per kernel: runs, total time, fastest run.
type Table = HashMap<String, (u64, Duration, Duration)>;

fn table() -> &'static Mutex<Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(HashMap::new()))
}

pub(crate) fn record(kernel: String, took: Duration) {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    let e = t
        .entry(kernel)
        .or_insert((0, Duration::ZERO, Duration::MAX));
    e.0 += 1;
    e.1 += took;
    e.2 = e.2.min(took);
}

/// The kernel times recorded so far (slowest first), clearing the table.
/// Empty unless the process started with `INGOT_PROFILE=1`.
///
/// ```
/// let times = ingot::cpu::take_profile();
/// assert!(times.iter().all(|t| t.count > 0));
/// ```
pub fn take_profile() -> Vec<KernelTime> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<KernelTime> = t
        .drain()
        .map(|(kernel, (count, total, min))| KernelTime {
            kernel,
            count,
            total,
            min,
        })
        .collect();
    out.sort_by_key(|t| std::cmp::Reverse(t.total));
    out
}
