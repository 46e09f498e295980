//! [`MetalRuntime`]: `MTLBuffer`s, compilation and command buffers of one
//! Metal GPU.

use std::ptr::NonNull;
use std::sync::Mutex;

use block2::RcBlock;
use ingot_core::{Error, Result};
use objc2::AnyThread;
use objc2::rc::{Retained, autoreleasepool};
use objc2::runtime::ProtocolObject;
use objc2_foundation::NSArray;
use objc2_metal::{
    MTLBuffer, MTLCommandBuffer, MTLCommandBufferStatus, MTLCommandQueue, MTLCopyAllDevices,
    MTLDevice, MTLResourceOptions,
};
use objc2_metal_performance_shaders::MPSCommandBuffer;
use objc2_metal_performance_shaders_graph::{
    MPSGraphDevice, MPSGraphExecutable, MPSGraphTensorData,
};

use super::graph::{self, mps_data_type, mps_shape};
use crate::program::MpsProgram;
use crate::runtime::{Completion, Runtime};

/// How many Metal GPUs this Mac has.
pub(super) fn device_count() -> usize {
    MTLCopyAllDevices().count()
}

/// One Metal GPU and its command queue.
pub struct MetalRuntime {
    index: usize,
    device: Retained<ProtocolObject<dyn MTLDevice>>,
    queue: Retained<ProtocolObject<dyn MTLCommandQueue>>,
    graph_device: Retained<MPSGraphDevice>,
    /// Encoding is serialized: one command buffer is built at a time.
    encoding: Mutex<()>,
}

// SAFETY: Apple documents MTLDevice and MTLCommandQueue as thread-safe;
// MPSGraphDevice is an immutable wrapper of the MTLDevice; encoding, the one
// operation that is not thread-safe, happens under `encoding`.
unsafe impl Send for MetalRuntime {}
// SAFETY: as above.
unsafe impl Sync for MetalRuntime {}

/// A shared-storage `MTLBuffer`.
pub struct MetalMemory(Retained<ProtocolObject<dyn MTLBuffer>>);

// SAFETY: retain/release of an MTLBuffer is thread-safe; its contents are
// only touched by the host after the fence of the run writing it, and by a
// run only while the pool keeps the buffer out of other hands.
unsafe impl Send for MetalMemory {}
// SAFETY: as above.
unsafe impl Sync for MetalMemory {}

/// An `MPSGraphExecutable` and the order of its feeds.
pub struct Compiled {
    executable: Retained<MPSGraphExecutable>,
    /// For each of the executable's feeds, in its order, our feed index.
    feed_order: Vec<usize>,
}

// SAFETY: an MPSGraphExecutable may be encoded from any thread; ingot
// encodes one run at a time (MetalRuntime::encoding).
unsafe impl Send for Compiled {}
// SAFETY: as above.
unsafe impl Sync for Compiled {}

impl MetalRuntime {
    /// The runtime of GPU `index` (`MTLCopyAllDevices` order), if present.
    pub(super) fn new(index: usize) -> Option<MetalRuntime> {
        let devices = MTLCopyAllDevices();
        if index >= devices.count() {
            return None;
        }
        let device = devices.objectAtIndex(index);
        let queue = device.newCommandQueue()?;
        // SAFETY: wraps a valid MTLDevice.
        let graph_device = unsafe { MPSGraphDevice::deviceWithMTLDevice(&device) };
        Some(MetalRuntime {
            index,
            device,
            queue,
            graph_device,
            encoding: Mutex::new(()),
        })
    }

    fn error(&self, msg: impl Into<String>) -> Error {
        Error::Backend {
            backend: self.location(),
            msg: msg.into(),
        }
    }
}

/// Wraps `buffer` as graph data of `shape` and `dtype`.
fn tensor_data(buffer: &MetalMemory, ty: &crate::program::MpsType) -> Retained<MPSGraphTensorData> {
    let shape = mps_shape(&ty.shape);
    // SAFETY: the buffer holds at least `numel * size` bytes (the pool
    // allocated it for this type) and outlives the run (the completion
    // handler holds it).
    unsafe {
        MPSGraphTensorData::initWithMTLBuffer_shape_dataType(
            MPSGraphTensorData::alloc(),
            &buffer.0,
            &shape,
            mps_data_type(ty.dtype),
        )
    }
}

impl Runtime for MetalRuntime {
    type Memory = MetalMemory;
    type Compiled = Compiled;

    fn location(&self) -> String {
        format!("metal:{}", self.index)
    }

    fn working_set_size(&self) -> u64 {
        self.device.recommendedMaxWorkingSetSize()
    }

    fn allocate(&self, bytes: usize) -> Result<MetalMemory> {
        self.device
            .newBufferWithLength_options(bytes, MTLResourceOptions::StorageModeShared)
            .map(MetalMemory)
            .ok_or_else(|| {
                self.error(format!(
                    "out of memory: MTLDevice refused a buffer of {bytes} bytes"
                ))
            })
    }

    fn write(&self, memory: &MetalMemory, bytes: &[u8]) {
        assert!(
            bytes.len() <= memory.0.length(),
            "write past the end of an MTLBuffer"
        );
        // SAFETY: shared storage is host-visible at `contents()`; the
        // length was checked; no run uses a buffer being filled (uploads go
        // to fresh buffers from the pool).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                memory.0.contents().as_ptr().cast::<u8>(),
                bytes.len(),
            );
        }
    }

    fn read(&self, memory: &MetalMemory, len: usize) -> Vec<u8> {
        assert!(
            len <= memory.0.length(),
            "read past the end of an MTLBuffer"
        );
        let mut out = vec![0u8; len];
        // SAFETY: as in `write`; the caller waited for the run writing it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                memory.0.contents().as_ptr().cast::<u8>(),
                out.as_mut_ptr(),
                len,
            );
        }
        out
    }

    fn compile(&self, program: &MpsProgram) -> Result<Compiled> {
        autoreleasepool(|_| {
            let (executable, feed_order) =
                graph::compile(program, &self.graph_device).map_err(|msg| self.error(msg))?;
            Ok(Compiled {
                executable,
                feed_order,
            })
        })
    }

    fn submit(
        &self,
        compiled: &Compiled,
        program: &MpsProgram,
        inputs: &[&MetalMemory],
        outputs: &[&MetalMemory],
        done: Completion,
    ) {
        let _encoding = self.encoding.lock().unwrap_or_else(|e| e.into_inner());
        autoreleasepool(|_| {
            let feeds: Vec<Retained<MPSGraphTensorData>> = compiled
                .feed_order
                .iter()
                .map(|&k| tensor_data(inputs[k], &program.feeds[k]))
                .collect();
            let results: Vec<Retained<MPSGraphTensorData>> = program
                .targets
                .iter()
                .zip(outputs)
                .map(|(&t, m)| tensor_data(m, &program.nodes[t].ty))
                .collect();
            let feeds = NSArray::from_retained_slice(&feeds);
            let results = NSArray::from_retained_slice(&results);
            // SAFETY: the queue is valid; the command buffer is used on
            // this thread only until commit.
            let command_buffer =
                unsafe { MPSCommandBuffer::commandBufferFromCommandQueue(&self.queue) };
            // SAFETY: feeds and results match the executable's feed and
            // target types (the program they were compiled from); results
            // are written into our buffers.
            unsafe {
                compiled
                    .executable
                    .encodeToCommandBuffer_inputsArray_resultsArray_executionDescriptor(
                        &command_buffer,
                        &feeds,
                        Some(&results),
                        None,
                    );
            }
            // The completion handler may run on any thread, once.
            let done = Mutex::new(Some(done));
            let handler = RcBlock::new(move |cb: NonNull<ProtocolObject<dyn MTLCommandBuffer>>| {
                // SAFETY: Metal passes the completed, valid command buffer.
                let cb = unsafe { cb.as_ref() };
                let outcome = if cb.status() == MTLCommandBufferStatus::Completed {
                    Ok(())
                } else {
                    let why = cb
                        .error()
                        .map(|e| e.localizedDescription().to_string())
                        .unwrap_or_else(|| "unknown error".into());
                    Err(Error::Backend {
                        backend: "metal".into(),
                        msg: format!("the GPU run failed: {why}"),
                    })
                };
                if let Some(done) = done.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    done(outcome);
                }
            });
            // SAFETY: the root command buffer has not been committed; the
            // block lives as long as Metal retains it.
            unsafe {
                command_buffer
                    .rootCommandBuffer()
                    .addCompletedHandler(RcBlock::as_ptr(&handler));
            }
            command_buffer.commit();
        });
    }
}
