//! Softmax and log-softmax along one axis, max-shifted for stability.
//!
//! Along the last axis (the common case) each row is one contiguous run,
//! reduced with independent lanes so that its loops vectorize; along
//! another axis, the rows of the axis are combined element by element.
//! Both have builds for AVX2 and AVX-512, in which `exp` and `ln` (from
//! `vmath`) vectorize too.

use super::super::parallel;

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
                let src = &x[o * len..][..len];
                #[cfg(target_arch = "x86_64")]
                if super::super::avx512() {
                    // SAFETY: `avx512` checked at run time that this CPU
                    // has the AVX-512F, AVX2 and FMA instructions the build
                    // is for.
                    unsafe { row_avx512(src, dst, log) };
                    return;
                } else if super::super::wide_simd() {
                    // SAFETY: `wide_simd` checked at run time that this CPU
                    // has the AVX2 and FMA instructions the build is for.
                    unsafe { row_avx2(src, dst, log) };
                    return;
                }
                row(src, dst, log);
            });
            return Ok(());
        }
        parallel::for_each_chunk_init(
            out,
            block,
            || (vec![T::zero(); inner], vec![T::zero(); inner]),
            |(maxes, sums), o, dst| {
                let src = &x[o * block..][..block];
                let scratch = (maxes.as_mut_slice(), sums.as_mut_slice());
                #[cfg(target_arch = "x86_64")]
                if super::super::avx512() {
                    // SAFETY: `avx512` checked at run time that this CPU
                    // has the AVX-512F, AVX2 and FMA instructions the build
                    // is for.
                    unsafe { planes_avx512(src, dst, scratch, log) };
                    return;
                } else if super::super::wide_simd() {
                    // SAFETY: `wide_simd` checked at run time that this CPU
                    // has the AVX2 and FMA instructions the build is for.
                    unsafe { planes_avx2(src, dst, scratch, log) };
                    return;
                }
                planes(src, dst, scratch, log);
            },
        );
        Ok(())
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
            let e = (v - m).vexp();
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

/// [`planes`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn planes_avx2<T: KernelFloat>(
    src: &[T],
    dst: &mut [T],
    scratch: (&mut [T], &mut [T]),
    log: bool,
) {
    planes(src, dst, scratch, log);
}

/// [`planes`] compiled for AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn planes_avx512<T: KernelFloat>(
    src: &[T],
    dst: &mut [T],
    scratch: (&mut [T], &mut [T]),
    log: bool,
) {
    planes(src, dst, scratch, log);
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
            let e = (v - max).vexp();
            *sum += e;
            *d = if log { v - max } else { e };
        }
    }
    let done = src.len() / LANES * LANES;
    let mut sum = T::zero();
    for (d, &v) in dst[done..].iter_mut().zip(&src[done..]) {
        let e = (v - max).vexp();
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

/// [`row`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2<T: KernelFloat>(src: &[T], dst: &mut [T], log: bool) {
    row(src, dst, log);
}

/// [`row`] compiled for AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn row_avx512<T: KernelFloat>(src: &[T], dst: &mut [T], log: bool) {
    row(src, dst, log);
}
