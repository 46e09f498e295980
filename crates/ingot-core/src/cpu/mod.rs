//! The CPU backend: the reference implementation of every IR op, and the
//! default device.
//!
//! [`CpuBackend::compile`] plans a graph once (see `plan`): elementwise
//! chains become fused kernels that make one pass over memory, movement ops
//! become strided views that cost nothing, and every buffer is freed to a
//! caching pool after its last use. Running the plan walks its steps; large
//! kernels split their work over the backend's threads (see `parallel`).

mod conv_bias;
mod exec;
mod fused;
mod halfs;
mod kernels;
mod parallel;
mod plan;
mod pool;
mod profile;
mod view;
pub(crate) mod vmath;

use std::any::Any;
use std::sync::Arc;

use crate::backend::{Backend, BackendBuffer, Buffer, Executable, MemoryStats};
use crate::ir::{Graph, TensorType};
use crate::{Error, HostData, Result};

pub(crate) use pool::Pool;
pub use profile::{KernelTime, take_profile};

/// How many threads the CPU backend spreads large kernels over: the
/// `INGOT_NUM_THREADS` environment variable if set (read once, at the first
/// use), else the number of cores.
///
/// ```
/// assert!(ingot::cpu::num_threads() >= 1);
/// ```
pub fn num_threads() -> usize {
    parallel::num_threads()
}

/// Whether the CPU has AVX2 and FMA, for the kernels that also have a
/// build for them (the fused interpreter, 2x2 max-pool backward, the
/// convolutions' transposes, and [`run_widest`]).
#[cfg(target_arch = "x86_64")]
pub(crate) fn wide_simd() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Whether the CPU also has AVX-512F (see [`run_widest`]).
#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    wide_simd() && std::is_x86_feature_detected!("avx512f")
}

/// Work that [`run_widest`] runs in the widest build of vector
/// instructions the CPU has. `run` must be `#[inline(always)]`, so that
/// each build gets its own copy of the loops.
pub(crate) trait Widest {
    fn run(self);
}

/// Runs `work` compiled for AVX-512F where the CPU has it, else for AVX2
/// and FMA, else for the baseline: for the kernels whose arithmetic
/// outweighs their memory traffic (the `vmath` functions in the fused
/// kernels, softmax, reductions over leading axes). The builds do the same
/// arithmetic, so they give the same results.
pub(crate) fn run_widest<W: Widest>(work: W) {
    #[cfg(target_arch = "x86_64")]
    {
        if avx512() {
            // SAFETY: `avx512` checked at run time that this CPU has the
            // AVX-512F, AVX2 and FMA instructions the build is for.
            return unsafe { run_avx512(work) };
        }
        if wide_simd() {
            // SAFETY: `wide_simd` checked at run time that this CPU has the
            // AVX2 and FMA instructions the build is for.
            return unsafe { run_avx2(work) };
        }
    }
    work.run();
}

/// [`Widest::run`] compiled for AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<W: Widest>(work: W) {
    work.run();
}

/// [`Widest::run`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<W: Widest>(work: W) {
    work.run();
}

/// The CPU backend. Use it through [`crate::Device::cpu`].
#[derive(Debug)]
pub struct CpuBackend {
    pool: Arc<Pool>,
}

impl CpuBackend {
    /// A backend with its own buffer pool.
    pub(crate) fn new() -> Self {
        CpuBackend {
            pool: Arc::new(Pool::new()),
        }
    }
}

/// A CPU buffer: typed host memory that returns to its pool when dropped.
#[derive(Debug)]
pub struct CpuBuffer {
    data: HostData,
    pool: Arc<Pool>,
    /// Whether a kernel wrote it (the pool keeps it for reuse), rather than
    /// an upload (the pool frees it).
    reusable: bool,
}

impl CpuBuffer {
    /// A buffer a kernel wrote, which the pool reuses once it is dropped.
    pub(crate) fn new(data: HostData, pool: &Arc<Pool>) -> Self {
        pool.track_alloc(&data);
        CpuBuffer {
            data,
            pool: pool.clone(),
            reusable: true,
        }
    }

    /// A buffer uploaded from the host, freed once it is dropped.
    fn uploaded(data: HostData, pool: &Arc<Pool>) -> Self {
        pool.track_alloc(&data);
        CpuBuffer {
            data,
            pool: pool.clone(),
            reusable: false,
        }
    }

    /// The elements.
    pub fn data(&self) -> &HostData {
        &self.data
    }
}

impl Drop for CpuBuffer {
    fn drop(&mut self) {
        let data = std::mem::replace(&mut self.data, HostData::U8(Vec::new()));
        self.pool.recycle(data, self.reusable);
    }
}

impl BackendBuffer for CpuBuffer {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The CPU buffer behind a [`Buffer`], or an error naming what it was.
pub(crate) fn cpu_data(buffer: &Buffer) -> Result<&HostData> {
    buffer
        .as_any()
        .downcast_ref::<CpuBuffer>()
        .map(CpuBuffer::data)
        .ok_or_else(|| Error::Backend {
            backend: "cpu".into(),
            msg: format!("not a CPU buffer: {buffer:?}"),
        })
}

impl Backend for CpuBackend {
    fn location(&self) -> String {
        "cpu".into()
    }

    fn upload(&self, data: HostData) -> Result<Buffer> {
        Ok(Arc::new(CpuBuffer::uploaded(data, &self.pool)))
    }

    fn download(&self, buffer: &Buffer, ty: &TensorType) -> Result<HostData> {
        let data = cpu_data(buffer)?;
        if data.dtype() != ty.dtype || data.len() != ty.numel() {
            return Err(Error::Backend {
                backend: "cpu".into(),
                msg: format!(
                    "buffer of {} {} does not hold a {:?} {} tensor",
                    data.len(),
                    data.dtype(),
                    ty.shape,
                    ty.dtype
                ),
            });
        }
        data.try_clone().ok_or_else(|| Error::OutOfMemory {
            device: "cpu".into(),
            bytes: data.byte_len() as u64,
            what: format!("a host copy of a {:?} {} tensor", ty.shape, ty.dtype),
        })
    }

    fn compile(&self, graph: &Graph) -> Result<Arc<dyn Executable>> {
        Ok(Arc::new(exec::CpuExecutable::new(
            plan::plan(graph)?,
            self.pool.clone(),
        )))
    }

    fn memory(&self) -> MemoryStats {
        self.pool.stats()
    }

    fn empty_cache(&self) {
        self.pool.clear();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
