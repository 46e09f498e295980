//! The buffer pool: a bounded caching allocator over [`Runtime`] memory,
//! and the fences that make host reads wait for the run that writes them.
//!
//! Sizes round up to buckets (powers of two up to 1 MiB, then whole MiB),
//! so freed buffers fit later requests. A freed buffer goes back to its
//! bucket unless the cache would pass the *low watermark* (half the
//! device's recommended working set), in which case it is released. An
//! allocation that would take live plus cached memory past the *high
//! watermark* (the whole recommended working set) first empties the cache,
//! then fails with an out-of-memory error instead of letting the GPU page.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};

use ingot_core::backend::{BackendBuffer, MemoryStats};
use ingot_core::{Error, Result};

use crate::runtime::Runtime;

const MIB: usize = 1 << 20;

/// The bucket a request of `bytes` is served from.
pub fn bucket(bytes: usize) -> usize {
    let bytes = bytes.max(1);
    if bytes <= MIB {
        bytes.next_power_of_two().max(256)
    } else {
        bytes.div_ceil(MIB) * MIB
    }
}

/// Counters of a pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes in buffers in use (bucket sizes).
    pub bytes_in_use: u64,
    /// Bytes in freed buffers kept for reuse.
    pub bytes_cached: u64,
    /// The most bytes ever in use at once.
    pub peak_bytes_in_use: u64,
    /// Buffers obtained from the device.
    pub allocations: u64,
    /// Requests served from the cache.
    pub reuses: u64,
    /// Buffers given back to the device.
    pub releases: u64,
    /// Live plus cached bytes may not pass this.
    pub high_watermark: u64,
    /// Cached bytes beyond this are released.
    pub low_watermark: u64,
}

struct PoolState<M> {
    free: BTreeMap<usize, Vec<M>>,
    stats: PoolStats,
}

/// The caching allocator of one device.
pub struct Pool<R: Runtime> {
    runtime: Arc<R>,
    state: Mutex<PoolState<R::Memory>>,
}

impl<R: Runtime> Pool<R> {
    /// A pool with watermarks from the device's working-set size.
    pub fn new(runtime: Arc<R>) -> Pool<R> {
        let high = runtime.working_set_size();
        Pool {
            runtime,
            state: Mutex::new(PoolState {
                free: BTreeMap::new(),
                stats: PoolStats {
                    high_watermark: high,
                    low_watermark: high / 2,
                    ..Default::default()
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState<R::Memory>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of at least `bytes` bytes, from the cache if one fits.
    pub fn allocate(self: &Arc<Self>, bytes: usize) -> Result<(R::Memory, usize)> {
        let size = bucket(bytes);
        let mut s = self.lock();
        if let Some(memory) = s.free.get_mut(&size).and_then(Vec::pop) {
            s.stats.bytes_cached -= size as u64;
            s.stats.reuses += 1;
            s.stats.bytes_in_use += size as u64;
            s.stats.peak_bytes_in_use = s.stats.peak_bytes_in_use.max(s.stats.bytes_in_use);
            return Ok((memory, size));
        }
        let needed = s.stats.bytes_in_use + s.stats.bytes_cached + size as u64;
        if needed > s.stats.high_watermark {
            let dropped = std::mem::take(&mut s.free);
            s.stats.releases += dropped.values().map(|v| v.len() as u64).sum::<u64>();
            s.stats.bytes_cached = 0;
            if s.stats.bytes_in_use + size as u64 > s.stats.high_watermark {
                return Err(Error::Backend {
                    backend: self.runtime.location(),
                    msg: format!(
                        "out of memory: {size} more bytes would pass the device's working set \
                         of {} bytes ({} in use); use smaller batches or free tensors",
                        s.stats.high_watermark, s.stats.bytes_in_use
                    ),
                });
            }
        }
        let memory = self.runtime.allocate(size)?;
        s.stats.allocations += 1;
        s.stats.bytes_in_use += size as u64;
        s.stats.peak_bytes_in_use = s.stats.peak_bytes_in_use.max(s.stats.bytes_in_use);
        Ok((memory, size))
    }

    /// Takes back a buffer of bucket `size`.
    fn release(&self, memory: R::Memory, size: usize) {
        let mut s = self.lock();
        s.stats.bytes_in_use -= size as u64;
        if s.stats.bytes_cached + size as u64 > s.stats.low_watermark {
            s.stats.releases += 1;
            return;
        }
        s.stats.bytes_cached += size as u64;
        s.free.entry(size).or_default().push(memory);
    }

    /// Releases every cached buffer.
    pub fn empty_cache(&self) {
        let mut s = self.lock();
        let dropped = std::mem::take(&mut s.free);
        s.stats.releases += dropped.values().map(|v| v.len() as u64).sum::<u64>();
        s.stats.bytes_cached = 0;
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        self.lock().stats
    }

    /// Bytes in use and cached, for `ingot::stats()`.
    pub fn memory(&self) -> MemoryStats {
        let s = self.stats();
        MemoryStats {
            bytes_allocated: s.bytes_in_use,
            bytes_cached: s.bytes_cached,
        }
    }

    pub fn runtime(&self) -> &Arc<R> {
        &self.runtime
    }
}

/// Signals when the run that writes a buffer has finished.
#[derive(Default)]
pub struct Fence {
    state: Mutex<Option<std::result::Result<(), String>>>,
    cv: Condvar,
}

impl Fence {
    /// A fence already signalled (uploaded data).
    pub fn ready() -> Arc<Fence> {
        let f = Fence::default();
        *f.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(Ok(()));
        Arc::new(f)
    }

    /// Records the run's outcome and wakes the waiters.
    pub fn signal(&self, outcome: std::result::Result<(), String>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        self.cv.notify_all();
    }

    /// Blocks until signalled; the run's error, if it failed.
    pub fn wait(&self) -> std::result::Result<(), String> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while s.is_none() {
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.clone().expect("signalled")
    }
}

/// A tensor's device memory; it returns to its pool when the last
/// reference (tensors, and runs still reading or writing it) goes.
pub struct MetalBuffer<R: Runtime> {
    memory: Option<R::Memory>,
    size: usize,
    pool: Arc<Pool<R>>,
    /// Signalled when the run writing this buffer finishes.
    pub fence: Arc<Fence>,
}

impl<R: Runtime> MetalBuffer<R> {
    /// A buffer of at least `bytes` bytes from `pool`.
    pub fn new(pool: &Arc<Pool<R>>, bytes: usize, fence: Arc<Fence>) -> Result<MetalBuffer<R>> {
        let (memory, size) = pool.allocate(bytes)?;
        Ok(MetalBuffer {
            memory: Some(memory),
            size,
            pool: pool.clone(),
            fence,
        })
    }

    /// The device memory.
    pub fn memory(&self) -> &R::Memory {
        self.memory.as_ref().expect("present until dropped")
    }

    /// Bytes reserved (the bucket size).
    pub fn capacity(&self) -> usize {
        self.size
    }
}

impl<R: Runtime> Drop for MetalBuffer<R> {
    fn drop(&mut self) {
        if let Some(memory) = self.memory.take() {
            self.pool.release(memory, self.size);
        }
    }
}

impl<R: Runtime> fmt::Debug for MetalBuffer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "MetalBuffer({} bytes on {})",
            self.size,
            self.pool.runtime.location()
        )
    }
}

impl<R: Runtime> BackendBuffer for MetalBuffer<R> {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_up() {
        assert_eq!(bucket(1), 256);
        assert_eq!(bucket(300), 512);
        assert_eq!(bucket(MIB), MIB);
        assert_eq!(bucket(MIB + 1), 2 * MIB);
        assert_eq!(bucket(5 * MIB - 3), 5 * MIB);
    }

    #[test]
    fn a_fence_reports_the_runs_outcome() {
        let f = Arc::new(Fence::default());
        let g = f.clone();
        let t = std::thread::spawn(move || g.wait());
        f.signal(Err("GPU error".into()));
        assert_eq!(t.join().unwrap(), Err("GPU error".to_string()));
        assert_eq!(Fence::ready().wait(), Ok(()));
    }
}
