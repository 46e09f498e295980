//! The traits a backend implements to plug into ingot.
//!
//! A backend owns memory ([`Backend::upload`], [`Backend::download`]) and turns
//! a [`Graph`] into an [`Executable`] ([`Backend::compile`]). Core keeps the
//! compile cache, the lazy graph and autograd, so a backend only lowers the
//! IR. A backend is handed to users as a [`crate::Device`] built with
//! [`crate::Device::new`]; core has no list of backends.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use crate::ir::{Graph, TensorType};
use crate::{HostData, Result};

/// Memory a backend holds, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in buffers that are in use.
    pub bytes_allocated: u64,
    /// Bytes in freed buffers the allocator keeps for reuse.
    pub bytes_cached: u64,
}

/// A buffer owned by a backend. It is immutable once an executable has
/// produced it; tensors share it through [`Buffer`].
pub trait BackendBuffer: Send + Sync + Debug + Any {
    /// `self` as `Any`, so the owning backend can downcast it.
    fn as_any(&self) -> &dyn Any;
}

/// A shared handle to a backend buffer.
pub type Buffer = Arc<dyn BackendBuffer>;

/// A compiled graph, replayed with new input buffers on each run.
pub trait Executable: Send + Sync {
    /// Runs the graph on `inputs` (one per [`Graph::inputs`]) and returns one
    /// buffer per [`Graph::outputs`].
    fn run(&self, inputs: &[Buffer]) -> Result<Vec<Buffer>>;
}

/// A compute backend: memory plus a graph compiler.
pub trait Backend: Send + Sync + Debug {
    /// Where it runs, such as `cpu` or `metal:0`; two devices are equal when
    /// their locations are.
    fn location(&self) -> String;
    /// Copies host data into a new buffer.
    fn upload(&self, data: HostData) -> Result<Buffer>;
    /// Copies a buffer of type `ty` back to the host (row-major).
    fn download(&self, buffer: &Buffer, ty: &TensorType) -> Result<HostData>;
    /// Compiles a graph. Core caches the result by the graph's structure.
    fn compile(&self, graph: &Graph) -> Result<Arc<dyn Executable>>;
    /// Bytes in use and cached.
    fn memory(&self) -> MemoryStats;
    /// Releases cached free memory back to the system.
    fn empty_cache(&self);
    /// `self` as `Any`, so a backend crate can reach its own type (and its
    /// own counters) behind a [`crate::Device`].
    fn as_any(&self) -> &dyn Any;
}
