//! 2-D convolution and its gradients by GEMMs, over images or blocks of
//! them.
//!
//! Stride-1, undilated convolutions over many channels of images wide
//! enough run without patches ([`implicit`]: one GEMM per kernel row over a
//! zero-padded channels-last copy of each image, or, in `f32` on CPUs with
//! AVX-512, register tiles over zero-padded planes). The rest go by im2col:
//! for a block of `B` images and group `g`, `cols` is the `K x P` matrix of
//! input patches (`K = C/g * kh * kw` taps, `P = B * OH * OW` pixels, image
//! after image; [`patches`] has its two memory layouts), `w` the group's
//! filters as `O/g x K` (taps in the layout's order) and `G` the block's
//! output (or output gradient) as `O/g x P`. Then
//! - forward: `G^T = cols^T @ w^T` from planar patches, `G = w @ cols`
//!   (pixel by pixel) from channels-last ones, written into the NCHW output,
//! - input gradient: `cols^T = G^T @ w`, added back into the input
//!   (col2im),
//! - weight gradient: `w^T += cols @ G^T`, one image at a time (a few when
//!   feature maps are tiny) so that its patches stay in cache, summed over
//!   blocks.
//!
//! Each product is set up so that `gemm` reads the patch matrix where it
//! lies instead of packing it again. Blocking images makes the forward and
//! input-gradient GEMMs wide enough (at least [`MIN_COLUMNS`] pixels) to
//! run near the machine's peak even for small feature maps; blocks run in
//! parallel, each thread with its own scratch matrices.

mod implicit;
mod patches;
mod transpose;

use std::borrow::Cow;

use super::super::parallel;

use super::matmul::{Mat, gemm_into};
use super::{FloatKernel, KernelFloat};
use crate::Result;
use crate::ir::Conv2dParams;
use patches::Layout;
use transpose::transpose;

/// The forward's and input gradient's GEMMs through patches get at least
/// this many columns when the batch allows.
const MIN_COLUMNS: usize = 512;

/// The weight gradient's GEMMs sum over at least this many pixels.
const MIN_WEIGHT_GRAD_DEPTH: usize = 64;

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
        let threads = parallel::num_threads();
        let wide = MIN_COLUMNS.div_ceil(self.ohw().max(1));
        wide.min(self.n.div_ceil(threads)).max(1)
    }
    /// Images per GEMM of the weight gradient: one, unless feature maps
    /// are so small that one image's pixels would make a GEMM shallower
    /// than [`MIN_WEIGHT_GRAD_DEPTH`].
    fn weight_grad_step(&self) -> usize {
        MIN_WEIGHT_GRAD_DEPTH.div_ceil(self.ohw().max(1))
    }
}

/// Copies group `gi`'s channels of images `first..first + images` of an
/// `N x O x OH*OW` tensor into `out` (`O/g x (images * OH * OW)`).
fn block_rows<T: KernelFloat>(
    y: &[T],
    g: &Geometry,
    gi: usize,
    (first, images): (usize, usize),
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

/// The filters `wt` (`O x C/g x kh x kw`) with each filter's taps in the
/// order of `layout`'s patches.
fn filters_for<'a, T: KernelFloat>(wt: &'a [T], g: &Geometry, layout: Layout) -> Cow<'a, [T]> {
    if layout == Layout::Planar {
        return Cow::Borrowed(wt);
    }
    let k = g.k();
    let mut out = Vec::with_capacity(wt.len());
    for filter in wt.chunks_exact(k) {
        out.extend((0..k).map(|kk| filter[layout.weight_index(g, kk)]));
    }
    Cow::Owned(out)
}

/// The filters `wt` (`O x C/g x kh x kw`) as each group's `K x O/g`
/// matrix, taps in the order of `layout`'s patches.
fn transposed_filters<T: KernelFloat>(wt: &[T], g: &Geometry, layout: Layout) -> Vec<T> {
    let (k, og) = (g.k(), g.og());
    let filters = filters_for(wt, g, layout);
    let mut out = vec![T::zero(); wt.len()];
    for (group, transposed) in filters
        .chunks_exact(og * k)
        .zip(out.chunks_exact_mut(og * k))
    {
        transpose((group, k), (transposed, og), [og, k]);
    }
    out
}

/// Adds `bias[p]` to each value of plane `p` of `planes`, whose planes
/// are `plane` values each, one after another.
fn add_bias<T: KernelFloat>(planes: &mut [T], bias: &[T], plane: usize) {
    for (values, &b) in planes.chunks_exact_mut(plane).zip(bias) {
        values.iter_mut().for_each(|v| *v += b);
    }
}

/// Scratch matrices of one thread.
#[derive(Default)]
struct Scratch<T> {
    cols: Vec<T>,
    rows: Vec<T>,
    nhwc: Vec<T>,
}

/// Each kernel runs with the faster patch layout for its geometry.
macro_rules! kernel_in_best_layout {
    ($($kernel:ident),*) => {$(
        impl FloatKernel for $kernel {
            fn run<T: KernelFloat>(
                &self,
                args: &[&[T]],
                shapes: &[&[usize]],
                out_shape: &[usize],
                out: &mut [T],
            ) -> Result<()> {
                self.run_as(None, args, shapes, out_shape, out);
                Ok(())
            }
        }
    )*};
}

kernel_in_best_layout!(Forward, BackwardInput, BackwardWeight);

/// The convolution; its arguments are `x`, `w` and, optionally, a bias of
/// one value per output channel.
pub(crate) struct Forward {
    pub p: Conv2dParams,
}

impl Forward {
    /// The kernel with its patches in `layout`, or the faster layout for
    /// the geometry when `None`.
    fn run_as<T: KernelFloat>(
        &self,
        layout: Option<Layout>,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) {
        let g = Geometry::new(
            shapes[0],
            shapes[1],
            [out_shape[2], out_shape[3]],
            self.p.groups,
        );
        let (k, ohw, og) = (g.k(), g.ohw(), g.og());
        let per_image = g.o * ohw;
        if per_image == 0 || g.n == 0 {
            return;
        }
        let (x, bias) = (args[0], args.get(2).copied());
        if k == 0 {
            // No taps (no input channels): the bias alone.
            out.fill(T::zero());
            if let Some(bias) = bias {
                out.chunks_exact_mut(per_image)
                    .for_each(|image| add_bias(image, bias, ohw));
            }
            return;
        }
        let layout = layout.unwrap_or_else(|| Layout::for_geometry(&g));
        // Each layout multiplies its patches without gemm rearranging them:
        // planar ones are cols^T by columns, channels-last ones are cols by
        // columns (each pixel's taps contiguous), next to the filters
        // transposed.
        let wt = match layout {
            Layout::Planar => Cow::Borrowed(args[1]),
            Layout::ChannelsLast => Cow::Owned(transposed_filters(args[1], &g, layout)),
        };
        if layout == Layout::ChannelsLast && implicit::applies(&g, &self.p) {
            implicit::forward((x, bias), &wt, &g, &self.p, out);
            return;
        }
        let block = g.block();
        parallel::for_each_chunk_init(out, block * per_image, Scratch::default, |s, bi, dst| {
            let (first, images) = (bi * block, dst.len() / per_image);
            for gi in 0..g.groups {
                layout.fill(
                    x,
                    &g,
                    &self.p,
                    gi,
                    (first, images),
                    &mut s.cols,
                    &mut s.nhwc,
                );
                let wg = &wt[gi * og * k..][..og * k];
                match layout {
                    Layout::Planar => planar_outputs(&g, gi, &s.cols, wg, dst, &mut s.rows),
                    Layout::ChannelsLast => {
                        channels_last_outputs(&g, gi, &s.cols, wg, dst, &mut s.rows)
                    }
                }
            }
            if let Some(bias) = bias {
                for image in dst.chunks_exact_mut(per_image) {
                    add_bias(image, bias, ohw);
                }
            }
        });
    }
}

/// Group `gi`'s outputs `G^T = cols^T @ w^T` (`P x K` by `K x O/g`) of the
/// block of images `dst` from planar patches `cols`; `rows` is scratch.
fn planar_outputs<T: KernelFloat>(
    g: &Geometry,
    gi: usize,
    cols: &[T],
    wt: &[T],
    dst: &mut [T],
    rows: &mut Vec<T>,
) {
    let (k, ohw, og) = (g.k(), g.ohw(), g.og());
    let per_image = g.o * ohw;
    let ld = cols.len() / k;
    let lhs = Mat {
        data: cols,
        offset: 0,
        rs: 1,
        cs: ld,
    };
    let rhs = Mat {
        data: wt,
        offset: 0,
        rs: 1,
        cs: k,
    };
    // One image's group planes are G itself.
    let single = dst.len() == per_image;
    let out = if single {
        &mut dst[gi * og * ohw..][..og * ohw]
    } else {
        rows.resize(og * ld, T::zero());
        rows.as_mut_slice()
    };
    gemm_into(
        ld,
        og,
        k,
        out,
        (1, ld),
        lhs,
        rhs,
        false,
        gemm::Parallelism::None,
    );
    if single {
        return;
    }
    for (b, image) in dst.chunks_exact_mut(per_image).enumerate() {
        let planes = image[gi * og * ohw..][..og * ohw].chunks_exact_mut(ohw);
        for (o, plane) in planes.enumerate() {
            plane.copy_from_slice(&rows[o * ld + b * ohw..][..ohw]);
        }
    }
}

/// Group `gi`'s outputs `G = w @ cols` (`O/g x K` by `K x P`, with `wt`
/// holding `w^T`) of the block of images `dst` from channels-last patches
/// `cols`, computed pixel by pixel into the scratch `rows`.
fn channels_last_outputs<T: KernelFloat>(
    g: &Geometry,
    gi: usize,
    cols: &[T],
    wt: &[T],
    dst: &mut [T],
    rows: &mut Vec<T>,
) {
    let (k, ohw, og) = (g.k(), g.ohw(), g.og());
    let ld = cols.len() / k;
    let lhs = Mat {
        data: wt,
        offset: 0,
        rs: 1,
        cs: og,
    };
    let rhs = Mat {
        data: cols,
        offset: 0,
        rs: 1,
        cs: k,
    };
    rows.resize(og * ld, T::zero());
    gemm_into(
        og,
        ld,
        k,
        rows,
        (1, og),
        lhs,
        rhs,
        false,
        gemm::Parallelism::None,
    );
    for (image, pixels) in dst
        .chunks_exact_mut(g.o * ohw)
        .zip(rows.chunks_exact(ohw * og))
    {
        transpose((pixels, og), (&mut image[gi * og * ohw..], ohw), [ohw, og]);
    }
}

pub(crate) struct BackwardInput {
    pub p: Conv2dParams,
}

impl BackwardInput {
    /// The kernel with its patches in `layout`, or the faster layout for
    /// the geometry when `None`.
    fn run_as<T: KernelFloat>(
        &self,
        layout: Option<Layout>,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) {
        let g = Geometry::new(
            out_shape,
            shapes[1],
            [shapes[0][2], shapes[0][3]],
            self.p.groups,
        );
        let (k, ohw, og) = (g.k(), g.ohw(), g.og());
        let per_image = g.c * g.hw();
        if per_image == 0 || g.n == 0 {
            return;
        }
        let layout = layout.unwrap_or_else(|| Layout::for_geometry(&g));
        if layout == Layout::ChannelsLast && implicit::applies(&g, &self.p) {
            let wt = implicit::input_grad_filters(args[1], &g);
            implicit::input_grad(args[0], &wt, &g, &self.p, out);
            return;
        }
        let (grad, wt) = (args[0], filters_for(args[1], &g, layout));
        let block = g.block();
        parallel::for_each_chunk_init(out, block * per_image, Scratch::default, |s, bi, dx| {
            let (first, images) = (bi * block, dx.len() / per_image);
            let ld = images * ohw;
            let (rs, cs) = layout.strides(k, ld);
            dx.fill(T::zero());
            for gi in 0..g.groups {
                block_rows(grad, &g, gi, (first, images), &mut s.rows);
                s.cols.resize(k * ld, T::zero());
                // cols^T = G^T @ w: (P x O/g) @ (O/g x K).
                let lhs = Mat {
                    data: s.rows.as_slice(),
                    offset: 0,
                    rs: 1,
                    cs: ld,
                };
                let rhs = Mat {
                    data: &wt,
                    offset: gi * og * k,
                    rs: k,
                    cs: 1,
                };
                gemm_into(
                    ld,
                    k,
                    og,
                    &mut s.cols,
                    (cs, rs),
                    lhs,
                    rhs,
                    false,
                    gemm::Parallelism::None,
                );
                layout.add_back(&s.cols, &g, &self.p, gi, images, dx, &mut s.nhwc);
            }
        });
    }
}

/// Blocks of images per thread in the weight gradient, each with its own
/// partial sums, where [`PARTIAL_SUMS_BUDGET`] allows: blocks handed out
/// as threads get free keep the threads busy to the end when their cores
/// run at different speeds (with one block per thread, the benchmark
/// convolution's whole step took 2-5% longer on 8 and 16 threads of a
/// 16-core host).
const BLOCKS_PER_THREAD: usize = 4;
/// Values the weight gradient's partial sums may hold in all.
const PARTIAL_SUMS_BUDGET: usize = 1 << 22;
/// Values of the weight gradient's partial sums one task adds up.
const PARTIAL_SUM_CHUNK: usize = 2048;

pub(crate) struct BackwardWeight {
    pub p: Conv2dParams,
}

impl BackwardWeight {
    /// The kernel with its patches in `layout`, or the faster layout for
    /// the geometry when `None`.
    fn run_as<T: KernelFloat>(
        &self,
        layout: Option<Layout>,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) {
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
            return;
        }
        let layout = layout.unwrap_or_else(|| Layout::for_geometry(&g));
        let threads = parallel::num_threads();
        let per_thread = (PARTIAL_SUMS_BUDGET / (out.len() * threads)).clamp(1, BLOCKS_PER_THREAD);
        let block = g.n.div_ceil(threads * per_thread);
        let blocks = g.n.div_ceil(block);
        let step = g.weight_grad_step();
        let implicit = layout == Layout::ChannelsLast && implicit::applies(&g, &self.p);
        // Each block adds cols @ G^T (K x O/g per group, so the transposed
        // filters; O/g x K without patches) into its own partial sum, a few
        // images at a time so that the patches stay in cache; the sums are
        // added in block order below, so the result does not depend on the
        // threads' timing.
        let mut partials: Vec<Vec<T>> = vec![Vec::new(); blocks];
        parallel::for_each_item_init(&mut partials, Scratch::default, |s, bi, wt| {
            *wt = vec![T::zero(); out.len()];
            let end = ((bi + 1) * block).min(g.n);
            if implicit {
                let scratch = (&mut s.nhwc, &mut s.rows);
                implicit::add_weight_grads((x, grad), bi * block..end, &g, &self.p, wt, scratch);
                return;
            }
            for first in (bi * block..end).step_by(step) {
                let images = step.min(end - first);
                let ld = images * ohw;
                let (rs, cs) = layout.strides(k, ld);
                for gi in 0..g.groups {
                    layout.fill(
                        x,
                        &g,
                        &self.p,
                        gi,
                        (first, images),
                        &mut s.cols,
                        &mut s.nhwc,
                    );
                    // One image's output gradient rows are read in place.
                    let rhs = if images == 1 {
                        Mat {
                            data: grad,
                            offset: (first * g.o + gi * og) * ohw,
                            rs: 1,
                            cs: ohw,
                        }
                    } else {
                        block_rows(grad, &g, gi, (first, images), &mut s.rows);
                        Mat {
                            data: s.rows.as_slice(),
                            offset: 0,
                            rs: 1,
                            cs: ld,
                        }
                    };
                    let lhs = Mat {
                        data: s.cols.as_slice(),
                        offset: 0,
                        rs,
                        cs,
                    };
                    gemm_into(
                        k,
                        og,
                        ld,
                        &mut wt[gi * og * k..],
                        (og, 1),
                        lhs,
                        rhs,
                        true,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
        // The blocks' sums, added in block order into the first, a range
        // of values per task: on many threads, one thread adding them all
        // took a tenth of the kernel.
        let Some((sums, rest)) = partials.split_first_mut() else {
            return;
        };
        parallel::for_each_chunk(sums, PARTIAL_SUM_CHUNK, |i, chunk| {
            for part in &*rest {
                let part = &part[i * PARTIAL_SUM_CHUNK..][..chunk.len()];
                chunk.iter_mut().zip(part).for_each(|(x, &y)| *x += y);
            }
        });
        // Each group's sums, into the O/g x C/g x kh x kw filters. Sum
        // (kk, o) of a group lies at kk * O/g + o through patches (K x O/g)
        // and at o * K + kk without them.
        let (tap_step, filter_step) = if implicit { (1, k) } else { (og, 1) };
        for gi in 0..g.groups {
            let src = &sums[gi * og * k..][..og * k];
            let dst = &mut out[gi * og * k..][..og * k];
            for kk in 0..k {
                let at = layout.weight_index(&g, kk);
                for o in 0..og {
                    dst[o * k + at] = src[kk * tap_step + o * filter_step];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A convolution case: input `[n, c, h, w]`, `o` filters of `kh x kw`.
    struct Case {
        x: [usize; 4],
        o: usize,
        k: [usize; 2],
        p: Conv2dParams,
    }

    fn case(
        x: [usize; 4],
        o: usize,
        k: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Case {
        let p = Conv2dParams {
            stride,
            padding,
            dilation,
            groups,
        };
        Case { x, o, k, p }
    }

    /// A case's random operands (seeded by `seed`) and its results by the
    /// definition.
    struct Reference {
        y_shape: [usize; 4],
        w_shape: [usize; 4],
        x: Vec<f64>,
        w: Vec<f64>,
        grad: Vec<f64>,
        bias: Vec<f64>,
        y: Vec<f64>,
        biased: Vec<f64>,
        dx: Vec<f64>,
        dw: Vec<f64>,
    }

    impl Case {
        fn reference(&self, seed: u64) -> Reference {
            let [oh, ow] = self.p.output_hw([self.x[2], self.x[3]], self.k).unwrap();
            let y_shape = [self.x[0], self.o, oh, ow];
            let w_shape = [self.o, self.x[1] / self.p.groups, self.k[0], self.k[1]];
            let x = values(self.x.iter().product(), 1 + seed);
            let w = values(w_shape.iter().product(), 100 + seed);
            let grad = values(y_shape.iter().product(), 200 + seed);
            let [y, dx, dw] = naive(self, &x, &w, &grad);
            let bias = values(self.o, 300 + seed);
            let plane = oh * ow;
            let biased = (0..y.len())
                .map(|i| y[i] + bias[i / plane % self.o])
                .collect();
            Reference {
                y_shape,
                w_shape,
                x,
                w,
                grad,
                bias,
                y,
                biased,
                dx,
                dw,
            }
        }
    }

    fn values(len: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// Output, input gradient and weight gradient by the definition, one
    /// multiply-add at a time.
    fn naive(c: &Case, x: &[f64], w: &[f64], grad: &[f64]) -> [Vec<f64>; 3] {
        let [n, ch, h, wd] = c.x;
        let [kh, kw] = c.k;
        let [oh, ow] = c.p.output_hw([h, wd], c.k).unwrap();
        let (cg, og) = (ch / c.p.groups, c.o / c.p.groups);
        let mut y = vec![0.0; n * c.o * oh * ow];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        for b in 0..n {
            for o in 0..c.o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let yi = ((b * c.o + o) * oh + oy) * ow + ox;
                        for ci in 0..cg {
                            for i in 0..kh {
                                for j in 0..kw {
                                    let iy = (oy * c.p.stride[0] + i * c.p.dilation[0])
                                        .checked_sub(c.p.padding[0])
                                        .filter(|&v| v < h);
                                    let ix = (ox * c.p.stride[1] + j * c.p.dilation[1])
                                        .checked_sub(c.p.padding[1])
                                        .filter(|&v| v < wd);
                                    let (Some(iy), Some(ix)) = (iy, ix) else {
                                        continue;
                                    };
                                    let chan = o / og * cg + ci;
                                    let xi = ((b * ch + chan) * h + iy) * wd + ix;
                                    let wi = ((o * cg + ci) * kh + i) * kw + j;
                                    y[yi] += x[xi] * w[wi];
                                    dx[xi] += grad[yi] * w[wi];
                                    dw[wi] += grad[yi] * x[xi];
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, dx, dw]
    }

    fn assert_close(what: &str, got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    /// Case `ci`'s convolutions without patches in `T` (for `f32` on CPUs
    /// with AVX-512, the forward and input gradient through the direct
    /// tiles) against the definition `r`, each value within `tol` of it
    /// relative to `1 + |value|`. The weight gradient is added twice into
    /// the same sums, so that adding (not overwriting) is checked too.
    fn without_patches<T: KernelFloat>(ci: usize, c: &Case, r: &Reference, tol: f64) {
        let typed = |v: &[f64]| v.iter().map(|&x| T::from(x).unwrap()).collect::<Vec<T>>();
        let close = |what: &str, got: &[T], want: &[f64]| {
            assert_eq!(got.len(), want.len(), "case {ci} {what}: length");
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let g = g.to_f64().unwrap();
                let ok = (g - w).abs() <= tol * (1.0 + w.abs());
                assert!(ok, "case {ci} {what}[{i}]: {g} vs {w}");
            }
        };
        let [oh, ow] = [r.y_shape[2], r.y_shape[3]];
        let g = Geometry::new(&c.x, &r.w_shape, [oh, ow], c.p.groups);
        let (x, w, grad, bias) = (typed(&r.x), typed(&r.w), typed(&r.grad), typed(&r.bias));
        let wt = transposed_filters(&w, &g, Layout::ChannelsLast);
        let mut out = vec![T::nan(); r.y.len()];
        implicit::forward((&x, None), &wt, &g, &c.p, &mut out);
        close("implicit forward", &out, &r.y);
        implicit::forward((&x, Some(&bias)), &wt, &g, &c.p, &mut out);
        close("implicit forward, bias", &out, &r.biased);
        let flipped = implicit::input_grad_filters(&w, &g);
        let mut out = vec![T::nan(); r.dx.len()];
        implicit::input_grad(&grad, &flipped, &g, &c.p, &mut out);
        close("implicit input gradient", &out, &r.dx);
        let mut wt = vec![T::zero(); w.len()];
        for _ in 0..2 {
            let scratch = (&mut Vec::new(), &mut Vec::new());
            implicit::add_weight_grads((&x, &grad), 0..c.x[0], &g, &c.p, &mut wt, scratch);
        }
        let twice: Vec<f64> = filters_for(&r.dw, &g, Layout::ChannelsLast)
            .iter()
            .map(|v| 2.0 * v)
            .collect();
        close("implicit weight gradient, added twice", &wt, &twice);
    }

    /// Without input channels a convolution has no taps: its output is the
    /// bias (or zero), in both layouts, instead of a panic on the empty
    /// filters.
    #[test]
    fn a_convolution_without_input_channels_is_its_bias() {
        let p = Conv2dParams {
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
        };
        let (x_shape, w_shape, y_shape) = ([2, 0, 4, 5], [3, 0, 3, 3], [2, 3, 4, 5]);
        let bias = [1.5f32, -2.0, 0.25];
        let want: Vec<f32> = (0..120).map(|i| bias[i / 20 % 3]).collect();
        for layout in [Layout::Planar, Layout::ChannelsLast] {
            let mut out = vec![f32::NAN; 120];
            let shapes: [&[usize]; 3] = [&x_shape, &w_shape, &[3]];
            Forward { p }.run_as(
                Some(layout),
                &[&[], &[], &bias],
                &shapes,
                &y_shape,
                &mut out,
            );
            assert_eq!(out, want, "{layout:?} with bias");
            Forward { p }.run_as(Some(layout), &[&[], &[]], &shapes[..2], &y_shape, &mut out);
            assert_eq!(out, vec![0.0; 120], "{layout:?} without bias");
        }
    }

    /// The convolutions without patches in `f32` (on x86-64 CPUs with
    /// AVX-512, the forward and input gradient through the direct tiles)
    /// against the definition in `f64`, for shapes whose output planes and
    /// columns are and are not multiples of the tiles', with groups, with a
    /// padding wider than the kernel, and without input pixels.
    #[test]
    fn f32_without_patches_matches_the_definition() {
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("avx512f") {
            eprintln!("this CPU has no AVX-512: the direct f32 tiles are not tested");
        }
        let cases = [
            case([3, 8, 7, 6], 4, [3, 3], [1, 1], [1, 1], [1, 1], 1),
            case([2, 16, 28, 28], 16, [3, 3], [1, 1], [1, 1], [1, 1], 1),
            case([2, 6, 9, 20], 10, [3, 2], [1, 1], [1, 2], [1, 1], 2),
            case([2, 5, 10, 17], 9, [5, 5], [1, 1], [2, 2], [1, 1], 1),
            case([1, 3, 6, 18], 7, [2, 2], [1, 1], [3, 3], [1, 1], 1),
            case([2, 12, 8, 16], 12, [1, 3], [1, 1], [0, 1], [1, 1], 3),
            // No input pixels: padding and bias alone.
            case([1, 2, 0, 3], 3, [1, 1], [1, 1], [1, 1], [1, 1], 1),
        ];
        for (ci, c) in cases.iter().enumerate() {
            without_patches::<f32>(ci, c, &c.reference(ci as u64), 1e-4);
        }
    }

    #[test]
    fn every_way_matches_the_definition() {
        // (input, filters, kernel, stride, padding, dilation, groups)
        let cases = [
            case([3, 8, 7, 6], 4, [3, 3], [1, 1], [1, 1], [1, 1], 1),
            case([2, 8, 9, 9], 6, [3, 2], [2, 1], [2, 0], [1, 2], 2),
            case([2, 6, 5, 5], 4, [5, 5], [1, 1], [0, 0], [1, 1], 1),
            case([5, 4, 6, 6], 4, [3, 3], [2, 2], [1, 1], [1, 1], 4),
            case([1, 3, 4, 4], 2, [1, 1], [1, 1], [0, 0], [1, 1], 1),
            case([2, 2, 3, 3], 2, [2, 2], [1, 1], [3, 3], [1, 1], 1),
            case([9, 16, 10, 10], 8, [5, 5], [1, 1], [2, 2], [1, 1], 1),
            case([2, 8, 6, 7], 6, [3, 2], [1, 1], [1, 2], [1, 1], 2),
        ];
        for (ci, c) in cases.iter().enumerate() {
            let r = c.reference(ci as u64);
            for layout in [Layout::Planar, Layout::ChannelsLast] {
                let what = |t: &str| format!("case {ci} {layout:?} {t}");
                let mut out = vec![f64::NAN; r.y.len()];
                Forward { p: c.p }.run_as(
                    Some(layout),
                    &[&r.x, &r.w],
                    &[&c.x, &r.w_shape],
                    &r.y_shape,
                    &mut out,
                );
                assert_close(&what("forward"), &out, &r.y);
                Forward { p: c.p }.run_as(
                    Some(layout),
                    &[&r.x, &r.w, &r.bias],
                    &[&c.x, &r.w_shape, &[c.o]],
                    &r.y_shape,
                    &mut out,
                );
                assert_close(&what("forward with bias"), &out, &r.biased);
                let mut out = vec![f64::NAN; r.dx.len()];
                BackwardInput { p: c.p }.run_as(
                    Some(layout),
                    &[&r.grad, &r.w],
                    &[&r.y_shape, &r.w_shape],
                    &c.x,
                    &mut out,
                );
                assert_close(&what("input gradient"), &out, &r.dx);
                let mut out = vec![f64::NAN; r.dw.len()];
                BackwardWeight { p: c.p }.run_as(
                    Some(layout),
                    &[&r.grad, &r.x],
                    &[&r.y_shape, &c.x],
                    &r.w_shape,
                    &mut out,
                );
                assert_close(&what("weight gradient"), &out, &r.dw);
            }
            // Without patches, whether or not the geometry would choose it.
            if c.p.stride == [1, 1] && c.p.dilation == [1, 1] {
                without_patches::<f64>(ci, c, &r, 1e-12);
            }
        }
    }
}
