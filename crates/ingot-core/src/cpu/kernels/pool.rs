//! 2-D max and average pooling and their gradients, one (image, channel)
//! plane per task.
//!
//! Each output row is computed whole: for every tap `(ky, kx)` of the window,
//! in row-major order, the loop runs over the row's outputs, so the work is a
//! few long loops instead of one short loop per window. Visiting taps in
//! window order keeps PyTorch's choice of the first maximum (the gradient
//! goes to the first tap equal to the window's maximum). Non-overlapping
//! 2×2 windows without padding, by far the most common pooling, have
//! straight-line kernels.

use std::ops::Range;

use super::super::parallel;

use super::window::tap_range;
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
            *b = max_step(*b, v);
        }
    });
}

/// `b` if it beats `a` (greater, or NaN), else `a`: one step of a running
/// maximum in tap order, where NaN propagates. Branch-free, like every
/// data-dependent choice here: on random data a branch mispredicts often
/// enough to make pooling several times slower.
#[inline(always)]
fn max_step<T: KernelFloat>(a: T, b: T) -> T {
    T::blend(u8::from(b > a) | u8::from(b.is_nan()), b, a)
}

/// 1 if `v` is the window maximum `best` (NaN matches NaN), else 0.
#[inline(always)]
fn is_max<T: KernelFloat>(v: T, best: T) -> u8 {
    u8::from(v == best) | (u8::from(v.is_nan()) & u8::from(best.is_nan()))
}

/// Non-overlapping 2×2 windows without padding (the usual `MaxPool2d(2)`),
/// which get straight-line kernels.
fn is_2x2(p: &Pool2dParams) -> bool {
    p.kernel == [2, 2] && p.stride == [2, 2] && p.padding == [0, 0]
}

/// One plane of 2×2 max pooling.
fn max_2x2<T: KernelFloat>(x: &[T], g: &Planes, dst: &mut [T]) {
    for (oy, row) in dst.chunks_exact_mut(g.ow).enumerate() {
        let r0 = &x[2 * oy * g.w..][..2 * g.ow];
        let r1 = &x[(2 * oy + 1) * g.w..][..2 * g.ow];
        for ((d, a), b) in row
            .iter_mut()
            .zip(r0.chunks_exact(2))
            .zip(r1.chunks_exact(2))
        {
            *d = max_step(max_step(max_step(a[0], a[1]), b[0]), b[1]);
        }
    }
}

/// One plane of the 2×2 max-pooling gradient: each window's gradient goes
/// to its first maximum, every other input gets zero.
fn max_2x2_backward<T: KernelFloat>(x: &[T], grad: &[T], g: &Planes, dx: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if super::super::wide_simd() {
        // SAFETY: `wide_simd` checked at run time that this CPU has the
        // AVX2 and FMA instructions the wide build is compiled for.
        return unsafe { max_2x2_backward_avx2(x, grad, g, dx) };
    }
    max_2x2_backward_plane(x, grad, g, dx);
}

/// The gradient `gv` of one 2×2 window with taps `[a0, a1, b0, b1]` (top
/// row, then bottom), sent to its first maximum: the top and bottom pairs.
#[inline(always)]
fn window_backward<T: KernelFloat>(taps: [T; 4], gv: T) -> ([T; 2], [T; 2]) {
    let [a0, a1, b0, b1] = taps;
    let m = max_step(max_step(max_step(a0, a1), b0), b1);
    // The first tap equal to the maximum, as 0/1 flags.
    let h0 = is_max(a0, m);
    let h1 = is_max(a1, m) & (h0 ^ 1);
    let h2 = is_max(b0, m) & ((h0 | h1) ^ 1);
    let h3 = (h0 | h1 | h2) ^ 1;
    let z = T::zero();
    (
        [T::blend(h0, gv, z), T::blend(h1, gv, z)],
        [T::blend(h2, gv, z), T::blend(h3, gv, z)],
    )
}

/// [`max_2x2_backward_plane`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn max_2x2_backward_avx2<T: KernelFloat>(x: &[T], grad: &[T], g: &Planes, dx: &mut [T]) {
    max_2x2_backward_plane(x, grad, g, dx);
}

/// The body of [`max_2x2_backward`], row pair by row pair. Written four
/// windows at a time, it runs 3.4x faster on the CNN's 28×28 planes than
/// the same arithmetic one window at a time (whose loop the compiler left
/// scalar: 14 windows a row are too few for its vector loop).
#[inline(always)]
fn max_2x2_backward_plane<T: KernelFloat>(x: &[T], grad: &[T], g: &Planes, dx: &mut [T]) {
    let zero = T::zero();
    let ow = g.ow;
    for oy in 0..g.oh {
        let (top, bottom) = dx[2 * oy * g.w..(2 * oy + 2) * g.w].split_at_mut(g.w);
        let r0 = &x[2 * oy * g.w..][..2 * ow];
        let r1 = &x[(2 * oy + 1) * g.w..][..2 * ow];
        let gr = &grad[oy * ow..][..ow];
        let (d0, d1) = (&mut top[..2 * ow], &mut bottom[..2 * ow]);
        // Four windows at a time, as fixed-size arrays the compiler turns
        // into vector operations, then the rest one by one.
        let quads = ow / 4 * 4;
        for j in (0..quads).step_by(4) {
            let (a, b) = (&r0[2 * j..][..8], &r1[2 * j..][..8]);
            let gv: [T; 4] = std::array::from_fn(|q| gr[j + q]);
            let mut top8 = [zero; 8];
            let mut bottom8 = [zero; 8];
            for q in 0..4 {
                let (t, u) =
                    window_backward([a[2 * q], a[2 * q + 1], b[2 * q], b[2 * q + 1]], gv[q]);
                top8[2 * q..2 * q + 2].copy_from_slice(&t);
                bottom8[2 * q..2 * q + 2].copy_from_slice(&u);
            }
            d0[2 * j..][..8].copy_from_slice(&top8);
            d1[2 * j..][..8].copy_from_slice(&bottom8);
        }
        for j in quads..ow {
            let taps = [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]];
            let (t, u) = window_backward(taps, gr[j]);
            d0[2 * j..2 * j + 2].copy_from_slice(&t);
            d1[2 * j..2 * j + 2].copy_from_slice(&u);
        }
        // An odd width leaves a last column outside every window.
        top[2 * ow..].fill(zero);
        bottom[2 * ow..].fill(zero);
    }
    dx[2 * g.oh * g.w..].fill(zero);
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
        let fast = is_2x2(&self.p);
        parallel::for_each_chunk(out, plane_out, |pl, dst| {
            let x = &args[0][pl * plane_in..][..plane_in];
            if fast {
                max_2x2(x, &g, dst);
                return;
            }
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
        let (p, fast) = (&self.p, is_2x2(&self.p));
        parallel::for_each_chunk_init(
            out,
            plane_in,
            || (vec![T::zero(); g.ow], vec![0u8; g.ow]),
            |(best, found), pl, dx| {
                let xs = &x[pl * plane_in..][..plane_in];
                let gs = &grad[pl * plane_out..][..plane_out];
                if fast {
                    max_2x2_backward(xs, gs, &g, dx);
                    return;
                }
                dx.fill(T::zero());
                for oy in 0..g.oh {
                    // The window maxima, then each window's first tap (in
                    // window order) that equals its maximum.
                    row_max(xs, &g, p, oy, best);
                    found.fill(0);
                    let gr = &gs[oy * g.ow..][..g.ow];
                    for_each_tap(&g, p, oy, |iy, kx, valid| {
                        let start = input_of(valid.start, p.stride[1], p.padding[1], kx);
                        let xrow = &xs[iy * g.w..(iy + 1) * g.w];
                        let drow = &mut dx[iy * g.w..(iy + 1) * g.w];
                        for (j, ox) in valid.enumerate() {
                            let i = start + j * p.stride[1];
                            let hit = (found[ox] ^ 1) & is_max(xrow[i], best[ox]);
                            drow[i] += T::blend(hit, gr[ox], T::zero());
                            found[ox] |= hit;
                        }
                    });
                }
            },
        );
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
        parallel::for_each_chunk_init(
            out,
            plane_out,
            || vec![T::zero(); g.ow],
            |div, pl, dst| {
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
        parallel::for_each_chunk_init(
            out,
            plane_in,
            || (vec![T::zero(); g.ow], vec![T::zero(); g.ow]),
            |(div, share), pl, dx| {
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

    /// Window by window: the first maximum (a NaN wins) and its gradient.
    fn naive(x: &[f32], h: usize, w: usize, p: &Pool2dParams) -> (Vec<f32>, Vec<f32>) {
        let g = planes(&[1, 1, h, w], &[1, 1, 0, 0]);
        let oh = (h + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1;
        let ow = (w + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1;
        let (mut out, mut dx) = (vec![0.0; oh * ow], vec![0.0; h * w]);
        for oy in 0..oh {
            for ox in 0..ow {
                let mut at: Option<usize> = None;
                for ky in 0..p.kernel[0] {
                    for kx in 0..p.kernel[1] {
                        let iy = (oy * p.stride[0] + ky).checked_sub(p.padding[0]);
                        let ix = (ox * p.stride[1] + kx).checked_sub(p.padding[1]);
                        let (Some(iy), Some(ix)) = (iy, ix) else {
                            continue;
                        };
                        if iy >= g.h || ix >= g.w {
                            continue;
                        }
                        let i = iy * w + ix;
                        at = match at {
                            None => Some(i),
                            Some(b) if x[b].is_nan() => Some(b),
                            Some(_) if x[i].is_nan() => Some(i),
                            Some(b) if x[i] > x[b] => Some(i),
                            keep => keep,
                        };
                    }
                }
                let at = at.unwrap();
                out[oy * ow + ox] = x[at];
                dx[at] += (oy * ow + ox + 1) as f32;
            }
        }
        (out, dx)
    }

    #[test]
    fn max_pooling_picks_the_first_maximum_with_ties_and_nans() {
        // Widths whose rows of 2×2 windows are a multiple of four, not one,
        // and shorter than four (the straight-line kernels take four windows
        // at a time).
        for (h, w) in [(7, 9), (6, 13), (5, 7)] {
            check_max_pooling(h, w);
        }
    }

    fn check_max_pooling(h: usize, w: usize) {
        // Few distinct values make ties common; a few NaNs.
        let x: Vec<f32> = (0..h * w)
            .map(|i| {
                if i % 17 == 5 {
                    f32::NAN
                } else {
                    ((i * 7) % 4) as f32
                }
            })
            .collect();
        let configs = [
            ([2, 2], [2, 2], [0, 0]),
            ([3, 3], [2, 2], [1, 1]),
            ([2, 2], [1, 1], [0, 0]),
        ];
        for (kernel, stride, padding) in configs {
            let p = Pool2dParams {
                kernel,
                stride,
                padding,
                count_include_pad: true,
            };
            let (want_out, want_dx) = naive(&x, h, w, &p);
            let out_shape = [
                1,
                1,
                (h + 2 * padding[0] - kernel[0]) / stride[0] + 1,
                (w + 2 * padding[1] - kernel[1]) / stride[1] + 1,
            ];
            let mut out = vec![0.0f32; want_out.len()];
            MaxForward { p }
                .run(&[&x], &[&[1, 1, h, w]], &out_shape, &mut out)
                .unwrap();
            let same = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .all(|(u, v)| u == v || (u.is_nan() && v.is_nan()))
            };
            assert!(
                same(&out, &want_out),
                "{h}x{w} {kernel:?} {stride:?}: {out:?} vs {want_out:?}"
            );
            let grad: Vec<f32> = (1..=want_out.len()).map(|v| v as f32).collect();
            let mut dx = vec![0.0f32; h * w];
            MaxBackward { p }
                .run(
                    &[&grad, &x],
                    &[&out_shape, &[1, 1, h, w]],
                    &[1, 1, h, w],
                    &mut dx,
                )
                .unwrap();
            assert_eq!(dx, want_dx, "{h}x{w} {kernel:?} {stride:?}");
        }
    }
}
