//! Softmax and log-softmax along one axis, max-shifted for stability.
//!
//! Along the last axis (the common case) each row is one contiguous run,
//! reduced with independent lanes so that its loops vectorize; along
//! another axis, the rows of the axis are combined element by element.
//! Both run in the widest build the CPU has (`run_widest`), in which `exp`
//! and `ln` (from `vmath`) vectorize too. The shifted entries are at most
//! 0 and their sum at least 1, so `exp` takes its one-step scale
//! (`vmath::exp_nonpositive`): softmax outputs below `2^-124` come out 0,
//! log-softmax keeps them.

use super::super::{Widest, parallel, run_widest};

use super::{FloatKernel, KernelFloat};
use crate::Result;

pub(crate) struct Softmax {
    pub axis: usize,
    pub log: bool,
}

impl FloatKernel for Softmax {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        _out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let shape = shapes[0];
        let len = shape[self.axis];
        let inner: usize = shape[self.axis + 1..].iter().product();
        let block = len * inner;
        if block == 0 {
            return Ok(());
        }
        let x = args[0];
        let log = self.log;
        if inner == 1 {
            parallel::for_each_chunk(out, len, |o, dst| {
                run_block(Block::Row(&x[o * len..][..len]), dst, log);
            });
            return Ok(());
        }
        parallel::for_each_chunk_init(
            out,
            block,
            || (vec![T::zero(); inner], vec![T::zero(); inner]),
            |(maxes, sums), o, dst| {
                let src = &x[o * block..][..block];
                run_block(Block::Planes(src, (maxes, sums)), dst, log);
            },
        );
        Ok(())
    }
}

/// One task's input: a contiguous row of the last axis, or the rows of
/// another axis with their scratch (see [`planes`]).
enum Block<'a, T> {
    Row(&'a [T]),
    Planes(&'a [T], (&'a mut [T], &'a mut [T])),
}

/// Runs `block` into `dst` in the widest build the CPU has.
fn run_block<T: KernelFloat>(block: Block<'_, T>, dst: &mut [T], log: bool) {
    run_widest(Task { block, dst, log });
}

/// A block with its output, as [`run_widest`] takes it.
struct Task<'a, 'b, T> {
    block: Block<'a, T>,
    dst: &'b mut [T],
    log: bool,
}

impl<T: KernelFloat> Widest for Task<'_, '_, T> {
    #[inline(always)]
    fn run(self) {
        match self.block {
            Block::Row(src) => row(src, self.dst, self.log),
            Block::Planes(src, scratch) => planes(src, self.dst, scratch, self.log),
        }
    }
}

/// Softmax (or log-softmax, `log`) along the rows of `src`, each `inner`
/// long (the length of `maxes` and `sums`, which are scratch), into `dst`.
#[inline(always)]
fn planes<T: KernelFloat>(
    src: &[T],
    dst: &mut [T],
    (maxes, sums): (&mut [T], &mut [T]),
    log: bool,
) {
    let inner = maxes.len();
    maxes.fill(T::neg_infinity());
    for row in src.chunks_exact(inner) {
        for (m, &v) in maxes.iter_mut().zip(row) {
            if v > *m || v.is_nan() {
                *m = v;
            }
        }
    }
    sums.fill(T::zero());
    for (drow, row) in dst.chunks_exact_mut(inner).zip(src.chunks_exact(inner)) {
        for (((d, &v), &m), s) in drow
            .iter_mut()
            .zip(row)
            .zip(maxes.iter())
            .zip(sums.iter_mut())
        {
            let e = (v - m).vexp_nonpositive();
            *s += e;
            *d = if log { v - m } else { e };
        }
    }
    // Turn each sum into what the row is finished with.
    for s in sums.iter_mut() {
        *s = if log { s.vln() } else { T::one() / *s };
    }
    for drow in dst.chunks_exact_mut(inner) {
        for (d, &s) in drow.iter_mut().zip(sums.iter()) {
            *d = if log { *d - s } else { *d * s };
        }
    }
}

/// Lanes of the running maximum and sum of a contiguous row: independent
/// accumulators, so that the loops vectorize.
const LANES: usize = 16;

/// Softmax (or log-softmax, `log`) of one contiguous row `src` into `dst`.
#[inline(always)]
fn row<T: KernelFloat>(src: &[T], dst: &mut [T], log: bool) {
    let mut maxes = [T::neg_infinity(); LANES];
    let mut chunks = src.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &v) in maxes.iter_mut().zip(chunk) {
            *m = if v > *m || v.is_nan() { v } else { *m };
        }
    }
    let pick = |m: T, v: T| if v > m || v.is_nan() { v } else { m };
    let tail = chunks
        .remainder()
        .iter()
        .fold(T::neg_infinity(), |m, &v| pick(m, v));
    let max = maxes.iter().fold(tail, |m, &v| pick(m, v));
    let mut sums = [T::zero(); LANES];
    let mut pairs = dst.chunks_exact_mut(LANES).zip(src.chunks_exact(LANES));
    for (d, s) in &mut pairs {
        for ((d, &v), sum) in d.iter_mut().zip(s).zip(sums.iter_mut()) {
            let e = (v - max).vexp_nonpositive();
            *sum += e;
            *d = if log { v - max } else { e };
        }
    }
    let done = src.len() / LANES * LANES;
    let mut sum = T::zero();
    for (d, &v) in dst[done..].iter_mut().zip(&src[done..]) {
        let e = (v - max).vexp_nonpositive();
        sum += e;
        *d = if log { v - max } else { e };
    }
    let sum = sums.iter().fold(sum, |a, &b| a + b);
    if log {
        let shift = sum.vln();
        dst.iter_mut().for_each(|d| *d = *d - shift);
    } else {
        let scale = T::one() / sum;
        dst.iter_mut().for_each(|d| *d = *d * scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Softmax (or log-softmax) of `x` along its last axis by the
    /// definition.
    fn naive(x: &[f64], log: bool) -> Vec<f64> {
        let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = x.iter().map(|v| (v - max).exp()).sum();
        x.iter()
            .map(|v| {
                if log {
                    v - max - sum.ln()
                } else {
                    (v - max).exp() / sum
                }
            })
            .collect()
    }

    /// Rows shorter than, as long as and longer than the lanes (with a
    /// tail), in `f32` and `f64`, with an infinitely negative entry (a row
    /// of it alone is NaN), and a row with a NaN, which turns the whole row
    /// to NaN as in PyTorch.
    #[test]
    fn rows_match_the_definition() {
        for len in [1, 3, 16, 37] {
            let x: Vec<f64> = (0..len)
                .map(|i| ((i * 7919) % 23) as f64 / 3.0 - 4.0)
                .collect();
            let mut with_inf = x.clone();
            with_inf[len / 2] = f64::NEG_INFINITY;
            for (row_in, log) in [(&x, false), (&x, true), (&with_inf, false)] {
                let want = naive(row_in, log);
                let mut got = vec![f64::NAN; len];
                run_block(Block::Row(row_in), &mut got, log);
                let close = |a: f64, b: f64, tol: f64| {
                    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + b.abs())
                };
                for (g, w) in got.iter().zip(&want) {
                    assert!(close(*g, *w, 1e-12), "f64 len {len} log {log}: {g} vs {w}");
                }
                let row32: Vec<f32> = row_in.iter().map(|&v| v as f32).collect();
                let mut got32 = vec![f32::NAN; len];
                run_block(Block::Row(&row32), &mut got32, log);
                for (g, w) in got32.iter().zip(&want) {
                    assert!(
                        close(*g as f64, *w, 1e-5),
                        "f32 len {len} log {log}: {g} vs {w}"
                    );
                }
            }
            let mut with_nan = x.clone();
            with_nan[len - 1] = f64::NAN;
            let mut got = vec![0.0; len];
            run_block(Block::Row(&with_nan), &mut got, false);
            assert!(got.iter().all(|v| v.is_nan()), "len {len}: {got:?}");
        }
    }
}
