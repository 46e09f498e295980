//! Convolution without a patch matrix, for stride 1 and no dilation: one
//! GEMM per kernel row over a zero-padded channels-last copy of the image.
//!
//! In a padded image whose rows lie `Wp` pixels of `C/g` channels apart,
//! the taps of kernel row `i` at output pixel `(oy, ox)` are the `kw * C/g`
//! contiguous values from pixel `(oy + i, ox)` on; the next output pixel's
//! taps start one pixel later. So kernel row `i`'s patches form a matrix
//! whose column `q` starts at pixel `q + i * Wp` and whose columns are one
//! pixel apart: a strided view of the copy, with no im2col. Columns run
//! over whole padded rows, `q = oy * Wp + ox` with `ox < Wp`; the `Wp - OW`
//! columns past each row's last output are computed and dropped (they read
//! the next row). The zeros right of a row are also the zeros left of the
//! next ([`row_stride`]), so `Wp` is the width plus one side's padding and
//! a 3-wide kernel with padding 1 drops one column a row.
//!
//! The forward, the weight gradient (the output gradient laid out over the
//! same columns, zero at the dropped ones, times each kernel row's patches)
//! and the input gradient (the output gradient, padded by the kernel size
//! less one less the padding, correlated with the flipped filters) all run
//! this way. In `f32` on x86-64 CPUs with AVX-512, the forward and the
//! input gradient instead run over zero-padded planes, with no layout
//! change ([`direct`]).

#[cfg(target_arch = "x86_64")]
mod direct;

use std::ops::Range;

use super::super::super::parallel;
use super::super::matmul::{Mat, gemm_into};
use super::{Geometry, KernelFloat, add_bias, transpose};
use crate::ir::Conv2dParams;

/// Whether a convolution can run this way, and wastes little doing so:
/// the kernel's width less one at most an eighth of the padded image's
/// width (a 3-wide kernel from 16 padded columns on, a 5-wide one from 32;
/// with padding, the columns dropped, `Wp - OW`, are fewer). Narrower
/// images run faster through patches; an empty kernel goes there too.
pub(super) fn applies(g: &Geometry, p: &Conv2dParams) -> bool {
    let padded = g.w + 2 * p.padding[1];
    p.stride == [1, 1] && p.dilation == [1, 1] && g.kh > 0 && g.kw > 0 && (g.kw - 1) * 8 <= padded
}

/// The distance `Wp` between the rows of a padded image `w` pixels wide
/// with `pad` zeros on each side, for outputs `ow` wide: each row's right
/// padding is the next row's left padding, so the rows lie `w + pad` apart
/// (or `ow`, where the outputs are wider than that), and the image starts
/// with `pad` zeros.
fn row_stride(w: usize, pad: usize, ow: usize) -> usize {
    (w + pad).max(ow)
}

/// Columns of one kernel row's product over an image `wp` pixels wide:
/// the `oh x ow` output pixels, with the dropped ones in between.
fn columns([oh, ow]: [usize; 2], wp: usize) -> usize {
    (oh - 1) * wp + ow
}

/// Copies `channels` planes of `h x w` values (`x`) into `out` as
/// channels-last pixels in `h + 2 * pad[0]` rows `wp` pixels apart (see
/// [`row_stride`]), zero in the border.
fn pad_channels_last<T: KernelFloat>(
    x: &[T],
    channels: usize,
    ([h, w], wp): ([usize; 2], usize),
    pad: [usize; 2],
    out: &mut Vec<T>,
) {
    out.clear();
    out.resize(((h + 2 * pad[0]) * wp + pad[1]) * channels, T::zero());
    for y in 0..h {
        let start = ((y + pad[0]) * wp + pad[1]) * channels;
        transpose(
            (&x[y * w..], h * w),
            (&mut out[start..], channels),
            [channels, w],
        );
    }
}

/// A correlation over a padded channels-last image, by kernel rows.
struct Rows<'a, T> {
    /// The padded image, `wp` pixels a row of `channels` values.
    image: &'a [T],
    wp: usize,
    channels: usize,
    /// The filters as a `kh * run x m` matrix (`m` outputs per pixel, taps
    /// ordered kernel row, kernel column, channel).
    filters: &'a [T],
    m: usize,
    kh: usize,
    /// Taps per kernel row: kernel width times `channels`.
    run: usize,
}

impl<T: KernelFloat> Rows<'_, T> {
    /// The outputs of the `n` pixels from padded pixel `q0` on (a row's last
    /// `kw - 1` reading the next row), pixel-major into `pixels`
    /// (`n x m`).
    fn product(&self, q0: usize, n: usize, pixels: &mut Vec<T>) {
        // Kernel row 0's product overwrites every value.
        pixels.resize(self.m * n, T::zero());
        for i in 0..self.kh {
            // (m x run) @ (run x n), both read in place.
            let lhs = Mat {
                data: self.filters,
                offset: i * self.run * self.m,
                rs: 1,
                cs: self.m,
            };
            let rhs = Mat {
                data: self.image,
                offset: (q0 + i * self.wp) * self.channels,
                rs: 1,
                cs: self.channels,
            };
            gemm_into(
                self.m,
                n,
                self.run,
                pixels,
                (1, self.m),
                lhs,
                rhs,
                i > 0,
                gemm::Parallelism::None,
            );
        }
    }
}

/// Copies `rows` rows of `width` pixels out of the pixel-major `pixels`
/// (rows `ld` pixels apart, `m` values each) into `m` planes of `rows x
/// width` (`planes`).
fn into_planes<T: Copy>(
    pixels: &[T],
    m: usize,
    ld: usize,
    [rows, width]: [usize; 2],
    planes: &mut [T],
) {
    for y in 0..rows {
        let row = &pixels[y * ld * m..][..width * m];
        transpose(
            (row, m),
            (&mut planes[y * width..], rows * width),
            [width, m],
        );
    }
}

/// Scratch space of one thread.
#[derive(Default)]
struct Scratch<T> {
    image: Vec<T>,
    pixels: Vec<T>,
}

/// A stride-1 correlation of every image and group: each group's
/// `channels` input planes of `size`, padded by `pad`, with `kh x kw`
/// filters into `m` output planes of `out_size`, whose first output is at
/// `first` (row, column) of the padded image.
struct Correlation {
    groups: usize,
    channels: usize,
    size: [usize; 2],
    pad: [usize; 2],
    m: usize,
    out_size: [usize; 2],
    first: [usize; 2],
    kernel: [usize; 2],
}

impl Correlation {
    /// Runs it over the images of `src` into those of `dst`, with each
    /// group's filters (`kh * kw * channels x m`, taps ordered kernel row,
    /// kernel column, channel) one after another in `filters`, adding
    /// `bias[plane]` to each output plane if given; `f32` through
    /// [`direct`] where the CPU has AVX-512.
    fn run<T: KernelFloat>(&self, src: &[T], filters: &[T], bias: Option<&[T]>, dst: &mut [T]) {
        if dst.is_empty() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(cpu) = direct::Avx512::detect()
            && self.channels > 0
            && self.size[0] * self.size[1] > 0
        {
            let f32s = (T::as_f32(src), T::as_f32(filters), T::as_f32_mut(dst));
            if let (Some(src), Some(filters), Some(dst)) = f32s {
                let bias = bias.and_then(T::as_f32);
                self.run_direct(cpu, src, filters, bias, dst);
                return;
            }
        }
        let (in_plane, out_plane) = (
            self.size[0] * self.size[1],
            self.out_size[0] * self.out_size[1],
        );
        let (src_group, dst_group) = (self.channels * in_plane, self.m * out_plane);
        let per_group = self.kernel[0] * self.kernel[1] * self.channels * self.m;
        let wp = row_stride(self.size[1], self.pad[1], self.out_size[1]);
        let n = columns(self.out_size, wp);
        parallel::for_each_chunk_init(
            dst,
            self.groups * dst_group,
            Scratch::default,
            |s, b, image| {
                for gi in 0..self.groups {
                    let planes = &src[(b * self.groups + gi) * src_group..][..src_group];
                    let size = (self.size, wp);
                    pad_channels_last(planes, self.channels, size, self.pad, &mut s.image);
                    let rows = Rows {
                        image: &s.image,
                        wp,
                        channels: self.channels,
                        filters: &filters[gi * per_group..][..per_group],
                        m: self.m,
                        kh: self.kernel[0],
                        run: self.kernel[1] * self.channels,
                    };
                    rows.product(self.first[0] * wp + self.first[1], n, &mut s.pixels);
                    let out = &mut image[gi * dst_group..][..dst_group];
                    into_planes(&s.pixels, self.m, wp, self.out_size, out);
                    if let Some(bias) = bias {
                        add_bias(out, &bias[gi * self.m..][..self.m], out_plane);
                    }
                }
            },
        );
    }
}

/// The convolution of `x` (`N x C x H x W`) with the filters `wt`, given
/// as each group's `K x O/g` matrix with taps ordered `(i, j, c)`, plus
/// `bias` (`O`) if given, into `out` (`N x O x OH x OW`).
pub(super) fn forward<T: KernelFloat>(
    (x, bias): (&[T], Option<&[T]>),
    wt: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    out: &mut [T],
) {
    let correlation = Correlation {
        groups: g.groups,
        channels: g.cg(),
        size: [g.h, g.w],
        pad: p.padding,
        m: g.og(),
        out_size: [g.oh, g.ow],
        first: [0, 0],
        kernel: [g.kh, g.kw],
    };
    correlation.run(x, wt, bias, out);
}

/// The filters `wt` (`O x C/g x kh x kw`) for the input gradient: each
/// group's `(kh * kw * O/g) x C/g` matrix with taps ordered `(i, j, o)` over
/// the kernel flipped, `(i, j)` reading filter tap `(kh - 1 - i, kw - 1 - j)`.
pub(super) fn input_grad_filters<T: KernelFloat>(wt: &[T], g: &Geometry) -> Vec<T> {
    let (k, og, cg, taps) = (g.k(), g.og(), g.cg(), g.kh * g.kw);
    let mut out = vec![T::zero(); wt.len()];
    for (group, filters) in out.chunks_exact_mut(og * k).zip(wt.chunks_exact(og * k)) {
        for (row, values) in group.chunks_exact_mut(cg).enumerate() {
            let (tap, o) = (row / og, row % og);
            let flipped = taps - 1 - tap;
            for (c, v) in values.iter_mut().enumerate() {
                *v = filters[(o * cg + c) * taps + flipped];
            }
        }
    }
    out
}

/// The input gradient `dx` (`N x C x H x W`) from the output gradient
/// `grad` and the filters as [`input_grad_filters`] lays them out: the
/// correlation of the output gradient, padded by the kernel size less one
/// on each side, with the flipped filters, taken over the input's pixels
/// only. Of that padding, only the kernel size less one less the
/// convolution's padding is needed (the rest lies outside the input's
/// pixels), so only that much is added, and the dropped columns of each row
/// are as few as the forward's.
pub(super) fn input_grad<T: KernelFloat>(
    grad: &[T],
    wt: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    dx: &mut [T],
) {
    let full = [g.kh - 1, g.kw - 1];
    let pad = [0, 1].map(|d| full[d].saturating_sub(p.padding[d]));
    let correlation = Correlation {
        groups: g.groups,
        channels: g.og(),
        size: [g.oh, g.ow],
        pad,
        m: g.cg(),
        out_size: [g.h, g.w],
        first: [0, 1].map(|d| p.padding[d] + pad[d] - full[d]),
        kernel: [g.kh, g.kw],
    };
    correlation.run(grad, wt, None, dx);
}

/// Adds the weight gradient of images `images` of `x` (`N x C x H x W`)
/// and `grad` (`N x O x OH x OW`) to `wt` (each group's `O/g x K`, taps
/// ordered `(i, j, c)`); `image` and `padded_grad` are scratch.
pub(super) fn add_weight_grads<T: KernelFloat>(
    (x, grad): (&[T], &[T]),
    images: Range<usize>,
    g: &Geometry,
    p: &Conv2dParams,
    wt: &mut [T],
    (image, padded_grad): (&mut Vec<T>, &mut Vec<T>),
) {
    let (k, og, cg) = (g.k(), g.og(), g.cg());
    let (in_group, out_group) = (cg * g.hw(), og * g.ohw());
    for b in images {
        for gi in 0..g.groups {
            add_weight_grad(
                &x[(b * g.groups + gi) * in_group..][..in_group],
                &grad[(b * g.groups + gi) * out_group..][..out_group],
                (g, p),
                &mut wt[gi * og * k..][..og * k],
                (image, padded_grad),
            );
        }
    }
}

/// Adds one image's weight gradient for one group to `wt` (`O/g x K`, taps
/// ordered `(i, j, c)`): for each kernel row, the output gradient `grad`
/// (`O/g x OH x OW`), laid out over the same columns as the patches with
/// zeros at the dropped ones, times the patches. `x` is the image's group
/// channels; `image` and `padded_grad` are scratch.
fn add_weight_grad<T: KernelFloat>(
    x: &[T],
    grad: &[T],
    (g, p): (&Geometry, &Conv2dParams),
    wt: &mut [T],
    (image, padded_grad): (&mut Vec<T>, &mut Vec<T>),
) {
    let (k, og, ohw) = (g.k(), g.og(), g.ohw());
    let wp = row_stride(g.w, p.padding[1], g.ow);
    let (cg, run) = (g.cg(), g.kw * g.cg());
    let n = columns([g.oh, g.ow], wp);
    pad_channels_last(x, cg, ([g.h, g.w], wp), p.padding, image);
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
