//! [`device`]: a device from its name (`"cpu"`, `"metal:0"`, `"cuda"`), the
//! parser behind the command line's `--device`.

use ingot_core::{Device, Error, Result};

/// The devices this build can make, by name, for error messages.
#[cfg(feature = "metal")]
const KNOWN: &str = "cpu, metal[:N] (macOS), metal-sim";
#[cfg(not(feature = "metal"))]
const KNOWN: &str = "cpu";

/// A device from its name: `cpu`, `metal`, `metal:N`, `metal-sim` (the
/// Metal lowering run by its CPU simulator), `cuda`, `cuda:N`
/// (case-insensitive; no index means 0).
///
/// Every backend compiled into this build is reachable here; asking for one
/// that is not (Metal off macOS or without the facade feature `metal`; CUDA,
/// which ingot does not have yet) is an error that says what is missing.
///
/// ```
/// let cpu = ingot::device("cpu")?;
/// assert_eq!(cpu, ingot::Device::cpu());
/// assert!(ingot::device("tpu").unwrap_err().to_string().contains("unknown device"));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn device(spec: &str) -> Result<Device> {
    let lower = spec.trim().to_ascii_lowercase();
    let (name, index) = match lower.split_once(':') {
        Some((name, index)) => {
            let index = index.parse::<usize>().map_err(|_| Error::InvalidArgument {
                op: "device",
                msg: format!("{spec:?}: the index after ':' must be a number (e.g. metal:0)"),
            })?;
            (name, index)
        }
        None => (lower.as_str(), 0),
    };
    match name {
        "cpu" if index == 0 => Ok(Device::cpu()),
        "cpu" => Err(Error::InvalidArgument {
            op: "device",
            msg: format!("{spec:?}: there is one CPU device, cpu:0"),
        }),
        "metal" | "mps" => metal(spec, index),
        "metal-sim" => metal_sim(spec, index),
        "cuda" => Err(Error::Backend {
            backend: "cuda".into(),
            msg: format!(
                "device {spec:?} is not available: ingot has no CUDA backend yet \
                 (use cpu, or metal on macOS)"
            ),
        }),
        _ => Err(Error::InvalidArgument {
            op: "device",
            msg: format!("unknown device {spec:?}; known devices: {KNOWN}"),
        }),
    }
}

#[cfg(all(feature = "metal", target_os = "macos"))]
fn metal(_spec: &str, index: usize) -> Result<Device> {
    ingot_metal::device(index)
}

#[cfg(all(feature = "metal", not(target_os = "macos")))]
fn metal(spec: &str, _index: usize) -> Result<Device> {
    Err(Error::Backend {
        backend: "metal".into(),
        msg: format!(
            "device {spec:?} needs macOS and an Apple GPU; here, \"metal-sim\" runs the same \
             Metal lowering through a CPU simulator (slow; for testing), and \"cpu\" trains fast"
        ),
    })
}

#[cfg(not(feature = "metal"))]
fn metal(spec: &str, _index: usize) -> Result<Device> {
    Err(Error::Backend {
        backend: "metal".into(),
        msg: format!(
            "device {spec:?} is not available: this build has no Metal backend \
             (build the facade with its feature `metal`)"
        ),
    })
}

#[cfg(feature = "metal")]
fn metal_sim(spec: &str, index: usize) -> Result<Device> {
    if index != 0 {
        return Err(Error::InvalidArgument {
            op: "device",
            msg: format!("{spec:?}: there is one simulated Metal device, metal-sim"),
        });
    }
    Ok(ingot_metal::simulated_device())
}

#[cfg(not(feature = "metal"))]
fn metal_sim(spec: &str, index: usize) -> Result<Device> {
    metal(spec, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_in_any_case_and_with_index() {
        assert_eq!(device("CPU").unwrap(), Device::cpu());
        assert_eq!(device(" cpu:0 ").unwrap(), Device::cpu());
    }

    #[cfg(feature = "metal")]
    #[test]
    fn names_the_simulated_metal_device() {
        assert_eq!(device("metal-sim").unwrap().location(), "metal-sim");
        assert!(device("metal-sim:1").is_err());
    }

    #[test]
    fn rejects_bad_indices_and_absent_backends() {
        assert!(device("cpu:1").unwrap_err().to_string().contains("one CPU"));
        assert!(
            device("metal:x")
                .unwrap_err()
                .to_string()
                .contains("number")
        );
        if cfg!(not(target_os = "macos")) {
            let metal = device("metal:0").unwrap_err().to_string();
            assert!(metal.contains("Metal"), "{metal}");
        }
        let cuda = device("cuda").unwrap_err().to_string();
        assert!(cuda.contains("CUDA backend"), "{cuda}");
    }
}
