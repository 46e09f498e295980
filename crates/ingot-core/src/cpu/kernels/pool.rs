//! 2-D max and average pooling and their gradients, one (image, channel)
//! plane per task.
//!
//! Each output row is computed whole: for every tap `(ky, kx)` of the window,
//! in row-major order, the loop runs over the row's outputs, so the work is a
//! few long loops instead of one short loop per window. Visiting taps in
//! window order keeps PyTorch's choice of the first maximum.

use std::ops::Range;

use rayon::prelude::*;

use super::{FloatKernel, KernelFloat};
use crate::Result;
use crate::ir::Pool2dParams;

/// One plane's geometry.
#[derive(Clone, Copy)]
struct Planes {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

fn planes(input: &[usize], output: &[usize]) -> Planes {
    Planes {
        h: input[2],
        w: input[3],
        oh: output[2],
        ow: output[3],
    }
}

/// The outputs `o` of one axis whose tap `k` reads an input inside
/// `0..size`: `o * stride + k - pad` in range.
fn tap_range(out: usize, size: usize, stride: usize, pad: usize, k: usize) -> Range<usize> {
    let lo = if k >= pad {
        0
    } else {
        (pad - k).div_ceil(stride)
    };
    let hi = if pad + size > k {
        (pad + size - k).div_ceil(stride)
    } else {
        0
    };
    lo.min(out)..hi.min(out).max(lo.min(out))
}

/// Input index of tap `k` for output `o` (valid inside `tap_range`).
fn input_of(o: usize, stride: usize, pad: usize, k: usize) -> usize {
    o * stride + k - pad
}

/// For output row `oy`, calls `f(input_row, k_x, outputs, stride)` for every
/// tap in window order, with the range of outputs the tap is valid for.
fn for_each_tap(
    g: &Planes,
    p: &Pool2dParams,
    oy: usize,
    mut f: impl FnMut(usize, usize, Range<usize>),
) {
    for ky in 0..p.kernel[0] {
        let oy_valid = tap_range(g.oh, g.h, p.stride[0], p.padding[0], ky);
        if !oy_valid.contains(&oy) {
            continue;
        }
        let iy = input_of(oy, p.stride[0], p.padding[0], ky);
        for kx in 0..p.kernel[1] {
            f(iy, kx, tap_range(g.ow, g.w, p.stride[1], p.padding[1], kx));
        }
    }
}

/// The maximum of every window of output row `oy` (NaN propagates).
fn row_max<T: KernelFloat>(x: &[T], g: &Planes, p: &Pool2dParams, oy: usize, best: &mut [T]) {
    best.fill(T::neg_infinity());
    for_each_tap(g, p, oy, |iy, kx, valid| {
        let row = &x[iy * g.w..(iy + 1) * g.w];
        let start = input_of(valid.start, p.stride[1], p.padding[1], kx);
        let taps = row[start..].iter().step_by(p.stride[1]);
        for (b, &v) in best[valid].iter_mut().zip(taps) {
            // Branch-free select: greater, or NaN, replaces.
            *b = if (v > *b) | v.is_nan() { v } else { *b };
        }
    });
}

/// Input index of the first maximum of window `(oy, ox)` (a NaN, once
/// met, wins); `None` for a window entirely in the padding.
#[inline]
fn window_argmax<T: KernelFloat>(
    x: &[T],
    g: &Planes,
    p: &Pool2dParams,
    oy: usize,
    ox: usize,
) -> Option<usize> {
    let clip = |o: usize, axis: usize, size: usize| {
        let start = (o * p.stride[axis]) as isize - p.padding[axis] as isize;
        let end = (start + p.kernel[axis] as isize).min(size as isize);
        (start.max(0) as usize, end.max(0) as usize)
    };
    let (y0, y1) = clip(oy, 0, g.h);
    let (x0, x1) = clip(ox, 1, g.w);
    if y0 >= y1 || x0 >= x1 {
        return None;
    }
    let mut at = y0 * g.w + x0;
    let mut best = x[at];
    for iy in y0..y1 {
        let row = &x[iy * g.w..(iy + 1) * g.w];
        for (ix, &v) in row.iter().enumerate().take(x1).skip(x0) {
            // Branch-free: the comparison is data-dependent and unpredictable.
            let take = (v > best) | (v.is_nan() & !best.is_nan());
            best = if take { v } else { best };
            at = if take { iy * g.w + ix } else { at };
        }
    }
    Some(at)
}

pub(crate) struct MaxForward {
    pub p: Pool2dParams,
}

impl FloatKernel for MaxForward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let g = planes(shapes[0], out_shape);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_out == 0 {
            return Ok(());
        }
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(pl, dst)| {
                let x = &args[0][pl * plane_in..][..plane_in];
                for (oy, row) in dst.chunks_mut(g.ow).enumerate() {
                    row_max(x, &g, &self.p, oy, row);
                }
            });
        Ok(())
    }
}

pub(crate) struct MaxBackward {
    pub p: Pool2dParams,
}

impl FloatKernel for MaxBackward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let (grad, x) = (args[0], args[1]);
        let g = planes(out_shape, shapes[0]);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_in == 0 {
            return Ok(());
        }
        out.par_chunks_mut(plane_in)
            .enumerate()
            .for_each(|(pl, dx)| {
                dx.fill(T::zero());
                let xs = &x[pl * plane_in..][..plane_in];
                let gs = &grad[pl * plane_out..][..plane_out];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        if let Some(i) = window_argmax(xs, &g, &self.p, oy, ox) {
                            dx[i] += gs[oy * g.ow + ox];
                        }
                    }
                }
            });
        Ok(())
    }
}

/// Divisors of output row `oy`'s windows: their full size (padding
/// included) or the number of real inputs.
fn divisors<T: KernelFloat>(g: &Planes, p: &Pool2dParams, oy: usize, out: &mut [T]) {
    let span = |o: usize, axis: usize, size: usize| {
        let start = (o * p.stride[axis]) as isize - p.padding[axis] as isize;
        let end = (start + p.kernel[axis] as isize).min((size + p.padding[axis]) as isize);
        let clipped = end.min(size as isize) - start.max(0);
        if p.count_include_pad {
            (end - start) as usize
        } else {
            clipped.max(0) as usize
        }
    };
    let rows = span(oy, 0, g.h);
    for (ox, d) in out.iter_mut().enumerate() {
        *d = T::from((rows * span(ox, 1, g.w)).max(1)).unwrap_or_else(T::one);
    }
}

pub(crate) struct AvgForward {
    pub p: Pool2dParams,
}

impl FloatKernel for AvgForward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let g = planes(shapes[0], out_shape);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_out == 0 {
            return Ok(());
        }
        let p = &self.p;
        out.par_chunks_mut(plane_out).enumerate().for_each_init(
            || vec![T::zero(); g.ow],
            |div, (pl, dst)| {
                let x = &args[0][pl * plane_in..][..plane_in];
                for (oy, row) in dst.chunks_mut(g.ow).enumerate() {
                    row.fill(T::zero());
                    for_each_tap(&g, p, oy, |iy, kx, valid| {
                        let input = &x[iy * g.w..(iy + 1) * g.w];
                        for ox in valid {
                            row[ox] += input[input_of(ox, p.stride[1], p.padding[1], kx)];
                        }
                    });
                    divisors(&g, p, oy, div);
                    row.iter_mut()
                        .zip(div.iter())
                        .for_each(|(v, &d)| *v = *v / d);
                }
            },
        );
        Ok(())
    }
}

pub(crate) struct AvgBackward {
    pub p: Pool2dParams,
}

impl FloatKernel for AvgBackward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let g = planes(out_shape, shapes[0]);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_in == 0 {
            return Ok(());
        }
        let p = &self.p;
        out.par_chunks_mut(plane_in).enumerate().for_each_init(
            || (vec![T::zero(); g.ow], vec![T::zero(); g.ow]),
            |(div, share), (pl, dx)| {
                dx.fill(T::zero());
                let gs = &args[0][pl * plane_out..][..plane_out];
                for oy in 0..g.oh {
                    divisors(&g, p, oy, div);
                    for ((s, &gv), &d) in share
                        .iter_mut()
                        .zip(&gs[oy * g.ow..(oy + 1) * g.ow])
                        .zip(div.iter())
                    {
                        *s = gv / d;
                    }
                    for_each_tap(&g, p, oy, |iy, kx, valid| {
                        let row = &mut dx[iy * g.w..(iy + 1) * g.w];
                        for ox in valid {
                            row[input_of(ox, p.stride[1], p.padding[1], kx)] += share[ox];
                        }
                    });
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_skip_the_padding() {
        // 4 inputs, stride 1, pad 1, tap 0 reads input o - 1: outputs 1..4.
        assert_eq!(tap_range(4, 4, 1, 1, 0), 1..4);
        assert_eq!(tap_range(4, 4, 1, 1, 2), 0..3);
        assert_eq!(tap_range(3, 5, 2, 1, 0), 1..3);
        assert_eq!(tap_range(2, 1, 1, 3, 0), 2..2);
    }
}
