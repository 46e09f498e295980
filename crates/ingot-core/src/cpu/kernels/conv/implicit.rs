//! Convolution without a patch matrix, for stride 1 and no dilation: one
//! GEMM per kernel row over a zero-padded channels-last copy of the image.
//!
//! In a padded image of `Hp x Wp` pixels of `C/g` channels, the taps of
//! kernel row `i` at output pixel `(oy, ox)` are the `kw * C/g` contiguous
//! values from pixel `(oy + i, ox)` on; the next output pixel's start one
//! pixel later. So kernel row `i`'s patches form a matrix whose column `q`
//! starts at pixel `q + i * Wp` and whose columns are one pixel apart: a
//! strided view of the copy, with no im2col. Columns run over whole padded
//! rows, `q = oy * Wp + ox` with `ox < Wp`; the `kw - 1` columns past each
//! row's last output are computed and dropped (they read the next row).

use super::super::super::parallel;
use super::super::matmul::{Mat, gemm_into};
use super::{Geometry, KernelFloat, transpose_into};
use crate::ir::Conv2dParams;

/// Whether a convolution can run this way, and wastes little doing so: at
/// most an eighth of the columns dropped (a 3-wide kernel from 16 padded
/// columns on, a 5-wide one from 32). Narrower images run faster through
/// patches.
pub(super) fn applies(g: &Geometry, p: &Conv2dParams) -> bool {
    let (_, wp) = padded(g, p);
    p.stride == [1, 1] && p.dilation == [1, 1] && (g.kw - 1) * 8 <= wp
}

/// Padded sizes `(Hp, Wp)`.
fn padded(g: &Geometry, p: &Conv2dParams) -> (usize, usize) {
    (g.h + 2 * p.padding[0], g.w + 2 * p.padding[1])
}

/// Output columns of one kernel row's product: every output pixel, with
/// the dropped ones in between.
fn columns(g: &Geometry, wp: usize) -> usize {
    (g.oh - 1) * wp + g.ow
}

/// Copies one image's group channels `x` (`C/g x H x W`) into `out` as
/// `Hp x Wp` channels-last pixels, zero outside the image.
fn pad_channels_last<T: KernelFloat>(x: &[T], g: &Geometry, p: &Conv2dParams, out: &mut Vec<T>) {
    let (hp, wp) = padded(g, p);
    let cg = g.cg();
    out.clear();
    out.resize(hp * wp * cg, T::zero());
    for y in 0..g.h {
        let start = ((y + p.padding[0]) * wp + p.padding[1]) * cg;
        let pixels = out[start..][..g.w * cg].chunks_exact_mut(cg);
        for (xi, px) in pixels.enumerate() {
            for (c, v) in px.iter_mut().enumerate() {
                *v = x[(c * g.h + y) * g.w + xi];
            }
        }
    }
}

/// Scratch space of one thread.
#[derive(Default)]
struct Scratch<T> {
    image: Vec<T>,
    pixels: Vec<T>,
}

/// The convolution of `x` (`N x C x H x W`) with the filters `wt`, given
/// as each group's `K x O/g` matrix with taps ordered `(i, j, c)`, into
/// `out` (`N x O x OH x OW`).
pub(super) fn forward<T: KernelFloat>(
    x: &[T],
    wt: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    out: &mut [T],
) {
    let (k, og, ohw) = (g.k(), g.og(), g.ohw());
    let (_, wp) = padded(g, p);
    let (cg, run) = (g.cg(), g.kw * g.cg());
    let n = columns(g, wp);
    parallel::for_each_chunk_init(out, g.o * ohw, Scratch::default, |s, b, image| {
        for gi in 0..g.groups {
            let xs = &x[(b * g.c + gi * cg) * g.hw()..][..cg * g.hw()];
            pad_channels_last(xs, g, p, &mut s.image);
            // Kernel row 0's product overwrites every value.
            s.pixels.resize(og * n, T::zero());
            for i in 0..g.kh {
                // Pixels x filters, pixel-major: (O/g x run) @ (run x n).
                let lhs = Mat {
                    data: wt,
                    offset: gi * og * k + i * run * og,
                    rs: 1,
                    cs: og,
                };
                let rhs = Mat {
                    data: s.image.as_slice(),
                    offset: i * wp * cg,
                    rs: 1,
                    cs: cg,
                };
                gemm_into(
                    og,
                    n,
                    run,
                    &mut s.pixels,
                    (1, og),
                    lhs,
                    rhs,
                    i > 0,
                    gemm::Parallelism::None,
                );
            }
            let planes = &mut image[gi * og * ohw..][..og * ohw];
            for oy in 0..g.oh {
                let row = &s.pixels[oy * wp * og..][..g.ow * og];
                transpose_into(row, og, planes, ohw, oy * g.ow);
            }
        }
    });
}

/// Adds one image's weight gradient for one group to `wt` (`O/g x K`, taps
/// ordered `(i, j, c)`): for each kernel row, the output gradient `grad`
/// (`O/g x OH x OW`), laid out over the same columns as the patches with
/// zeros at the dropped ones, times the patches. `x` is the image's group
/// channels; `image` and `padded_grad` are scratch.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_weight_grad<T: KernelFloat>(
    x: &[T],
    grad: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    wt: &mut [T],
    image: &mut Vec<T>,
    padded_grad: &mut Vec<T>,
) {
    let (k, og, ohw) = (g.k(), g.og(), g.ohw());
    let (_, wp) = padded(g, p);
    let (cg, run) = (g.cg(), g.kw * g.cg());
    let n = columns(g, wp);
    pad_channels_last(x, g, p, image);
    padded_grad.clear();
    padded_grad.resize(og * n, T::zero());
    for (plane, row) in grad.chunks_exact(ohw).zip(padded_grad.chunks_exact_mut(n)) {
        for (src, dst) in plane.chunks_exact(g.ow).zip(row.chunks_mut(wp)) {
            dst[..g.ow].copy_from_slice(src);
        }
    }
    for i in 0..g.kh {
        // Kernel row i's taps, transposed: (run x n) @ (n x O/g), which gemm
        // reads as they are.
        let lhs = Mat {
            data: image.as_slice(),
            offset: i * wp * cg,
            rs: 1,
            cs: cg,
        };
        let rhs = Mat {
            data: padded_grad.as_slice(),
            offset: 0,
            rs: 1,
            cs: n,
        };
        gemm_into(
            run,
            og,
            n,
            &mut wt[i * run..],
            (1, k),
            lhs,
            rhs,
            true,
            gemm::Parallelism::None,
        );
    }
}
