//! # ingot-metal
//!
//! ingot's Apple-GPU backend: each compiled graph becomes one
//! `MPSGraphExecutable`, replayed every step on the GPU. The work is split
//! so that as little as possible needs a Mac (see `docs/metal.md`):
//!
//! 1. [`lower()`] (every OS) turns an IR graph into an [`program::MpsProgram`],
//!    the exact list of MPSGraph calls, with MPSGraph's own semantics;
//! 2. the [`sim`]ulator (every OS) runs programs with CPU kernels written
//!    from Apple's documentation; [`simulated_device`] is an
//!    `ingot::Device` that goes through the same lowering, buffer pool,
//!    fences and executable cache as the GPU;
//! 3. on macOS, an objc2 layer builds the program into an `MPSGraph`,
//!    compiles it, and runs it on an `MPSCommandBuffer` over `MTLBuffer`s
//!    from a caching pool: [`device`].
//!
//! ```
//! use ingot::{DType, Tensor};
//! let dev = ingot_metal::simulated_device();
//! let x = Tensor::from_vec(vec![1.0f32, -2.0, 3.0], &[3], &dev)?;
//! let y = x.relu()?.sum_all()?;
//! assert_eq!(y.item::<f32>()?, 4.0);
//! assert!(ingot_metal::stats(&dev).unwrap().executables_compiled >= 1);
//! # Ok::<(), ingot::Error>(())
//! ```

mod backend;
pub mod bytes;
pub mod lower;
pub mod memory;
pub mod program;
pub mod runtime;
pub mod sim;

#[cfg(target_os = "macos")]
mod macos;

use std::sync::{Arc, OnceLock};

use ingot_core::{Device, Result};

pub use backend::{MAX_IN_FLIGHT, MetalBackend, MetalStats};
pub use lower::lower;
pub use sim::Simulator;

/// The simulated GPU's working set: 8 GiB, like a base Apple-silicon Mac.
pub const SIMULATED_WORKING_SET: u64 = 8 << 30;

/// A device that runs graphs through the Metal lowering and the simulator
/// (location `metal-sim`), on every OS; one per process.
///
/// ```
/// let dev = ingot_metal::simulated_device();
/// assert_eq!(dev.location(), "metal-sim");
/// ```
pub fn simulated_device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| simulated_device_with_memory(SIMULATED_WORKING_SET))
        .clone()
}

/// A new simulated device whose recommended working set is `bytes` (for
/// testing the allocator's limits).
///
/// ```
/// use ingot::{DType, Tensor};
/// let dev = ingot_metal::simulated_device_with_memory(1 << 20);
/// let err = Tensor::zeros(&[1 << 20], DType::F32, &dev)?.sum_all()?.item::<f32>().unwrap_err();
/// assert!(err.to_string().contains("out of memory"));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn simulated_device_with_memory(bytes: u64) -> Device {
    Device::new(Arc::new(MetalBackend::new(Simulator::new(bytes))))
}

/// The Metal device `index` (`MTLCopyAllDevices` order; 0 is the default
/// GPU). Fails off macOS, or when the Mac has no such GPU.
///
/// ```
/// match ingot_metal::device(0) {
///     Ok(gpu) => assert_eq!(gpu.location(), "metal:0"),
///     Err(e) => assert!(e.to_string().contains("Metal")),
/// }
/// ```
pub fn device(index: usize) -> Result<Device> {
    #[cfg(target_os = "macos")]
    {
        macos::device(index)
    }
    #[cfg(not(target_os = "macos"))]
    {
        Err(ingot_core::Error::Backend {
            backend: format!("metal:{index}"),
            msg: "Metal needs macOS: this build runs on another OS (use the CPU, or \
                  ingot_metal::simulated_device() to test the Metal lowering)"
                .into(),
        })
    }
}

/// The Metal counters of `device` (compiled executables, runs, the buffer
/// pool), or `None` if it is not a Metal or simulated device.
///
/// ```
/// assert!(ingot_metal::stats(&ingot::Device::cpu()).is_none());
/// ```
pub fn stats(device: &Device) -> Option<MetalStats> {
    let any = device.backend().as_any();
    if let Some(b) = any.downcast_ref::<MetalBackend<Simulator>>() {
        return Some(b.stats());
    }
    #[cfg(target_os = "macos")]
    if let Some(b) = any.downcast_ref::<MetalBackend<macos::MetalRuntime>>() {
        return Some(b.stats());
    }
    None
}
