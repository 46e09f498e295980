//! The Metal executor (macOS only): builds each [`crate::program::MpsProgram`]
//! into an `MPSGraph`, compiles it into an `MPSGraphExecutable`, and runs
//! it on an `MPSCommandBuffer` whose inputs and results are
//! `MPSGraphTensorData` over the pool's `MTLBuffer`s (shared storage, never
//! textures). Everything else (lowering, pool, fences, the in-flight limit)
//! is the shared code the simulator also runs.

mod graph;
mod runtime;

use std::sync::{Arc, Mutex};

use ingot_core::{Device, Error, Result};
pub(crate) use runtime::MetalRuntime;

use crate::backend::MetalBackend;

/// The Metal device `index`, created once per process and index.
pub(crate) fn device(index: usize) -> Result<Device> {
    static DEVICES: Mutex<Vec<(usize, Device)>> = Mutex::new(Vec::new());
    let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, d)) = devices.iter().find(|(i, _)| *i == index) {
        return Ok(d.clone());
    }
    let runtime = MetalRuntime::new(index).ok_or_else(|| Error::Backend {
        backend: format!("metal:{index}"),
        msg: format!(
            "this Mac has no Metal GPU number {index} ({} found)",
            runtime::device_count()
        ),
    })?;
    let device = Device::new(Arc::new(MetalBackend::new(runtime)));
    devices.push((index, device.clone()));
    Ok(device)
}
