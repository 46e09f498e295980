//! Patch matrices of a block of images ("im2col") and their adjoint
//! ("col2im"), in one of two layouts.
//!
//! Either way the block's patches form a `K x P` matrix (`K = C/g * kh *
//! kw` taps, `P` = images times output pixels); the layouts differ in how
//! it sits in memory, and so in the length of the runs that im2col copies:
//! - [`Layout::Planar`]: row `kk` holds tap `kk` of every pixel, taps in
//!   weight order `(c, i, j)`; the copies are runs of up to `OW` values of
//!   one input row. Best for few channels (a first layer).
//! - [`Layout::ChannelsLast`]: each pixel's `K` taps are contiguous, in the
//!   order `(i, j, c)`, gathered from a channels-last copy of the image, so
//!   a kernel row of a pixel is one run of `kw * C/g` values. Best for many
//!   channels, where planar runs of a small feature map are short.

use std::ops::Range;

use super::super::window::tap_range;
use super::{Geometry, KernelFloat, transpose};
use crate::ir::Conv2dParams;

/// Channels-last patches pay off from this many values per kernel row.
const CHANNELS_LAST_RUN: usize = 16;

/// How a block's `K x P` patch matrix is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// `K` rows of `P` pixels.
    Planar,
    /// `P` rows of `K` taps, ordered `(i, j, c)`.
    ChannelsLast,
}

impl Layout {
    /// The faster layout for a convolution of this geometry.
    pub(super) fn for_geometry(g: &Geometry) -> Self {
        if g.cg() * g.kw >= CHANNELS_LAST_RUN {
            Layout::ChannelsLast
        } else {
            Layout::Planar
        }
    }

    /// Strides `(rs, cs)` of the `K x P` matrix when a block has `ld`
    /// pixels.
    pub(super) fn strides(self, k: usize, ld: usize) -> (usize, usize) {
        match self {
            Layout::Planar => (ld, 1),
            Layout::ChannelsLast => (1, k),
        }
    }

    /// Where patch tap `kk` of this layout sits in a filter's `(c, i, j)`
    /// weights.
    pub(super) fn weight_index(self, g: &Geometry, kk: usize) -> usize {
        match self {
            Layout::Planar => kk,
            Layout::ChannelsLast => {
                let (tap, c) = (kk / g.cg(), kk % g.cg());
                c * g.kh * g.kw + tap
            }
        }
    }

    /// Fills `cols` with group `gi`'s patches of images
    /// `first..first + images` of `x`; `nhwc` is scratch space.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill<T: KernelFloat>(
        self,
        x: &[T],
        g: &Geometry,
        p: &Conv2dParams,
        gi: usize,
        (first, images): (usize, usize),
        cols: &mut Vec<T>,
        nhwc: &mut Vec<T>,
    ) {
        let (k, ohw) = (g.k(), g.ohw());
        let ld = images * ohw;
        cols.resize(k * ld, T::zero());
        for b in 0..images {
            let xs = &x[((first + b) * g.c + gi * g.cg()) * g.hw()..][..g.cg() * g.hw()];
            match self {
                Layout::Planar => im2col_planar(xs, g, p, cols, ld, b * ohw),
                Layout::ChannelsLast => {
                    to_channels_last(xs, g.cg(), g.hw(), nhwc);
                    im2col_channels_last(nhwc, g, p, &mut cols[b * ohw * k..][..ohw * k]);
                }
            }
        }
    }

    /// Adds the patches in `cols` (as [`Layout::fill`] lays them out for
    /// `images` images) back into those images' group-`gi` channels of
    /// `dx`, which holds the block's images: the adjoint of `fill`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_back<T: KernelFloat>(
        self,
        cols: &[T],
        g: &Geometry,
        p: &Conv2dParams,
        gi: usize,
        images: usize,
        dx: &mut [T],
        nhwc: &mut Vec<T>,
    ) {
        let (k, ohw, cg, hw) = (g.k(), g.ohw(), g.cg(), g.hw());
        let ld = images * ohw;
        for b in 0..images {
            let dxg = &mut dx[(b * g.c + gi * cg) * hw..][..cg * hw];
            match self {
                Layout::Planar => col2im_planar(cols, g, p, dxg, ld, b * ohw),
                Layout::ChannelsLast => {
                    nhwc.clear();
                    nhwc.resize(hw * cg, T::zero());
                    col2im_channels_last(&cols[b * ohw * k..][..ohw * k], g, p, nhwc);
                    for (c, plane) in dxg.chunks_exact_mut(hw).enumerate() {
                        for (d, px) in plane.iter_mut().zip(nhwc.chunks_exact(cg)) {
                            *d += px[c];
                        }
                    }
                }
            }
        }
    }
}

/// One tap `(c, i, j)` of a planar patch matrix: which of its outputs read
/// the image rather than padding, and where the first of them reads.
struct PlanarTap {
    /// The patch row, `(c * kh + i) * kw + j`.
    row: usize,
    /// The input channel `c`.
    channel: usize,
    /// Output rows and columns inside the image.
    oy: Range<usize>,
    ox: Range<usize>,
    /// The input row of output row `oy0`, and the input column of `ox0`.
    iy0: usize,
    ix0: usize,
}

/// The taps of a planar patch matrix, in row order.
fn planar_taps<'a>(g: &'a Geometry, p: &'a Conv2dParams) -> impl Iterator<Item = PlanarTap> + 'a {
    (0..g.cg() * g.kh * g.kw).map(move |row| {
        let (channel, i, j) = (row / (g.kh * g.kw), row / g.kw % g.kh, row % g.kw);
        let oy = tap_range(g.oh, g.h, p.stride[0], p.padding[0], i * p.dilation[0]);
        let ox = tap_range(g.ow, g.w, p.stride[1], p.padding[1], j * p.dilation[1]);
        PlanarTap {
            row,
            channel,
            // Only meaningful when the ranges are not empty, and then exact.
            iy0: (oy.start * p.stride[0] + i * p.dilation[0]).saturating_sub(p.padding[0]),
            ix0: (ox.start * p.stride[1] + j * p.dilation[1]).saturating_sub(p.padding[1]),
            oy,
            ox,
        }
    })
}

/// Fills columns `col0..col0 + OH * OW` of the planar `cols` (row stride
/// `ld`) with the patches of one image's group channels `x` (`cg x h x w`).
fn im2col_planar<T: KernelFloat>(
    x: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    cols: &mut [T],
    ld: usize,
    col0: usize,
) {
    for tap in planar_taps(g, p) {
        let row = &mut cols[tap.row * ld + col0..][..g.ohw()];
        let (oy0, oy1, ox0, ox1) = (tap.oy.start, tap.oy.end, tap.ox.start, tap.ox.end);
        row[..oy0 * g.ow].fill(T::zero());
        row[oy1 * g.ow..].fill(T::zero());
        let inside = &mut row[oy0 * g.ow..oy1 * g.ow];
        if ox0 == ox1 {
            inside.fill(T::zero());
            continue;
        }
        let plane = &x[tap.channel * g.hw()..][..g.hw()];
        let rows = inside.chunks_exact_mut(g.ow);
        let sources = (0..oy1 - oy0).map(|k| (tap.iy0 + k * p.stride[0]) * g.w + tap.ix0);
        // Zero-length fills still cost a call each; most rows of an
        // unpadded convolution have none.
        let clipped = ox0 > 0 || ox1 < g.ow;
        for (dst, at) in rows.zip(sources) {
            if clipped {
                dst[..ox0].fill(T::zero());
                dst[ox1..].fill(T::zero());
            }
            let dst = &mut dst[ox0..ox1];
            if p.stride[1] == 1 {
                copy_short(dst, &plane[at..at + dst.len()]);
            } else {
                for (k, d) in dst.iter_mut().enumerate() {
                    *d = plane[at + k * p.stride[1]];
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

/// Adds columns `col0..col0 + OH * OW` of the planar `cols` (row stride
/// `ld`) back into one image's group channels `dx`: the adjoint of
/// [`im2col_planar`].
fn col2im_planar<T: KernelFloat>(
    cols: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    dx: &mut [T],
    ld: usize,
    col0: usize,
) {
    for tap in planar_taps(g, p) {
        let row = &cols[tap.row * ld + col0..][..g.ohw()];
        let (oy0, oy1, ox0, ox1) = (tap.oy.start, tap.oy.end, tap.ox.start, tap.ox.end);
        if ox0 == ox1 {
            continue;
        }
        let plane = &mut dx[tap.channel * g.hw()..][..g.hw()];
        for (k, src) in row[oy0 * g.ow..oy1 * g.ow].chunks_exact(g.ow).enumerate() {
            let at = (tap.iy0 + k * p.stride[0]) * g.w + tap.ix0;
            let src = &src[ox0..ox1];
            if p.stride[1] == 1 {
                for (d, &s) in plane[at..at + src.len()].iter_mut().zip(src) {
                    *d += s;
                }
            } else {
                for (k, &s) in src.iter().enumerate() {
                    plane[at + k * p.stride[1]] += s;
                }
            }
        }
    }
}

/// Copies `cg` planes of `hw` values into `out` as `hw` pixels of `cg`
/// channels each.
fn to_channels_last<T: KernelFloat>(x: &[T], cg: usize, hw: usize, out: &mut Vec<T>) {
    out.resize(hw * cg, T::zero());
    transpose((x, hw), (out, cg), [cg, hw]);
}

/// The input column of tap `j` of output column `ox`, if it is inside the
/// image (not padding).
#[inline(always)]
fn input_column(g: &Geometry, p: &Conv2dParams, ox: usize, j: usize) -> Option<usize> {
    (ox * p.stride[1] + j * p.dilation[1])
        .checked_sub(p.padding[1])
        .filter(|&ix| ix < g.w)
}

/// Calls `each(pixel, i, row)` for every output pixel and kernel row `i`
/// whose input row lies inside the image, with that input row's index.
#[inline(always)]
fn for_each_kernel_row(g: &Geometry, p: &Conv2dParams, mut each: impl FnMut(usize, usize, usize)) {
    for oy in 0..g.oh {
        for i in 0..g.kh {
            let Some(iy) = (oy * p.stride[0] + i * p.dilation[0])
                .checked_sub(p.padding[0])
                .filter(|&iy| iy < g.h)
            else {
                continue;
            };
            for ox in 0..g.ow {
                each(oy * g.ow + ox, i, iy);
            }
        }
    }
}

/// Whether the `kw` taps of output column `ox` are one contiguous run of
/// the input row, with no padding among them.
#[inline(always)]
fn whole_run(g: &Geometry, p: &Conv2dParams, ox: usize) -> Option<usize> {
    if p.dilation[1] != 1 {
        return None;
    }
    let first = (ox * p.stride[1]).checked_sub(p.padding[1])?;
    (first + g.kw <= g.w).then_some(first)
}

/// Fills the channels-last patches `cols` (`OH*OW` rows of `K`) of one
/// image from its channels-last group channels `nhwc`.
fn im2col_channels_last<T: KernelFloat>(
    nhwc: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    cols: &mut [T],
) {
    let (k, cg) = (g.k(), g.cg());
    let run = g.kw * cg;
    // Taps over the padding stay zero.
    if p.padding != [0, 0] {
        cols.fill(T::zero());
    }
    for_each_kernel_row(g, p, |px, i, iy| {
        let taps = &mut cols[px * k + i * run..][..run];
        let row = &nhwc[iy * g.w * cg..][..g.w * cg];
        let ox = px % g.ow;
        if let Some(first) = whole_run(g, p, ox) {
            taps.copy_from_slice(&row[first * cg..][..run]);
            return;
        }
        for (j, tap) in taps.chunks_exact_mut(cg).enumerate() {
            if let Some(ix) = input_column(g, p, ox, j) {
                tap.copy_from_slice(&row[ix * cg..][..cg]);
            }
        }
    });
}

/// Adds the channels-last patches `cols` of one image back into its
/// channels-last group channels `nhwc`: the adjoint of
/// [`im2col_channels_last`].
fn col2im_channels_last<T: KernelFloat>(
    cols: &[T],
    g: &Geometry,
    p: &Conv2dParams,
    nhwc: &mut [T],
) {
    let (k, cg) = (g.k(), g.cg());
    let run = g.kw * cg;
    for_each_kernel_row(g, p, |px, i, iy| {
        let taps = &cols[px * k + i * run..][..run];
        let row = &mut nhwc[iy * g.w * cg..][..g.w * cg];
        let ox = px % g.ow;
        if let Some(first) = whole_run(g, p, ox) {
            for (d, &s) in row[first * cg..][..run].iter_mut().zip(taps) {
                *d += s;
            }
            return;
        }
        for (j, tap) in taps.chunks_exact(cg).enumerate() {
            if let Some(ix) = input_column(g, p, ox, j) {
                for (d, &s) in row[ix * cg..][..cg].iter_mut().zip(tap) {
                    *d += s;
                }
            }
        }
    });
}
