//! 2-D convolution and its gradients by im2col + GEMM, per image and group.
//!
//! For image `n` and group `g`, `cols` is the `(C/g * kh * kw) x (OH * OW)`
//! matrix of input patches. Then
//! - forward: `out[n, g] = w[g] @ cols`,
//! - input gradient: `cols' = w[g]^T @ grad[n, g]`, scattered back (col2im),
//! - weight gradient: `dw[g] += grad[n, g] @ cols^T`, summed over images.
//!
//! A 1x1 convolution with stride 1 and no padding uses the input as `cols`.
//! Images run in parallel (each thread with its own `cols`), or, for fewer
//! images than threads, each GEMM runs multi-threaded.

use rayon::prelude::*;

use super::matmul::{Mat, gemm_into, parallelism};
use super::{FloatKernel, KernelFloat};
use crate::Result;
use crate::ir::Conv2dParams;

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
    fn is_pointwise(&self, p: &Conv2dParams) -> bool {
        self.kh == 1 && self.kw == 1 && p.stride == [1, 1] && p.padding == [0, 0]
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

/// Fills `cols` from the channels `x` (`cg x h x w`).
fn im2col<T: KernelFloat>(x: &[T], g: &Geometry, p: &Conv2dParams, cols: &mut [T]) {
    let ohw = g.ohw();
    for c in 0..g.cg() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut cols[((c * g.kh + i) * g.kw + j) * ohw..][..ohw];
                let (oy0, oy1) =
                    valid_range(g.oh, g.h, p.stride[0], p.padding[0], i * p.dilation[0]);
                let (ox0, ox1) =
                    valid_range(g.ow, g.w, p.stride[1], p.padding[1], j * p.dilation[1]);
                row[..oy0 * g.ow].fill(T::zero());
                row[oy1 * g.ow..].fill(T::zero());
                for oy in oy0..oy1 {
                    let iy = oy * p.stride[0] + i * p.dilation[0] - p.padding[0];
                    let dst = &mut row[oy * g.ow..][..g.ow];
                    dst[..ox0].fill(T::zero());
                    dst[ox1..].fill(T::zero());
                    if ox0 == ox1 {
                        continue;
                    }
                    let src = &x[(c * g.h + iy) * g.w..][..g.w];
                    let base = ox0 * p.stride[1] + j * p.dilation[1] - p.padding[1];
                    if p.stride[1] == 1 {
                        dst[ox0..ox1].copy_from_slice(&src[base..base + (ox1 - ox0)]);
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

/// Adds `cols` back into the channels `dx` (`cg x h x w`): the adjoint of im2col.
fn col2im<T: KernelFloat>(cols: &[T], g: &Geometry, p: &Conv2dParams, dx: &mut [T]) {
    let ohw = g.ohw();
    for c in 0..g.cg() {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &cols[((c * g.kh + i) * g.kw + j) * ohw..][..ohw];
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
                    for (k, &s) in src[ox0..ox1].iter().enumerate() {
                        dst[base + k * p.stride[1]] += s;
                    }
                }
            }
        }
    }
}

/// Whether images run in parallel (else each GEMM does).
fn per_image_parallel(n: usize) -> bool {
    n >= rayon::current_num_threads()
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
        let (k, ohw, cg, og) = (g.k(), g.ohw(), g.cg(), g.og());
        let pointwise = g.is_pointwise(&self.p);
        let image = |n: usize, dst: &mut [T], cols: &mut Vec<T>, par| {
            for gi in 0..g.groups {
                let xs = &x[(n * g.c + gi * cg) * g.h * g.w..][..cg * g.h * g.w];
                let rhs = if pointwise {
                    Mat {
                        data: xs,
                        offset: 0,
                        rs: ohw,
                        cs: 1,
                    }
                } else {
                    cols.resize(k * ohw, T::zero());
                    im2col(xs, &g, &self.p, cols);
                    Mat {
                        data: cols.as_slice(),
                        offset: 0,
                        rs: ohw,
                        cs: 1,
                    }
                };
                let lhs = Mat {
                    data: wt,
                    offset: gi * og * k,
                    rs: k,
                    cs: 1,
                };
                gemm_into(
                    og,
                    ohw,
                    k,
                    &mut dst[gi * og * ohw..],
                    ohw,
                    lhs,
                    rhs,
                    false,
                    par,
                );
            }
        };
        let per_image = g.o * ohw;
        if per_image == 0 {
            return Ok(());
        }
        if per_image_parallel(g.n) {
            out.par_chunks_mut(per_image)
                .enumerate()
                .for_each_init(Vec::new, |cols, (n, dst)| {
                    image(n, dst, cols, gemm::Parallelism::None)
                });
        } else {
            let mut cols = Vec::new();
            for (n, dst) in out.chunks_mut(per_image).enumerate() {
                image(n, dst, &mut cols, parallelism(og * ohw * k));
            }
        }
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
        let (k, ohw, cg, og) = (g.k(), g.ohw(), g.cg(), g.og());
        let pointwise = g.is_pointwise(&self.p);
        let image = |n: usize, dx: &mut [T], cols: &mut Vec<T>, par| {
            for gi in 0..g.groups {
                let lhs = Mat {
                    data: wt,
                    offset: gi * og * k,
                    rs: 1,
                    cs: k,
                };
                let rhs = Mat {
                    data: grad,
                    offset: (n * g.o + gi * og) * ohw,
                    rs: ohw,
                    cs: 1,
                };
                let dxg = &mut dx[gi * cg * g.h * g.w..][..cg * g.h * g.w];
                if pointwise {
                    gemm_into(k, ohw, og, dxg, ohw, lhs, rhs, false, par);
                } else {
                    cols.resize(k * ohw, T::zero());
                    gemm_into(k, ohw, og, cols, ohw, lhs, rhs, false, par);
                    dxg.fill(T::zero());
                    col2im(cols, &g, &self.p, dxg);
                }
            }
        };
        let per_image = g.c * g.h * g.w;
        if per_image == 0 {
            return Ok(());
        }
        if per_image_parallel(g.n) {
            out.par_chunks_mut(per_image)
                .enumerate()
                .for_each_init(Vec::new, |cols, (n, dx)| {
                    image(n, dx, cols, gemm::Parallelism::None)
                });
        } else {
            let mut cols = Vec::new();
            for (n, dx) in out.chunks_mut(per_image).enumerate() {
                image(n, dx, &mut cols, parallelism(k * ohw * og));
            }
        }
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
        let (k, ohw, cg, og) = (g.k(), g.ohw(), g.cg(), g.og());
        let pointwise = g.is_pointwise(&self.p);
        // Adds image n's contribution to `dw` (O x k).
        let image = |n: usize, dw: &mut [T], cols: &mut Vec<T>, par| {
            for gi in 0..g.groups {
                let xs = &x[(n * g.c + gi * cg) * g.h * g.w..][..cg * g.h * g.w];
                let rhs = if pointwise {
                    Mat {
                        data: xs,
                        offset: 0,
                        rs: 1,
                        cs: ohw,
                    }
                } else {
                    cols.resize(k * ohw, T::zero());
                    im2col(xs, &g, &self.p, cols);
                    Mat {
                        data: cols.as_slice(),
                        offset: 0,
                        rs: 1,
                        cs: ohw,
                    }
                };
                let lhs = Mat {
                    data: grad,
                    offset: (n * g.o + gi * og) * ohw,
                    rs: ohw,
                    cs: 1,
                };
                gemm_into(og, k, ohw, &mut dw[gi * og * k..], k, lhs, rhs, true, par);
            }
        };
        out.fill(T::zero());
        if out.is_empty() {
            return Ok(());
        }
        if per_image_parallel(g.n) {
            let threads = rayon::current_num_threads();
            let per = g.n.div_ceil(threads);
            let partials: Vec<Vec<T>> = (0..threads)
                .into_par_iter()
                .map(|t| {
                    let mut dw = vec![T::zero(); out.len()];
                    let mut cols = Vec::new();
                    for n in (t * per)..((t + 1) * per).min(g.n) {
                        image(n, &mut dw, &mut cols, gemm::Parallelism::None);
                    }
                    dw
                })
                .collect();
            for part in partials {
                out.iter_mut().zip(part).for_each(|(o, v)| *o += v);
            }
        } else {
            let mut cols = Vec::new();
            for n in 0..g.n {
                image(n, out, &mut cols, parallelism(og * k * ohw));
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
