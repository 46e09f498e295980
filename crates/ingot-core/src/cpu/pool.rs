//! The CPU caching allocator: buffers that kernels wrote and that were freed
//! wait in per-(dtype, length) free lists, so a training loop that repeats
//! the same shapes allocates only in its first step.
//!
//! The cache follows the working set. It holds at most as many bytes as were
//! ever live at once (the high-water mark of [`MemoryStats::bytes_allocated`],
//! at least [`MIN_CACHE_LIMIT`]), or `INGOT_CPU_CACHE_BYTES` if that is set;
//! past the bound, the buffers freed longest ago go first. Buffers uploaded
//! from the host (a fresh batch each step) are not cached at all: kernels
//! never ask for them back, so keeping them would only grow the cache by one
//! batch a step.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::MemoryStats;
use crate::ir::TensorType;
use crate::{Error, HostData, Result};

/// The least the cache may hold when the working set is smaller: enough for
/// a small model's step to find every buffer it freed in the previous one.
const MIN_CACHE_LIMIT: u64 = 16 << 20;

/// The free lists, in the order their buffers were freed.
#[derive(Debug, Default)]
struct FreeLists {
    /// Per (dtype, length): buffers with the stamp of their recycling,
    /// oldest first.
    lists: rustc_hash::FxHashMap<(crate::DType, usize), VecDeque<(u64, HostData)>>,
    /// Every recycled buffer's stamp and key, oldest first; entries whose
    /// buffer was taken since are skipped when evicting.
    order: VecDeque<(u64, (crate::DType, usize))>,
    next_stamp: u64,
    /// Buffers in `lists`.
    held: usize,
}

impl FreeLists {
    /// Drops the buffer freed longest ago; its bytes, or `None` when empty.
    fn evict_oldest(&mut self) -> Option<u64> {
        while let Some((stamp, key)) = self.order.pop_front() {
            let Some(list) = self.lists.get_mut(&key) else {
                continue;
            };
            if list.front().is_some_and(|(s, _)| *s == stamp) {
                let (_, data) = list.pop_front()?;
                if list.is_empty() {
                    self.lists.remove(&key);
                }
                self.held -= 1;
                return Some(data.byte_len() as u64);
            }
        }
        None
    }

    /// Drops `order` entries of buffers taken since, and the lists left
    /// empty, once the entries outnumber the buffers held, so that both stay
    /// as long as the cache.
    fn compact(&mut self) {
        if self.order.len() <= 2 * self.held + 64 {
            return;
        }
        self.lists.retain(|_, l| !l.is_empty());
        let lists = &self.lists;
        self.order.retain(|(stamp, key)| {
            lists
                .get(key)
                .is_some_and(|l| l.iter().any(|(s, _)| s == stamp))
        });
    }
}

#[derive(Debug)]
pub(crate) struct Pool {
    free: Mutex<FreeLists>,
    allocated: AtomicU64,
    /// The most bytes ever live at once.
    peak: AtomicU64,
    cached: AtomicU64,
    /// A fixed bound from `INGOT_CPU_CACHE_BYTES`; `None` follows `peak`.
    fixed_limit: Option<u64>,
}

impl Pool {
    pub fn new() -> Self {
        Pool::with_limit(
            std::env::var("INGOT_CPU_CACHE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok()),
        )
    }

    fn with_limit(fixed_limit: Option<u64>) -> Self {
        Pool {
            free: Mutex::new(FreeLists::default()),
            allocated: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            cached: AtomicU64::new(0),
            fixed_limit,
        }
    }

    /// The bound on cached bytes now.
    fn limit(&self) -> u64 {
        self.fixed_limit
            .unwrap_or_else(|| self.peak.load(Ordering::Relaxed).max(MIN_CACHE_LIMIT))
    }

    /// A buffer for a kernel's output of type `ty`: a cached one (holding
    /// stale values) or new zeros; an error naming the tensor and its bytes
    /// when the memory cannot be had.
    pub fn take(&self, ty: &TensorType) -> Result<HostData> {
        let len = ty.numel();
        // One lookup: a list emptied here stays in the map (a loop refills
        // it when the step frees the buffer again); `compact` drops the
        // empty ones with the rest of the stale bookkeeping.
        let reused = {
            let mut free = self.lock();
            let data = free
                .lists
                .get_mut(&(ty.dtype, len))
                .and_then(|l| l.pop_back());
            if data.is_some() {
                free.held -= 1;
            }
            data
        };
        match reused {
            Some((_, data)) => {
                self.cached
                    .fetch_sub(data.byte_len() as u64, Ordering::Relaxed);
                Ok(data)
            }
            None => HostData::try_zeros(ty.dtype, len).ok_or_else(|| Error::OutOfMemory {
                device: "cpu".into(),
                bytes: (len as u64).saturating_mul(ty.dtype.size_in_bytes() as u64),
                what: format!("a {:?} {} tensor", ty.shape, ty.dtype),
            }),
        }
    }

    /// Counts a buffer handed out as live.
    pub fn track_alloc(&self, data: &HostData) {
        let bytes = data.byte_len() as u64;
        let live = self.allocated.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(live, Ordering::Relaxed);
    }

    /// Takes back a live buffer. One a kernel wrote (`reusable`) is kept for
    /// reuse, evicting the buffers freed longest ago to stay within the
    /// limit; an uploaded one is freed.
    pub fn recycle(&self, data: HostData, reusable: bool) {
        let bytes = data.byte_len() as u64;
        self.allocated.fetch_sub(bytes, Ordering::Relaxed);
        let limit = self.limit();
        if !reusable || bytes == 0 || bytes > limit {
            return;
        }
        let mut free = self.lock();
        while self.cached.load(Ordering::Relaxed) + bytes > limit {
            match free.evict_oldest() {
                Some(b) => {
                    self.cached.fetch_sub(b, Ordering::Relaxed);
                }
                None => break,
            }
        }
        let key = (data.dtype(), data.len());
        let stamp = free.next_stamp;
        free.next_stamp += 1;
        free.lists.entry(key).or_default().push_back((stamp, data));
        free.order.push_back((stamp, key));
        free.held += 1;
        free.compact();
        self.cached.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn stats(&self) -> MemoryStats {
        MemoryStats {
            bytes_allocated: self.allocated.load(Ordering::Relaxed),
            bytes_cached: self.cached.load(Ordering::Relaxed),
        }
    }

    pub fn clear(&self) {
        let mut free = self.lock();
        *free = FreeLists::default();
        self.cached.store(0, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FreeLists> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;

    fn f32s(n: usize) -> TensorType {
        TensorType {
            shape: vec![n],
            dtype: DType::F32,
        }
    }

    #[test]
    fn freed_buffers_are_reused_and_counted() {
        let pool = Pool::with_limit(None);
        let a = pool.take(&f32s(16)).unwrap();
        pool.track_alloc(&a);
        assert_eq!(
            pool.stats(),
            MemoryStats {
                bytes_allocated: 64,
                bytes_cached: 0
            }
        );
        pool.recycle(a, true);
        assert_eq!(
            pool.stats(),
            MemoryStats {
                bytes_allocated: 0,
                bytes_cached: 64
            }
        );
        let b = pool.take(&f32s(16)).unwrap();
        assert_eq!(b.len(), 16);
        assert_eq!(pool.stats().bytes_cached, 0);
        pool.recycle(b, true);
        pool.clear();
        assert_eq!(pool.stats().bytes_cached, 0);
    }

    #[test]
    fn uploaded_buffers_are_not_cached() {
        let pool = Pool::with_limit(None);
        for _ in 0..100 {
            let upload = HostData::zeros(DType::F32, 1000);
            pool.track_alloc(&upload);
            pool.recycle(upload, false);
        }
        assert_eq!(pool.stats(), MemoryStats::default());
    }

    #[test]
    fn the_oldest_buffers_go_first_past_the_limit() {
        let pool = Pool::with_limit(Some(3 * 400));
        // Four buffers of distinct lengths, freed in order: the first goes.
        for n in [100, 101, 102, 103] {
            let d = pool.take(&f32s(n)).unwrap();
            pool.track_alloc(&d);
            pool.recycle(d, true);
        }
        assert!(pool.stats().bytes_cached <= 1200);
        let lists = pool.lock();
        assert!(!lists.lists.contains_key(&(DType::F32, 100)));
        assert!(lists.lists.contains_key(&(DType::F32, 103)));
        assert!(lists.order.len() <= 2 * lists.held + 64);
    }

    #[test]
    fn the_cache_follows_the_peak_of_live_bytes() {
        let pool = Pool::with_limit(None);
        // 64 MiB live at once, then freed: all of it may stay cached.
        let big: Vec<_> = (0..4)
            .map(|_| {
                let d = pool.take(&f32s(4 << 20)).unwrap();
                pool.track_alloc(&d);
                d
            })
            .collect();
        for d in big {
            pool.recycle(d, true);
        }
        assert_eq!(pool.stats().bytes_cached, 64 << 20);
        // Many distinct shapes, each live alone: the cache stays at the peak.
        for n in 0..300 {
            let d = pool.take(&f32s(1 << 20 | n)).unwrap();
            pool.track_alloc(&d);
            pool.recycle(d, true);
        }
        assert!(pool.stats().bytes_cached <= 64 << 20);
        assert_eq!(pool.stats().bytes_allocated, 0);
    }

    #[test]
    fn an_allocation_that_cannot_succeed_is_an_error() {
        let pool = Pool::with_limit(None);
        let ty = TensorType {
            shape: vec![1 << 40, 1 << 10],
            dtype: DType::F32,
        };
        let err = pool.take(&ty).unwrap_err().to_string();
        assert!(err.contains("[1099511627776, 1024] float32"), "{err}");
    }
}
