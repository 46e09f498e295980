//! 2-D convolution and its gradients by im2col + GEMM, over blocks of images.
//!
//! For a block of `B` images and group `g`, `cols` is the
//! `(C/g * kh * kw) x (B * OH * OW)` matrix of input patches, image after
//! image, and `G` the block's output (or output gradient) laid out as
//! `(O/g) x (B * OH * OW)`. Then
//! - forward: `G^T = cols^T @ w[g]^T`, scattered into the NCHW output,
//! - input gradient: `cols'^T = G^T @ w[g]`, added back into the input
//!   (col2im),
//! - weight gradient: `dw[g]^T += cols @ G^T`, summed over blocks.
//!
//! Each product is oriented so that its long side (pixels, or the patch
//! length) is the GEMM's `m`: the `gemm` crate's kernels run up to twice as
//! fast that way round for these shapes than with the few output channels
//! as `m`. Blocking images makes each GEMM wide enough (at least
//! [`MIN_COLUMNS`] columns) to run near the machine's peak even for small
//! feature maps; blocks run in parallel, each thread with its own scratch
//! matrices.

use rayon::prelude::*;

use super::matmul::{Mat, gemm_into};
use super::{FloatKernel, KernelFloat};
use crate::Result;
use crate::ir::Conv2dParams;

/// GEMMs get at least this many columns when the batch allows.
const MIN_COLUMNS: usize = 512;

/// The weight gradient sums over whole blocks of images; its `cols` may
/// grow to this many elements per thread.
const MAX_WEIGHT_GRAD_COLS: usize = 1 << 20;

/// Sizes of one convolution.
#[derive(Clone, Copy)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    groups: usize,
}

impl Geometry {
    fn new(x: &[usize], wt: &[usize], out_hw: [usize; 2], groups: usize) -> Self {
        Geometry {
            n: x[0],
            c: x[1],
            h: x[2],
            w: x[3],
            o: wt[0],
            kh: wt[2],
            kw: wt[3],
            oh: out_hw[0],
            ow: out_hw[1],
            groups,
        }
    }
    fn cg(&self) -> usize {
        self.c / self.groups
    }
    fn og(&self) -> usize {
        self.o / self.groups
    }
    /// Rows of `cols`.
    fn k(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    fn ohw(&self) -> usize {
        self.oh * self.ow
    }
    fn hw(&self) -> usize {
        self.h * self.w
    }
    /// Images per block: enough for [`MIN_COLUMNS`], but leaving every
    /// thread at least one block.
    fn block(&self) -> usize {
        let threads = rayon::current_num_threads().max(1);
        let wide = MIN_COLUMNS.div_ceil(self.ohw().max(1));
        wide.min(self.n.div_ceil(threads)).max(1)
    }
    /// Images per block of the weight gradient: each thread's share of the
    /// batch, as far as [`MAX_WEIGHT_GRAD_COLS`] allows (a longer inner
    /// dimension costs the GEMM nothing and saves partial sums).
    fn weight_grad_block(&self) -> usize {
        let threads = rayon::current_num_threads().max(1);
        let per_image = (self.k() * self.ohw()).max(1);
        (MAX_WEIGHT_GRAD_COLS / per_image)
            .min(self.n.div_ceil(threads))
            .max(self.block().min(self.n))
            .max(1)
    }
}

/// The output positions `o` along one axis whose input `o * stride - pad + off`
/// lies in `0..size`, as a half-open range.
fn valid_range(out: usize, size: usize, stride: usize, pad: usize, off: usize) -> (usize, usize) {
    // o * stride + off >= pad  and  o * stride + off < pad + size
    let lo = if off >= pad {
        0
    } else {
        (pad - off).div_ceil(stride)
    };
    let hi = if pad + size > off {
        (pad + size - off).div_ceil(stride)
    } else {
        0
    };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}

/// Fills columns `col0..col0 + OH * OW` of `cols` (row stride `ld`) with the
/// patches of one image's group channels `x` (`cg x h x w`).
fn im2col<T: KernelFloat>(
    x: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    cols: &mut [T],
    ld: usize,
    col0: usize,
) {
    let ohw = g.ohw();
    for c in 0..g.cg() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut cols[((c * g.kh + i) * g.kw + j) * ld + col0..][..ohw];
                let (oy0, oy1) =
                    valid_range(g.oh, g.h, p.stride[0], p.padding[0], i * p.dilation[0]);
                let (ox0, ox1) =
                    valid_range(g.ow, g.w, p.stride[1], p.padding[1], j * p.dilation[1]);
                row[..oy0 * g.ow].fill(T::zero());
                row[oy1 * g.ow..].fill(T::zero());
                for oy in oy0..oy1 {
                    let dst = &mut row[oy * g.ow..][..g.ow];
                    dst[..ox0].fill(T::zero());
                    dst[ox1..].fill(T::zero());
                    if ox0 == ox1 {
                        continue;
                    }
                    let iy = oy * p.stride[0] + i * p.dilation[0] - p.padding[0];
                    let src = &x[(c * g.h + iy) * g.w..][..g.w];
                    let base = ox0 * p.stride[1] + j * p.dilation[1] - p.padding[1];
                    if p.stride[1] == 1 {
                        copy_short(&mut dst[ox0..ox1], &src[base..base + (ox1 - ox0)]);
                    } else {
                        for (k, d) in dst[ox0..ox1].iter_mut().enumerate() {
                            *d = src[base + k * p.stride[1]];
                        }
                    }
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short rows of small feature maps,
/// where a call to `memcpy` costs more than the copy: whole 8-element
/// blocks move as fixed-size arrays, the rest element by element.
#[inline(always)]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dc, sc) in (&mut d).zip(&mut s) {
        let block: [T; 8] = [sc[0], sc[1], sc[2], sc[3], sc[4], sc[5], sc[6], sc[7]];
        dc.copy_from_slice(&block);
    }
    for (x, &y) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *x = y;
    }
}

/// Adds columns `col0..col0 + OH * OW` of `cols` (row stride `ld`) back into
/// one image's group channels `dx`: the adjoint of [`im2col`].
fn col2im<T: KernelFloat>(
    cols: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    dx: &mut [T],
    ld: usize,
    col0: usize,
) {
    let ohw = g.ohw();
    for c in 0..g.cg() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &cols[((c * g.kh + i) * g.kw + j) * ld + col0..][..ohw];
                let (oy0, oy1) =
                    valid_range(g.oh, g.h, p.stride[0], p.padding[0], i * p.dilation[0]);
                let (ox0, ox1) =
                    valid_range(g.ow, g.w, p.stride[1], p.padding[1], j * p.dilation[1]);
                if ox0 == ox1 {
                    continue;
                }
                for oy in oy0..oy1 {
                    let iy = oy * p.stride[0] + i * p.dilation[0] - p.padding[0];
                    let src = &row[oy * g.ow..][..g.ow];
                    let dst = &mut dx[(c * g.h + iy) * g.w..][..g.w];
                    let base = ox0 * p.stride[1] + j * p.dilation[1] - p.padding[1];
                    if p.stride[1] == 1 {
                        for (d, &s) in dst[base..base + (ox1 - ox0)].iter_mut().zip(&src[ox0..ox1])
                        {
                            *d += s;
                        }
                    } else {
                        for (k, &s) in src[ox0..ox1].iter().enumerate() {
                            dst[base + k * p.stride[1]] += s;
                        }
                    }
                }
            }
        }
    }
}

/// Fills `cols` (`K x (images * OH * OW)`) with group `gi`'s patches of
/// images `first..first + images` of `x`.
fn block_cols<T: KernelFloat>(
    x: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    gi: usize,
    first: usize,
    images: usize,
    cols: &mut Vec<T>,
) {
    let ld = images * g.ohw();
    cols.resize(g.k() * ld, T::zero());
    for b in 0..images {
        let xs = &x[((first + b) * g.c + gi * g.cg()) * g.hw()..][..g.cg() * g.hw()];
        im2col(xs, g, p, cols, ld, b * g.ohw());
    }
}

/// Copies group `gi`'s channels of images `first..first + images` of an
/// `N x O x OH*OW` tensor into `out` (`O/g x (images * OH * OW)`).
fn block_rows<T: KernelFloat>(
    y: &[T],
    g: &Geometry,
    gi: usize,
    first: usize,
    images: usize,
    out: &mut Vec<T>,
) {
    let (og, ohw) = (g.og(), g.ohw());
    let ld = images * ohw;
    out.resize(og * ld, T::zero());
    for b in 0..images {
        for o in 0..og {
            let src = &y[((first + b) * g.o + gi * og + o) * ohw..][..ohw];
            out[o * ld + b * ohw..][..ohw].copy_from_slice(src);
        }
    }
}

/// Scratch matrices of one thread.
#[derive(Default)]
struct Scratch<T> {
    cols: Vec<T>,
    rows: Vec<T>,
}

pub(crate) struct Forward {
    pub p: Conv2dParams,
}

impl FloatKernel for Forward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let (x, wt) = (args[0], args[1]);
        let g = Geometry::new(
            shapes[0],
            shapes[1],
            [out_shape[2], out_shape[3]],
            self.p.groups,
        );
        let (k, ohw, og) = (g.k(), g.ohw(), g.og());
        let per_image = g.o * ohw;
        if per_image == 0 || g.n == 0 {
            return Ok(());
        }
        let block = g.block();
        out.par_chunks_mut(block * per_image)
            .enumerate()
            .for_each_init(Scratch::default, |s, (bi, dst)| {
                let (first, images) = (bi * block, dst.len() / per_image);
                let ld = images * ohw;
                for gi in 0..g.groups {
                    block_cols(x, &g, &self.p, gi, first, images, &mut s.cols);
                    s.rows.resize(ld * og, T::zero());
                    // rows = cols^T @ w[gi]^T: (pixels x K) @ (K x O/g).
                    let lhs = Mat {
                        data: s.cols.as_slice(),
                        offset: 0,
                        rs: 1,
                        cs: ld,
                    };
                    let rhs = Mat {
                        data: wt,
                        offset: gi * og * k,
                        rs: 1,
                        cs: k,
                    };
                    gemm_into(
                        ld,
                        og,
                        k,
                        &mut s.rows,
                        (og, 1),
                        lhs,
                        rhs,
                        false,
                        gemm::Parallelism::None,
                    );
                    for b in 0..images {
                        let pixels = &s.rows[b * ohw * og..][..ohw * og];
                        for o in 0..og {
                            let out_row = &mut dst[(b * g.o + gi * og + o) * ohw..][..ohw];
                            for (d, px) in out_row.iter_mut().zip(pixels.chunks_exact(og)) {
                                *d = px[o];
                            }
                        }
                    }
                }
            });
        Ok(())
    }
}

pub(crate) struct BackwardInput {
    pub p: Conv2dParams,
}

impl FloatKernel for BackwardInput {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let (grad, wt) = (args[0], args[1]);
        let g = Geometry::new(
            out_shape,
            shapes[1],
            [shapes[0][2], shapes[0][3]],
            self.p.groups,
        );
        let (k, ohw, og, cg) = (g.k(), g.ohw(), g.og(), g.cg());
        let per_image = g.c * g.hw();
        if per_image == 0 || g.n == 0 {
            return Ok(());
        }
        let block = g.block();
        out.par_chunks_mut(block * per_image)
            .enumerate()
            .for_each_init(Scratch::default, |s, (bi, dx)| {
                let (first, images) = (bi * block, dx.len() / per_image);
                let ld = images * ohw;
                dx.fill(T::zero());
                for gi in 0..g.groups {
                    block_rows(grad, &g, gi, first, images, &mut s.rows);
                    s.cols.resize(k * ld, T::zero());
                    // cols^T = G^T @ w[gi]: (pixels x O/g) @ (O/g x K),
                    // stored as cols (K x pixels).
                    let lhs = Mat {
                        data: s.rows.as_slice(),
                        offset: 0,
                        rs: 1,
                        cs: ld,
                    };
                    let rhs = Mat {
                        data: wt,
                        offset: gi * og * k,
                        rs: k,
                        cs: 1,
                    };
                    gemm_into(
                        ld,
                        k,
                        og,
                        &mut s.cols,
                        (1, ld),
                        lhs,
                        rhs,
                        false,
                        gemm::Parallelism::None,
                    );
                    for b in 0..images {
                        let dxg = &mut dx[(b * g.c + gi * cg) * g.hw()..][..cg * g.hw()];
                        col2im(&s.cols, &g, &self.p, dxg, ld, b * ohw);
                    }
                }
            });
        Ok(())
    }
}

pub(crate) struct BackwardWeight {
    pub p: Conv2dParams,
}

impl FloatKernel for BackwardWeight {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let (grad, x) = (args[0], args[1]);
        let g = Geometry::new(
            shapes[1],
            out_shape,
            [shapes[0][2], shapes[0][3]],
            self.p.groups,
        );
        let (k, ohw, og) = (g.k(), g.ohw(), g.og());
        out.fill(T::zero());
        if out.is_empty() || g.n == 0 || ohw == 0 {
            return Ok(());
        }
        let block = g.weight_grad_block();
        let blocks = g.n.div_ceil(block);
        // Each block adds cols @ G^T (K x O/g per group, transposed weight
        // layout) into its thread's partial sum.
        let partials = (0..blocks)
            .into_par_iter()
            .fold(
                || (vec![T::zero(); out.len()], Scratch::default()),
                |(mut dwt, mut s), bi| {
                    let first = bi * block;
                    let images = block.min(g.n - first);
                    let ld = images * ohw;
                    for gi in 0..g.groups {
                        block_cols(x, &g, &self.p, gi, first, images, &mut s.cols);
                        block_rows(grad, &g, gi, first, images, &mut s.rows);
                        let lhs = Mat {
                            data: s.cols.as_slice(),
                            offset: 0,
                            rs: ld,
                            cs: 1,
                        };
                        let rhs = Mat {
                            data: s.rows.as_slice(),
                            offset: 0,
                            rs: 1,
                            cs: ld,
                        };
                        gemm_into(
                            k,
                            og,
                            ld,
                            &mut dwt[gi * og * k..],
                            (og, 1),
                            lhs,
                            rhs,
                            true,
                            gemm::Parallelism::None,
                        );
                    }
                    (dwt, s)
                },
            )
            .map(|(dwt, _)| dwt)
            .collect::<Vec<_>>();
        // Transpose each group's K x O/g sums into the O/g x K weight layout.
        for part in partials {
            for gi in 0..g.groups {
                let src = &part[gi * og * k..][..og * k];
                let dst = &mut out[gi * og * k..][..og * k];
                for (kk, row) in src.chunks_exact(og).enumerate() {
                    for (o, &v) in row.iter().enumerate() {
                        dst[o * k + kk] += v;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges_clip_padding() {
        // size 4, stride 1, pad 1, kernel offset 0: outputs 1..5 read inputs 0..4
        assert_eq!(valid_range(4, 4, 1, 1, 0), (1, 4));
        assert_eq!(valid_range(4, 4, 1, 1, 2), (0, 3));
        // stride 2: output o reads 2o - 1 + off
        assert_eq!(valid_range(3, 5, 2, 1, 0), (1, 3));
        // a kernel tap entirely in the padding
        assert_eq!(valid_range(2, 1, 1, 3, 0), (2, 2));
    }
}
