//! [`Runtime`]: the few things that differ between the real GPU and the
//! simulator. Everything above it (lowering, the buffer pool, fences, the
//! in-flight limit, the executable cache) is shared, so the simulator
//! exercises the same code paths as the GPU.

use ingot_core::Result;

use crate::program::MpsProgram;

/// Called once a submitted run has finished (with its error, if it failed),
/// possibly on another thread (a Metal completion handler).
pub type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// Memory, compilation and submission of one device.
pub trait Runtime: Send + Sync + 'static {
    /// One buffer of device memory (an `MTLBuffer` on the GPU).
    type Memory: Send + Sync + 'static;
    /// A compiled program (an `MPSGraphExecutable` on the GPU).
    type Compiled: Send + Sync + 'static;

    /// Where it runs, such as `metal:0`.
    fn location(&self) -> String;
    /// `recommendedMaxWorkingSetSize`: the bytes the device can use well.
    fn working_set_size(&self) -> u64;
    /// A new buffer of `bytes` bytes.
    fn allocate(&self, bytes: usize) -> Result<Self::Memory>;
    /// Copies `bytes` to the start of `memory` (shared storage: a memcpy).
    fn write(&self, memory: &Self::Memory, bytes: &[u8]);
    /// Copies the first `len` bytes of `memory` out.
    fn read(&self, memory: &Self::Memory, len: usize) -> Vec<u8>;
    /// Builds and compiles a program.
    fn compile(&self, program: &MpsProgram) -> Result<Self::Compiled>;
    /// Encodes one run of `compiled` reading `inputs` (one per feed) and
    /// writing `outputs` (one per target), commits it, and calls `done`
    /// exactly once: when it has finished, or with the error that stopped
    /// it (the error then surfaces where a result is read). Runs complete
    /// in submission order.
    fn submit(
        &self,
        compiled: &Self::Compiled,
        program: &MpsProgram,
        inputs: &[&Self::Memory],
        outputs: &[&Self::Memory],
        done: Completion,
    );
}
