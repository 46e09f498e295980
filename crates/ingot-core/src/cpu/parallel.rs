//! The CPU backend's threads: the calling thread plus `num_threads() - 1`
//! helpers that, after each parallel loop, spin for a short while before
//! they sleep, so that the next loop of a training step starts on them at
//! once.
//!
//! Why not rayon: a rayon fork-join costs 8.5-17 µs on a 2-core VM (the idle
//! worker has to notice the job between `sched_yield` calls, or be woken
//! from a futex), against about 1.3 µs here, and a training step runs dozens
//! of parallel kernels. OpenMP runtimes (what PyTorch runs on) spin the same
//! way.
//!
//! A parallel loop hands out its task indices from a shared counter; the
//! calling thread takes tasks too and waits only for helpers that started,
//! so a helper that is slow to wake costs nothing. A loop may instead give
//! each thread its own task ([`for_each_thread`]), for work split by the
//! threads' speeds. Loops run one at a time:
//! a loop started while another runs (a nested one, or one from another
//! thread) runs on its calling thread alone.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, RwLock, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long an idle helper spins before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// The number of threads kernels use: `INGOT_NUM_THREADS`, else the
/// number of cores.
pub(crate) fn num_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("INGOT_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n >= 1)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// The loop body helpers run: a `&dyn Fn()` whose lifetime [`broadcast`]
/// guarantees (it waits for every helper that took it).
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn() + Sync + 'static));

// SAFETY: the pointee is `Sync`, and `broadcast` keeps it alive while any
// helper can reach it.
unsafe impl Send for Job {}
// SAFETY: as above; helpers only copy the pointer out and call through it.
unsafe impl Sync for Job {}

struct Pool {
    /// Held while a loop runs.
    busy: Mutex<()>,
    /// The current loop, if one is open to helpers.
    job: RwLock<Option<Job>>,
    /// How many helpers the current loop asks to join: the first ones.
    width: AtomicUsize,
    /// Bumped to announce a loop.
    epoch: AtomicUsize,
    /// Helpers inside the current loop's body.
    active: AtomicUsize,
    /// Set when a helper's body panicked.
    panicked: AtomicBool,
    /// Each helper's thread, and whether it sleeps.
    helpers: Vec<(Thread, AtomicBool)>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut helpers = Vec::new();
        for me in 0..num_threads() - 1 {
            // A helper first waits (in `pool()`) until this initializer is
            // done. One that cannot be spawned is simply not there.
            let spawned = std::thread::Builder::new()
                .name(format!("ingot-cpu-{}", me + 1))
                .spawn(move || helper(pool(), me));
            if let Ok(handle) = spawned {
                helpers.push((handle.thread().clone(), AtomicBool::new(false)));
            }
        }
        Pool {
            busy: Mutex::new(()),
            job: RwLock::new(None),
            width: AtomicUsize::new(0),
            epoch: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            helpers,
        }
    })
}

thread_local! {
    /// This thread's place in the pool: 0 for any thread that is not a
    /// helper, `i + 1` for helper `i`.
    static THREAD_INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The calling thread's place among the threads a loop runs on: 0 for the
/// thread that starts loops, `1..num_threads()` for the helpers (see
/// [`for_each_thread`]).
pub(crate) fn thread_index() -> usize {
    THREAD_INDEX.with(|i| i.get())
}

/// A helper's life: wait for a loop, run its body, repeat.
fn helper(pool: &'static Pool, me: usize) {
    THREAD_INDEX.with(|i| i.set(me + 1));
    let mut seen = pool.epoch.load(Ordering::SeqCst);
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        while pool.epoch.load(Ordering::SeqCst) == seen {
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || started.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let sleeping = &pool.helpers[me].1;
            sleeping.store(true, Ordering::SeqCst);
            if pool.epoch.load(Ordering::SeqCst) == seen {
                std::thread::park();
            }
            sleeping.store(false, Ordering::SeqCst);
        }
        seen = pool.epoch.load(Ordering::SeqCst);
        if me >= pool.width.load(Ordering::SeqCst) {
            // Not asked to join this loop.
            continue;
        }
        pool.active.fetch_add(1, Ordering::SeqCst);
        // The loop may have closed between the epoch bump and now.
        let job = *pool.job.read().unwrap_or_else(|e| e.into_inner());
        if let Some(Job(body)) = job {
            // SAFETY: `broadcast` keeps the body alive until `active` drops
            // back to zero, and this helper counted itself in before it read
            // the job.
            let body = unsafe { &*body };
            if catch_unwind(AssertUnwindSafe(body)).is_err() {
                pool.panicked.store(true, Ordering::SeqCst);
            }
        }
        pool.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `body` on the calling thread and on the first `helpers` helpers
/// that are free to join, and returns once all of them are done. The body
/// is expected to share out its work itself (see [`for_each_index_on`]).
fn broadcast(body: &(dyn Fn() + Sync), helpers: usize) {
    let pool = pool();
    let helpers = helpers.min(pool.helpers.len());
    if helpers == 0 {
        return body();
    }
    // A panic that went through a loop leaves `busy` poisoned; the pool
    // itself is fine.
    let _busy = match pool.busy.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return body(),
    };
    // SAFETY: only the lifetime is erased; the job is withdrawn below and
    // every helper that took it is waited for before this function returns.
    let job: *const (dyn Fn() + Sync + 'static) = unsafe { std::mem::transmute(body) };
    *pool.job.write().unwrap_or_else(|e| e.into_inner()) = Some(Job(job));
    pool.width.store(helpers, Ordering::SeqCst);
    pool.epoch.fetch_add(1, Ordering::SeqCst);
    for (thread, sleeping) in &pool.helpers[..helpers] {
        if sleeping.load(Ordering::SeqCst) {
            thread.unpark();
        }
    }
    let mine = catch_unwind(AssertUnwindSafe(body));
    *pool.job.write().unwrap_or_else(|e| e.into_inner()) = None;
    while pool.active.load(Ordering::SeqCst) != 0 {
        std::hint::spin_loop();
    }
    if let Err(payload) = mine {
        resume_unwind(payload);
    }
    if pool.panicked.swap(false, Ordering::SeqCst) {
        panic!("a CPU kernel panicked on a helper thread");
    }
}

/// Calls `f(state, i)` for every `i < n`, spread over the calling thread
/// and `threads - 1` helpers (the others do not join, and sleeping ones
/// stay asleep: a loop too short to keep every thread busy for long costs
/// less to start and finish on fewer), with a state each thread makes
/// once (scratch buffers), on its first task.
pub(crate) fn for_each_index_on<S>(
    threads: usize,
    n: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize) + Sync,
) {
    if n <= 1 {
        if n == 1 {
            f(&mut init(), 0);
        }
        return;
    }
    // A few runs of consecutive indices per thread: fewer trips to the
    // shared counters than one per index, and still some balancing.
    let threads = threads.clamp(1, num_threads());
    let runs = n.min(threads * 4);
    // The runs form one group per thread, in order, and each thread starts
    // on its own group: consecutive loops over the same data give a thread
    // the same part, which its caches may still hold (relu over 1M f32 on
    // a 16-core host, 4 threads: 130 us where each run went to whichever
    // thread asked first, PyTorch's static split 60). A thread done with
    // its group takes runs from the others that are left.
    let groups = threads.min(runs);
    let next: Vec<AtomicUsize> = (0..groups)
        .map(|g| AtomicUsize::new(g * runs / groups))
        .collect();
    broadcast(
        &|| {
            let mut state = None;
            let me = thread_index() % groups;
            for g in (0..groups).map(|d| (me + d) % groups) {
                let end = (g + 1) * runs / groups;
                loop {
                    let r = next[g].fetch_add(1, Ordering::Relaxed);
                    if r >= end {
                        break;
                    }
                    let s = state.get_or_insert_with(&init);
                    for i in r * n / runs..(r + 1) * n / runs {
                        f(s, i);
                    }
                }
            }
        },
        threads - 1,
    );
}

/// Calls `f(t)` for every thread index `t < num_threads()`, thread `t`
/// (see [`thread_index`]) running `f(t)` when it is free to join; a thread
/// done with its own index runs those of threads that have not started.
pub(crate) fn for_each_thread(f: impl Fn(usize) + Sync) {
    let threads = num_threads();
    let taken: Vec<AtomicBool> = (0..threads).map(|_| AtomicBool::new(false)).collect();
    broadcast(
        &|| {
            let me = thread_index() % threads;
            for t in (0..threads).map(|d| (me + d) % threads) {
                if !taken[t].swap(true, Ordering::Relaxed) {
                    f(t);
                }
            }
        },
        threads - 1,
    );
}

/// A pointer into a slice whose chunks tasks write, each its own.
struct Chunks<T> {
    ptr: *mut T,
    len: usize,
    size: usize,
}

// SAFETY: tasks reach disjoint chunks (each index is handed out once), and
// `T: Send` lets their elements be written from other threads.
unsafe impl<T: Send> Sync for Chunks<T> {}

impl<T> Chunks<T> {
    /// Chunk `i`.
    ///
    /// # Safety
    /// `i` must be below the chunk count and not handed out twice while
    /// the slice is borrowed.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self, i: usize) -> &mut [T] {
        let start = i * self.size;
        let len = self.size.min(self.len - start);
        // SAFETY: start + len <= len of the slice; the caller guarantees no
        // other reference to this chunk exists.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Calls `f(i, chunk)` for the chunks of `size` elements of `data` (the
/// last may be shorter), spread over the threads.
pub(crate) fn for_each_chunk<T: Send>(
    data: &mut [T],
    size: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    for_each_chunk_init(data, size, || (), |_, i, c| f(i, c));
}

/// [`for_each_chunk`] with a state each thread makes once.
pub(crate) fn for_each_chunk_init<T: Send, S>(
    data: &mut [T],
    size: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    for_each_chunk_on(num_threads(), data, size, init, f);
}

/// [`for_each_chunk_init`] on at most `threads` threads (see
/// [`for_each_index_on`]).
pub(crate) fn for_each_chunk_on<T: Send, S>(
    threads: usize,
    data: &mut [T],
    size: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync,
) {
    let size = size.max(1);
    let chunks = Chunks {
        ptr: data.as_mut_ptr(),
        len: data.len(),
        size,
    };
    for_each_index_on(threads, data.len().div_ceil(size), init, |s, i| {
        // SAFETY: each index below the chunk count is handed out once, and
        // `data` stays mutably borrowed until the loop returns.
        f(s, i, unsafe { chunks.get(i) })
    });
}

/// Calls `f(i, item)` for every item of `items`, spread over the threads.
pub(crate) fn for_each_item<T: Send>(items: &mut [T], f: impl Fn(usize, &mut T) + Sync) {
    for_each_item_init(items, || (), |_, i, item| f(i, item));
}

/// [`for_each_item`] on at most `threads` threads (see
/// [`for_each_index_on`]).
pub(crate) fn for_each_item_on<T: Send>(
    threads: usize,
    items: &mut [T],
    f: impl Fn(usize, &mut T) + Sync,
) {
    for_each_chunk_on(threads, items, 1, || (), |_, i, one| f(i, &mut one[0]));
}

/// [`for_each_item`] with a state each thread makes once.
pub(crate) fn for_each_item_init<T: Send, S>(
    items: &mut [T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &mut T) + Sync,
) {
    for_each_chunk_init(items, 1, init, |s, i, one| f(s, i, &mut one[0]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn for_each_index(n: usize, f: impl Fn(usize) + Sync) {
        for_each_index_on(num_threads(), n, || (), |_, i| f(i));
    }

    #[test]
    fn every_thread_index_runs_once() {
        let threads = num_threads();
        let runs: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
        for_each_thread(|t| {
            runs[t].fetch_add(1, Ordering::Relaxed);
        });
        // Nested in a loop, it runs on its calling thread alone.
        for_each_index(3, |_| {
            for_each_thread(|t| {
                runs[t].fetch_add(1, Ordering::Relaxed);
            })
        });
        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 4));
    }

    #[test]
    fn every_chunk_is_visited_once() {
        let mut data = vec![0u32; 1003];
        for_each_chunk(&mut data, 10, |i, c| {
            for (k, x) in c.iter_mut().enumerate() {
                *x += (i * 10 + k) as u32 + 1;
            }
        });
        assert!(data.iter().enumerate().all(|(k, &x)| x == k as u32 + 1));
    }

    /// Fewer indices than threads, as many as the runs, and more, not
    /// divisible by them: the runs' groups cover every index once.
    #[test]
    fn every_index_runs_once_whatever_the_count() {
        let threads = num_threads();
        for n in [1, 2, threads, threads * 4, threads * 4 + 1, 1003] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            for_each_index(n, |i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(
                hits.iter().all(|h| h.load(Ordering::Relaxed) == 1),
                "n = {n}"
            );
        }
    }

    /// A loop on fewer threads than the pool has runs on the calling thread
    /// and the first helpers only.
    #[test]
    fn a_narrow_loop_runs_on_its_first_threads() {
        for threads in 1..=num_threads() {
            let widest = AtomicUsize::new(0);
            let seen = AtomicUsize::new(0);
            for_each_index_on(
                threads,
                1000,
                || (),
                |_, _| {
                    widest.fetch_max(thread_index(), Ordering::Relaxed);
                    seen.fetch_add(1, Ordering::Relaxed);
                },
            );
            assert_eq!(seen.load(Ordering::Relaxed), 1000);
            assert!(
                widest.load(Ordering::Relaxed) < threads,
                "{threads} threads"
            );
        }
    }

    #[test]
    fn nested_and_concurrent_loops_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for_each_index(8, |_| {
                        for_each_index(5, |_| {
                            total.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 3 * 8 * 5);
    }

    #[test]
    fn each_thread_makes_its_state_once() {
        let made = AtomicUsize::new(0);
        let seen = AtomicUsize::new(0);
        for_each_index_on(
            num_threads(),
            100,
            || made.fetch_add(1, Ordering::Relaxed),
            |_, _| {
                seen.fetch_add(1, Ordering::Relaxed);
            },
        );
        assert_eq!(seen.load(Ordering::Relaxed), 100);
        assert!(made.load(Ordering::Relaxed) <= num_threads());
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_survives() {
        let r = catch_unwind(|| for_each_index(64, |i| assert!(i != 40, "task 40")));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        for_each_index(64, |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 64);
    }
}
