//! Random draws following the layout documented in [`crate::rng`].

use half::{bf16, f16};

use super::super::exec::split_for_threads;
use super::super::fused::Arg;
use crate::ir::RandDist;
use crate::rng;
use crate::{Error, HostData, Result};

/// Fills `out` from the stream whose `[seed, offset]` is the argument.
pub(crate) fn rand(dist: RandDist, (state, _): Arg<'_>, out: &mut HostData) -> Result<()> {
    let (seed, offset) = match state {
        HostData::I64(v) if v.len() == 2 => (v[0] as u64, v[1] as u64),
        other => {
            return Err(Error::Backend {
                backend: "cpu".into(),
                msg: format!(
                    "rand state must be 2 int64, got {} {}",
                    other.len(),
                    other.dtype()
                ),
            });
        }
    };
    let f32_at = |i: usize| match dist {
        RandDist::Uniform => rng::uniform_f32(seed, offset, i as u64),
        RandDist::Normal => rng::normal_f32(seed, offset, i as u64),
    };
    match out {
        HostData::F64(o) => split_for_threads(o, 4, |start, chunk| {
            for (k, d) in chunk.iter_mut().enumerate() {
                let i = (start + k) as u64;
                *d = match dist {
                    RandDist::Uniform => rng::uniform_f64(seed, offset, i),
                    RandDist::Normal => rng::normal_f64(seed, offset, i),
                };
            }
        }),
        HostData::F32(o) => split_for_threads(o, 4, |start, chunk| {
            chunk
                .iter_mut()
                .enumerate()
                .for_each(|(k, d)| *d = f32_at(start + k))
        }),
        // Rounding to a narrow type can turn a uniform just below 1 into 1;
        // such values become the largest number below 1, keeping [0, 1).
        HostData::F16(o) => split_for_threads(o, 4, |start, chunk| {
            for (k, d) in chunk.iter_mut().enumerate() {
                *d = f16::from_f32(f32_at(start + k));
                if dist == RandDist::Uniform && *d >= f16::ONE {
                    *d = f16::from_bits(0x3BFF);
                }
            }
        }),
        HostData::BF16(o) => split_for_threads(o, 4, |start, chunk| {
            for (k, d) in chunk.iter_mut().enumerate() {
                *d = bf16::from_f32(f32_at(start + k));
                if dist == RandDist::Uniform && *d >= bf16::ONE {
                    *d = bf16::from_bits(0x3F7F);
                }
            }
        }),
        other => return Err(Error::unsupported_dtype("rand", other.dtype())),
    }
    Ok(())
}
