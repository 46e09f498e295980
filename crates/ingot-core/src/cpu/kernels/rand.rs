//! Random draws following the layout documented in [`crate::rng`].

use half::{bf16, f16};

use super::super::exec::split_for_threads;
use super::super::fused::Arg;
use super::super::halfs;
use super::super::{Widest, run_widest};
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
    let stream = (seed, offset);
    let uniform = dist == RandDist::Uniform;
    match out {
        HostData::F64(o) => fill(o, 2, |b, part| {
            let values = match dist {
                RandDist::Uniform => rng::uniform_f64_block(seed, offset, b),
                RandDist::Normal => rng::normal_f64_block(seed, offset, b),
            };
            part.copy_from_slice(&values[..part.len()]);
        }),
        HostData::F32(o) => fill_f32(o, stream, dist, |v, d| d.copy_from_slice(v)),
        // Rounding to a narrow type can turn a uniform just below 1 into 1;
        // such values become the largest number below 1, keeping [0, 1).
        HostData::F16(o) => fill_f32(o, stream, dist, |v, d| {
            halfs::f16_from_f32s(v, d);
            if uniform {
                below_one(d, f16::ONE, f16::from_bits(0x3BFF));
            }
        }),
        HostData::BF16(o) => fill_f32(o, stream, dist, |v, d| {
            halfs::bf16_from_f32s(v, d);
            if uniform {
                below_one(d, bf16::ONE, bf16::from_bits(0x3F7F));
            }
        }),
        other => return Err(Error::unsupported_dtype("rand", other.dtype())),
    }
    Ok(())
}

/// Replaces each value of `d` at least `one` by `largest`, the largest
/// value below one.
fn below_one<T: PartialOrd + Copy>(d: &mut [T], one: T, largest: T) {
    for x in d.iter_mut().filter(|x| **x >= one) {
        *x = largest;
    }
}

/// Fills `out` over the threads, `per` elements at a time: `part(b, d)`
/// writes elements `per * b..` into `d` (`per` of them, fewer at the end).
fn fill<T: Send>(out: &mut [T], per: usize, part: impl Fn(u64, &mut [T]) + Sync) {
    // Chunks start at multiples of `per`, so at whole parts.
    split_for_threads(out, per, |start, chunk| {
        for (j, d) in chunk.chunks_mut(per).enumerate() {
            part((start / per + j) as u64, d);
        }
    });
}

/// Philox blocks drawn side by side.
const BATCH: usize = 16;

/// Values [`fill_f32`] draws, then narrows, at a time: 16 batches.
const PART: usize = 4 * BATCH * 16;

/// [`fill`] for the `f32` family: [`PART`] values at a time, drawn
/// [`BATCH`] blocks side by side ([`rng::blocks`]) in the widest build the
/// CPU has, then turned into `T` by `narrow` (a slice conversion).
fn fill_f32<T: Send>(
    out: &mut [T],
    stream: (u64, u64),
    dist: RandDist,
    narrow: impl Fn(&[f32], &mut [T]) + Sync,
) {
    fill(out, PART, |p, d| {
        let mut values = [0f32; PART];
        run_widest(Part {
            stream,
            dist,
            first: p * (PART / 4) as u64,
            values: &mut values,
        });
        narrow(&values[..d.len()], d);
    });
}

/// One part of [`fill_f32`], from block `first` on, as [`run_widest`]
/// takes it.
struct Part<'a> {
    stream: (u64, u64),
    dist: RandDist,
    first: u64,
    values: &'a mut [f32; PART],
}

impl Widest for Part<'_> {
    #[inline(always)]
    fn run(self) {
        let (seed, offset) = self.stream;
        for (b, batch) in self.values.chunks_exact_mut(4 * BATCH).enumerate() {
            let first = self.first + (b * BATCH) as u64;
            let u = rng::blocks::<BATCH>(seed, offset, first).map(|word| word.map(rng::u24));
            // Plain loops over lanes, no closures around the arithmetic: a
            // closure the compiler does not inline is built on its own,
            // outside this build (randn took 13 ms so).
            let blocks = batch.chunks_exact_mut(4).enumerate();
            match self.dist {
                RandDist::Uniform => {
                    for (l, d) in blocks {
                        d.copy_from_slice(&[u[0][l], u[1][l], u[2][l], u[3][l]]);
                    }
                }
                RandDist::Normal => {
                    for (l, d) in blocks {
                        let block = [u[0][l], u[1][l], u[2][l], u[3][l]];
                        d.copy_from_slice(&rng::normal_f32s(block));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DType;
    use crate::cpu::view::View;

    /// Draws `n` values of `dtype` from `[seed, offset]` through the kernel.
    fn draw(dist: RandDist, dtype: DType, n: usize) -> HostData {
        let state = HostData::I64(vec![11, 5]);
        let mut out = HostData::zeros(dtype, n);
        rand(dist, (&state, &View::contiguous(&[2])), &mut out).unwrap();
        out
    }

    /// Element `i` as the table in [`crate::rng`] lays the stream out,
    /// written from that table: `(f32, f64)` values (the `f32` normals
    /// through `normal_pair_f32`, which `rng`'s tests hold to Box-Muller).
    fn documented(uniform: bool, i: u64) -> (f32, f64) {
        let normal = |u1: f64, u2: f64, odd: bool| {
            let r = (-2.0 * (1.0 - u1).ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            r * if odd { t.sin() } else { t.cos() }
        };
        let w = rng::block(11, 5, i / 4);
        let f32 = if uniform {
            rng::u24(w[(i % 4) as usize])
        } else {
            let p = ((i % 4) / 2) as usize;
            let (cos, sin) = rng::normal_pair_f32(rng::u24(w[2 * p]), rng::u24(w[2 * p + 1]));
            if i % 2 == 1 { sin } else { cos }
        };
        let w = rng::block(11, 5, i / 2);
        let f64 = if uniform {
            let p = (i % 2) as usize;
            rng::u53(w[2 * p], w[2 * p + 1])
        } else {
            normal(rng::u53(w[0], w[1]), rng::u53(w[2], w[3]), i % 2 == 1)
        };
        (f32, f64)
    }

    /// Over several threads' chunks and a last, partial block, every
    /// element is the one the documented layout gives.
    #[test]
    fn draws_follow_the_stream_layout() {
        let n = (1 << 16) + 3;
        for dist in [RandDist::Uniform, RandDist::Normal] {
            let uniform = dist == RandDist::Uniform;
            let want = |i: usize| documented(uniform, i as u64);
            match draw(dist, DType::F32, n) {
                HostData::F32(v) => v.iter().enumerate().for_each(|(i, &x)| {
                    assert_eq!(x.to_bits(), want(i).0.to_bits(), "{dist:?} f32 {i}")
                }),
                other => panic!("{:?}", other.dtype()),
            }
            match draw(dist, DType::F64, n) {
                HostData::F64(v) => v.iter().enumerate().for_each(|(i, &x)| {
                    assert_eq!(x.to_bits(), want(i).1.to_bits(), "{dist:?} f64 {i}")
                }),
                other => panic!("{:?}", other.dtype()),
            }
            match draw(dist, DType::BF16, n) {
                HostData::BF16(v) => v.iter().enumerate().for_each(|(i, &x)| {
                    let narrow = bf16::from_f32(want(i).0);
                    let narrow = if uniform && narrow >= bf16::ONE {
                        bf16::from_bits(0x3F7F)
                    } else {
                        narrow
                    };
                    assert_eq!(x, narrow, "{dist:?} bf16 {i}")
                }),
                other => panic!("{:?}", other.dtype()),
            }
        }
    }
}
