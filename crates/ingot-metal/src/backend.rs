//! [`MetalBackend`]: ingot's `Backend` for any [`Runtime`]: uploads and
//! downloads through the pool, lowers and compiles graphs, and runs them
//! with at most two runs in flight; host reads wait on the fence of the
//! run that writes the buffer they read, nothing else.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use ingot_core::backend::{Backend, Buffer, Executable, MemoryStats};
use ingot_core::ir::{Graph, TensorType};
use ingot_core::{Error, HostData, Result};

use crate::bytes;
use crate::lower::lower;
use crate::memory::{Fence, MetalBuffer, Pool, PoolStats};
use crate::program::MpsProgram;
use crate::runtime::Runtime;

/// Runs allowed in flight at once (one being encoded while the GPU runs
/// the previous).
pub const MAX_IN_FLIGHT: usize = 2;

/// Counters of a Metal (or simulated) device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetalStats {
    /// Graphs lowered and compiled into executables.
    pub executables_compiled: u64,
    /// Runs submitted.
    pub runs: u64,
    /// The most runs that were in flight at once.
    pub max_in_flight: u64,
    /// The buffer pool's counters.
    pub pool: PoolStats,
}

/// A counting semaphore bounding the runs in flight.
struct InFlight {
    count: Mutex<usize>,
    cv: Condvar,
    max_seen: AtomicU64,
}

impl InFlight {
    fn acquire(&self) {
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_IN_FLIGHT {
            n = self.cv.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        self.max_seen.fetch_max(*n as u64, Ordering::Relaxed);
    }

    fn release(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.cv.notify_one();
    }
}

struct Shared<R: Runtime> {
    pool: Arc<Pool<R>>,
    in_flight: InFlight,
    compiled: AtomicU64,
    runs: AtomicU64,
}

/// ingot's backend for a Metal device or the simulator.
pub struct MetalBackend<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> MetalBackend<R> {
    /// A backend over `runtime`.
    pub fn new(runtime: R) -> MetalBackend<R> {
        MetalBackend {
            shared: Arc::new(Shared {
                pool: Arc::new(Pool::new(Arc::new(runtime))),
                in_flight: InFlight {
                    count: Mutex::new(0),
                    cv: Condvar::new(),
                    max_seen: AtomicU64::new(0),
                },
                compiled: AtomicU64::new(0),
                runs: AtomicU64::new(0),
            }),
        }
    }

    /// The device's counters.
    pub fn stats(&self) -> MetalStats {
        MetalStats {
            executables_compiled: self.shared.compiled.load(Ordering::Relaxed),
            runs: self.shared.runs.load(Ordering::Relaxed),
            max_in_flight: self.shared.in_flight.max_seen.load(Ordering::Relaxed),
            pool: self.shared.pool.stats(),
        }
    }

    fn runtime(&self) -> &Arc<R> {
        self.shared.pool.runtime()
    }
}

impl<R: Runtime> fmt::Debug for MetalBackend<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MetalBackend({})", self.runtime().location())
    }
}

fn buffer_of<'a, R: Runtime>(buffer: &'a Buffer, location: &str) -> Result<&'a MetalBuffer<R>> {
    buffer
        .as_any()
        .downcast_ref::<MetalBuffer<R>>()
        .ok_or_else(|| Error::Backend {
            backend: location.to_string(),
            msg: format!("not a buffer of this device: {buffer:?}"),
        })
}

impl<R: Runtime> Backend for MetalBackend<R> {
    fn location(&self) -> String {
        self.runtime().location()
    }

    fn upload(&self, data: HostData) -> Result<Buffer> {
        let bytes = bytes::to_bytes(&data)?;
        let buffer = MetalBuffer::new(&self.shared.pool, bytes.len(), Fence::ready())?;
        self.runtime().write(buffer.memory(), &bytes);
        Ok(Arc::new(buffer))
    }

    fn download(&self, buffer: &Buffer, ty: &TensorType) -> Result<HostData> {
        let location = self.location();
        let b = buffer_of::<R>(buffer, &location)?;
        b.fence.wait().map_err(|msg| Error::Backend {
            backend: location.clone(),
            msg: format!("the run computing this tensor failed: {msg}"),
        })?;
        let len = ty.numel() * ty.dtype.size_in_bytes();
        if len > b.capacity() {
            return Err(Error::Backend {
                backend: location,
                msg: format!(
                    "a {} byte buffer cannot hold {:?} {}",
                    b.capacity(),
                    ty.shape,
                    ty.dtype
                ),
            });
        }
        bytes::from_bytes(&self.runtime().read(b.memory(), len), ty.dtype, ty.numel())
    }

    fn compile(&self, graph: &Graph) -> Result<Arc<dyn Executable>> {
        let program = lower(graph)?;
        let compiled = self.runtime().compile(&program)?;
        self.shared.compiled.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(MetalExecutable {
            program,
            compiled,
            shared: self.shared.clone(),
        }))
    }

    fn memory(&self) -> MemoryStats {
        self.shared.pool.memory()
    }

    fn empty_cache(&self) {
        self.shared.pool.empty_cache();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A compiled graph: its program and the runtime's executable.
struct MetalExecutable<R: Runtime> {
    program: MpsProgram,
    compiled: R::Compiled,
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Executable for MetalExecutable<R> {
    fn run(&self, inputs: &[Buffer]) -> Result<Vec<Buffer>> {
        let runtime = self.shared.pool.runtime();
        let location = runtime.location();
        if inputs.len() != self.program.feeds.len() {
            return Err(Error::Backend {
                backend: location,
                msg: format!(
                    "{} inputs for {} feeds",
                    inputs.len(),
                    self.program.feeds.len()
                ),
            });
        }
        let ins = inputs
            .iter()
            .map(|b| buffer_of::<R>(b, &location))
            .collect::<Result<Vec<_>>>()?;
        let fence = Arc::new(Fence::default());
        let outs = self
            .program
            .targets
            .iter()
            .map(|&t| {
                let ty = &self.program.nodes[t].ty;
                MetalBuffer::new(
                    &self.shared.pool,
                    ty.numel() * ty.dtype.size(),
                    fence.clone(),
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>>>()?;
        self.shared.in_flight.acquire();
        self.shared.runs.fetch_add(1, Ordering::Relaxed);
        // The run holds its inputs and outputs until it completes, so
        // their memory returns to the pool only after the GPU is done.
        let held_inputs: Vec<Buffer> = inputs.to_vec();
        let held_outputs = outs.clone();
        let shared = self.shared.clone();
        let done_fence = fence.clone();
        let done = Box::new(move |outcome: Result<()>| {
            done_fence.signal(outcome.map_err(|e| e.to_string()));
            drop(held_inputs);
            drop(held_outputs);
            shared.in_flight.release();
        });
        let in_mem: Vec<&R::Memory> = ins.iter().map(|b| b.memory()).collect();
        let out_mem: Vec<&R::Memory> = outs.iter().map(|b| b.memory()).collect();
        runtime.submit(&self.compiled, &self.program, &in_mem, &out_mem, done);
        Ok(outs.into_iter().map(|b| b as Buffer).collect())
    }
}
