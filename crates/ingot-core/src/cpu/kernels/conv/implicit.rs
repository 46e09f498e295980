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
    for (c, plane) in x.chunks_exact(g.hw()).enumerate() {
        for (y, row) in plane.chunks_exact(g.w).enumerate() {
            let start = ((y + p.padding[0]) * wp + p.padding[1]) * cg + c;
            for (px, &v) in out[start..].iter_mut().step_by(cg).zip(row) {
                *px = v;
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
