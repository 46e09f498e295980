//! The CPU caching allocator: freed buffers wait in per-(dtype, length) free
//! lists, so a training loop that repeats the same shapes allocates only in
//! its first step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::MemoryStats;
use crate::{DType, HostData};

/// Default bound on cached free bytes; override with `INGOT_CPU_CACHE_BYTES`.
const DEFAULT_CACHE_LIMIT: u64 = 2 << 30;

#[derive(Debug)]
pub(crate) struct Pool {
    free: Mutex<HashMap<(DType, usize), Vec<HostData>>>,
    allocated: AtomicU64,
    cached: AtomicU64,
    limit: u64,
}

impl Pool {
    pub fn new() -> Self {
        let limit = std::env::var("INGOT_CPU_CACHE_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_CACHE_LIMIT);
        Pool {
            free: Mutex::new(HashMap::new()),
            allocated: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            limit,
        }
    }

    /// A buffer of `len` elements: a cached one (holding stale values) or new zeros.
    pub fn take(&self, dtype: DType, len: usize) -> HostData {
        let reused = self.lock().get_mut(&(dtype, len)).and_then(Vec::pop);
        match reused {
            Some(data) => {
                self.cached
                    .fetch_sub(data.byte_len() as u64, Ordering::Relaxed);
                data
            }
            None => HostData::zeros(dtype, len),
        }
    }

    /// Counts a buffer handed out as live.
    pub fn track_alloc(&self, data: &HostData) {
        self.allocated
            .fetch_add(data.byte_len() as u64, Ordering::Relaxed);
    }

    /// Takes back a live buffer, keeping it for reuse while under the limit.
    pub fn recycle(&self, data: HostData) {
        let bytes = data.byte_len() as u64;
        self.allocated.fetch_sub(bytes, Ordering::Relaxed);
        if bytes == 0 || self.cached.load(Ordering::Relaxed) + bytes > self.limit {
            return;
        }
        self.cached.fetch_add(bytes, Ordering::Relaxed);
        self.lock()
            .entry((data.dtype(), data.len()))
            .or_default()
            .push(data);
    }

    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            bytes_allocated: self.allocated.load(Ordering::Relaxed),
            bytes_cached: self.cached.load(Ordering::Relaxed),
        }
    }

    pub fn clear(&self) {
        let mut free = self.lock();
        for list in free.values() {
            for d in list {
                self.cached
                    .fetch_sub(d.byte_len() as u64, Ordering::Relaxed);
            }
        }
        free.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(DType, usize), Vec<HostData>>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_buffers_are_reused_and_counted() {
        let pool = Pool::new();
        let a = pool.take(DType::F32, 16);
        pool.track_alloc(&a);
        assert_eq!(
            pool.stats(),
            MemoryStats {
                bytes_allocated: 64,
                bytes_cached: 0
            }
        );
        pool.recycle(a);
        assert_eq!(
            pool.stats(),
            MemoryStats {
                bytes_allocated: 0,
                bytes_cached: 64
            }
        );
        let b = pool.take(DType::F32, 16);
        assert_eq!(b.len(), 16);
        assert_eq!(pool.stats().bytes_cached, 0);
        pool.recycle(b);
        pool.clear();
        assert_eq!(pool.stats().bytes_cached, 0);
    }
}
