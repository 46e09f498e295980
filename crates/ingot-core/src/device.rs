//! [`Device`]: a backend plus its compile cache and counters.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::Result;
use crate::backend::{Backend, Executable};
use crate::ir::Graph;
use rustc_hash::FxHashMap;

/// Default number of compiled graphs a device keeps (LRU); override with the
/// `INGOT_COMPILE_CACHE_CAPACITY` environment variable or
/// [`Device::set_compile_cache_capacity`].
pub const DEFAULT_COMPILE_CACHE_CAPACITY: usize = 128;

/// Where tensors live and graphs run. Cheap to clone; two devices are equal
/// when they name the same location (`cpu`, `metal:0`, ...).
///
/// ```
/// use ingot::Device;
/// let cpu = Device::cpu();
/// assert_eq!(cpu, Device::cpu());
/// assert_eq!(cpu.location(), "cpu");
/// ```
#[derive(Clone)]
pub struct Device {
    inner: Arc<DeviceInner>,
}

struct DeviceInner {
    backend: Arc<dyn Backend>,
    location: String,
    cache: Mutex<CompileCache>,
    graphs_compiled: AtomicU64,
    cache_hits: AtomicU64,
    evals: AtomicU64,
}

/// Counters of the lazy engine and memory, from [`crate::stats`] (all devices)
/// or [`Device::stats`] (one device).
///
/// ```
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[3], DType::F32, &Device::cpu())?;
/// let before = Device::cpu().stats();
/// x.exp()?.sum_all()?.item::<f32>()?;
/// assert!(Device::cpu().stats().evals > before.evals);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Graphs compiled (compile-cache misses).
    pub graphs_compiled: u64,
    /// Evaluations that replayed a cached executable.
    pub cache_hits: u64,
    /// Graph evaluations run.
    pub evals: u64,
    /// Bytes in live buffers.
    pub bytes_allocated: u64,
    /// Bytes in freed buffers kept by allocators for reuse.
    pub bytes_cached: u64,
    /// Executables currently held by compile caches.
    pub cached_executables: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.graphs_compiled += o.graphs_compiled;
        self.cache_hits += o.cache_hits;
        self.evals += o.evals;
        self.bytes_allocated += o.bytes_allocated;
        self.bytes_cached += o.bytes_cached;
        self.cached_executables += o.cached_executables;
    }
}

fn registry() -> &'static Mutex<Vec<Weak<DeviceInner>>> {
    static DEVICES: OnceLock<Mutex<Vec<Weak<DeviceInner>>>> = OnceLock::new();
    DEVICES.get_or_init(|| Mutex::new(Vec::new()))
}

/// Counters summed over every device created in this process.
///
/// ```
/// let s = ingot::stats();
/// assert!(s.cache_hits <= s.evals);
/// ```
pub fn stats() -> Stats {
    let mut total = Stats::default();
    let mut devices = registry().lock().unwrap_or_else(|e| e.into_inner());
    devices.retain(|w| w.strong_count() > 0);
    for d in devices.iter().filter_map(Weak::upgrade) {
        total.add(&(Device { inner: d }).stats());
    }
    total
}

impl Device {
    /// Wraps a backend as a device with its own compile cache. Backend crates
    /// call this once per physical device and hand out clones.
    ///
    /// ```
    /// let cpu = ingot::Device::cpu();
    /// let again = ingot::Device::new(cpu.backend().clone());
    /// assert_eq!(cpu, again);
    /// ```
    pub fn new(backend: Arc<dyn Backend>) -> Device {
        let capacity = std::env::var("INGOT_COMPILE_CACHE_CAPACITY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_COMPILE_CACHE_CAPACITY);
        let inner = Arc::new(DeviceInner {
            location: backend.location(),
            backend,
            cache: Mutex::new(CompileCache::new(capacity)),
            graphs_compiled: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            evals: AtomicU64::new(0),
        });
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&inner));
        Device { inner }
    }

    /// The CPU device (always available).
    ///
    /// ```
    /// assert_eq!(ingot::Device::cpu().location(), "cpu");
    /// ```
    pub fn cpu() -> Device {
        static CPU: OnceLock<Device> = OnceLock::new();
        CPU.get_or_init(|| Device::new(Arc::new(crate::cpu::CpuBackend::new())))
            .clone()
    }

    /// The location string, such as `cpu` or `metal:0`.
    ///
    /// ```
    /// assert_eq!(ingot::Device::cpu().location(), "cpu");
    /// ```
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The backend behind this device.
    ///
    /// ```
    /// let mem = ingot::Device::cpu().backend().memory();
    /// assert!(mem.bytes_cached <= u64::MAX);
    /// ```
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// This device's counters.
    ///
    /// ```
    /// let s = ingot::Device::cpu().stats();
    /// assert!(s.graphs_compiled <= s.evals);
    /// ```
    pub fn stats(&self) -> Stats {
        let mem = self.inner.backend.memory();
        Stats {
            graphs_compiled: self.inner.graphs_compiled.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_hits.load(Ordering::Relaxed),
            evals: self.inner.evals.load(Ordering::Relaxed),
            bytes_allocated: mem.bytes_allocated,
            bytes_cached: mem.bytes_cached,
            cached_executables: self.lock_cache().entries.len() as u64,
        }
    }

    /// Bounds the number of compiled graphs kept (least recently used go
    /// first); 0 disables caching.
    ///
    /// ```
    /// let cpu = ingot::Device::cpu();
    /// cpu.set_compile_cache_capacity(256);
    /// assert_eq!(cpu.compile_cache_capacity(), 256);
    /// ```
    pub fn set_compile_cache_capacity(&self, capacity: usize) {
        let mut cache = self.lock_cache();
        cache.capacity = capacity;
        cache.evict_to_capacity();
    }

    /// The compile-cache bound.
    ///
    /// ```
    /// assert!(ingot::Device::cpu().compile_cache_capacity() > 0);
    /// ```
    pub fn compile_cache_capacity(&self) -> usize {
        self.lock_cache().capacity
    }

    /// Returns the allocator's free buffers to the system (like
    /// `torch.cuda.empty_cache`); buffers in use are untouched.
    ///
    /// ```
    /// ingot::Device::cpu().empty_cache();
    /// ```
    pub fn empty_cache(&self) {
        self.inner.backend.empty_cache();
    }

    /// Drops every compiled executable of this device.
    ///
    /// ```
    /// let cpu = ingot::Device::cpu();
    /// cpu.clear_compile_cache();
    /// assert_eq!(cpu.stats().cached_executables, 0);
    /// ```
    pub fn clear_compile_cache(&self) {
        self.lock_cache().entries.clear();
    }

    /// The executable for `graph`, compiled on a cache miss (which is
    /// when the cache keeps a copy of the graph).
    pub(crate) fn executable(&self, graph: &Graph) -> Result<Arc<dyn Executable>> {
        self.inner.evals.fetch_add(1, Ordering::Relaxed);
        if let Some(exe) = self.lock_cache().get(graph) {
            self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(exe);
        }
        // Compile without holding the lock: compiling can be slow and other
        // threads may evaluate unrelated graphs meanwhile.
        let exe = self.inner.backend.compile(graph)?;
        self.inner.graphs_compiled.fetch_add(1, Ordering::Relaxed);
        self.lock_cache().insert(graph.clone(), exe.clone());
        Ok(exe)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, CompileCache> {
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner.location == other.inner.location
    }
}
impl Eq for Device {}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.inner.location)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.location)
    }
}

/// Compiled executables keyed by graph structure, least recently used evicted.
struct CompileCache {
    capacity: usize,
    clock: u64,
    /// By FxHash (see [`Graph::structural_hash`]).
    entries: FxHashMap<Graph, (Arc<dyn Executable>, u64)>,
}

impl CompileCache {
    fn new(capacity: usize) -> Self {
        CompileCache {
            capacity,
            clock: 0,
            entries: FxHashMap::default(),
        }
    }

    fn get(&mut self, graph: &Graph) -> Option<Arc<dyn Executable>> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(graph).map(|(exe, used)| {
            *used = clock;
            exe.clone()
        })
    }

    fn insert(&mut self, graph: Graph, exe: Arc<dyn Executable>) {
        self.clock += 1;
        self.entries.insert(graph, (exe, self.clock));
        self.evict_to_capacity();
    }

    fn evict_to_capacity(&mut self) {
        while self.entries.len() > self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(g, _)| g.clone());
            match oldest {
                Some(g) => self.entries.remove(&g),
                None => break,
            };
        }
    }
}
