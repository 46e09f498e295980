//! [`Correlation`] for `f32` on CPUs with AVX-512, over zero-padded planes
//! instead of a channels-last copy.
//!
//! Output pixel `q` of plane `o` is `sum (c, i, j) w[o, c, i, j] *
//! plane_c[q + i * Wp + j]` over the padded planes (rows `Wp` apart and
//! columns `q` over whole padded rows, as in the parent module). A
//! [`tile`] of 8 output planes by 48 columns keeps its sums in 24 vector
//! registers and, for each tap `(c, i, j)` in turn, loads the 48 values of
//! `plane_c` at that tap's offset and multiplies them by the 8 filters'
//! tap. So the whole sum over the `C * kh * kw` taps runs in one pass,
//! without packing the image, and neither the image nor the outputs change
//! layout: padding is a copy of rows, and the kept columns are copied into
//! the output planes. On the 2-core VM, for the benchmark convolution (64 x
//! 32 x 28 x 28, 3 x 3, 32 filters), this made the forward 5-11% faster
//! than the channels-last GEMMs and a whole step (forward, input and
//! weight gradients) 5-6% faster (medians of runs alternating in one
//! process). The weight gradient the same way (a tile of taps by output
//! planes over the output gradient made pixel-major) was no faster than
//! its GEMMs and is not done here.

use std::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps,
    _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

use super::super::super::super::parallel;
use super::{Correlation, columns, row_stride};

/// Output planes per tile.
const MR: usize = 8;
/// Vectors of 16 columns per tile.
const NV: usize = 3;
/// Columns per tile.
const NR: usize = 16 * NV;

/// Proof that this CPU has AVX-512F, which the tiles need.
#[derive(Clone, Copy)]
pub(super) struct Avx512(());

impl Avx512 {
    /// The proof, if this CPU has AVX-512F.
    pub(super) fn detect() -> Option<Self> {
        std::is_x86_feature_detected!("avx512f").then_some(Avx512(()))
    }
}

/// Copies `src` into `dst` (of the same length), adding `add` to each
/// value if given. Rows of a few dozen values are too short for `memcpy`'s
/// call to pay off.
fn copy_row(_: Avx512, src: &[f32], dst: &mut [f32], add: Option<f32>) {
    assert_eq!(src.len(), dst.len(), "copy of unequal rows");
    // SAFETY: `Avx512` proves the CPU has AVX-512F; both slices hold
    // `src.len()` values.
    unsafe { copy_row_avx512(src.as_ptr(), dst.as_mut_ptr(), src.len(), add) }
}

/// [`copy_row`] of `len` values, 16 at a time and the rest masked.
///
/// # Safety
/// The CPU must have AVX-512F; `src` must be readable and `dst` writable
/// at `0..len`.
#[target_feature(enable = "avx512f")]
unsafe fn copy_row_avx512(src: *const f32, dst: *mut f32, len: usize, add: Option<f32>) {
    let add = add.map(|add| _mm512_set1_ps(add));
    let mut i = 0;
    while i < len {
        let mask = if len - i >= 16 {
            u16::MAX
        } else {
            (1u16 << (len - i)) - 1
        };
        // SAFETY: the mask keeps the lanes at `i..len`, which the caller
        // guarantees.
        unsafe {
            let v = _mm512_maskz_loadu_ps(mask, src.add(i));
            let v = add.map_or(v, |add| _mm512_add_ps(v, add));
            _mm512_mask_storeu_ps(dst.add(i), mask, v);
        }
        i += 16;
    }
}

/// Scratch space of one thread.
struct Scratch {
    /// One image's group planes, padded.
    image: Vec<f32>,
    /// The tiles' outputs, `MR`-rounded planes of `ld` columns.
    pixels: Vec<f32>,
}

impl Correlation {
    /// [`Correlation::run`] for `f32`, through [`tile`]s, for images with
    /// pixels and channels.
    pub(super) fn run_direct(
        &self,
        cpu: Avx512,
        src: &[f32],
        filters: &[f32],
        bias: Option<&[f32]>,
        dst: &mut [f32],
    ) {
        let [h, w] = self.size;
        let wp = row_stride(w, self.pad[1], self.out_size[1]);
        let plane = (h + 2 * self.pad[0]) * wp + self.pad[1];
        let n = columns(self.out_size, wp);
        let ld = n.div_ceil(NR) * NR;
        let taps: Vec<usize> = (0..self.channels)
            .flat_map(|c| {
                (0..self.kernel[0])
                    .flat_map(move |i| (0..self.kernel[1]).map(move |j| c * plane + i * wp + j))
            })
            .collect();
        let first = self.first[0] * wp + self.first[1];
        // Every tile reads up to `first + ld - 1 + max tap`.
        let image_len = (self.channels * plane).max(first + ld + taps.last().copied().unwrap_or(0));
        let packed = self.pack(filters);
        let blocks = self.m.div_ceil(MR);
        let k = taps.len();
        let in_plane = h * w;
        let out_plane = self.out_size[0] * self.out_size[1];
        let (src_group, dst_group) = (self.channels * in_plane, self.m * out_plane);
        parallel::for_each_chunk_init(
            dst,
            self.groups * dst_group,
            || Scratch {
                image: vec![0.0; image_len],
                pixels: vec![0.0; blocks * MR * ld],
            },
            |s, b, out| {
                for gi in 0..self.groups {
                    let planes = &src[(b * self.groups + gi) * src_group..][..src_group];
                    self.pad_planes(cpu, planes, (wp, plane), &mut s.image);
                    let weights = &packed[gi * blocks * k * MR..][..blocks * k * MR];
                    for col in (0..ld).step_by(NR) {
                        for (block, w) in weights.chunks_exact(k * MR).enumerate() {
                            // SAFETY: `cpu` proves AVX-512F; the tile reads
                            // `image` at `first + col + tap + 0..NR` for each
                            // tap, below `image_len` by its size, `w`'s
                            // `k * MR` values, and writes `MR` rows of `NR`
                            // values `ld` apart from row `block * MR`, column
                            // `col` of `pixels`, which has `blocks * MR` rows.
                            unsafe {
                                tile(
                                    s.image.as_ptr().add(first + col),
                                    &taps,
                                    w.as_ptr(),
                                    s.pixels.as_mut_ptr().add(block * MR * ld + col),
                                    ld,
                                )
                            };
                        }
                    }
                    let out = &mut out[gi * dst_group..][..dst_group];
                    let bias = bias.map(|b| &b[gi * self.m..][..self.m]);
                    self.keep_outputs(cpu, &s.pixels, (wp, ld), bias, out);
                }
            },
        );
    }

    /// The filters (each group's `kh * kw * channels x m`, taps ordered
    /// kernel row, kernel column, channel) as each group's blocks of `MR`
    /// outputs, each block's taps ordered channel, kernel row, kernel
    /// column with the block's `MR` values for each tap together (zero past
    /// `m`).
    fn pack(&self, filters: &[f32]) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let (c, m) = (self.channels, self.m);
        let blocks = m.div_ceil(MR);
        let per_group = kh * kw * c * m;
        let mut out = Vec::with_capacity(self.groups * blocks * MR * kh * kw * c);
        for group in filters.chunks_exact(per_group).take(self.groups) {
            for block in 0..blocks {
                for (ci, i, j) in (0..c)
                    .flat_map(|ci| (0..kh).flat_map(move |i| (0..kw).map(move |j| (ci, i, j))))
                {
                    let row = &group[((i * kw + j) * c + ci) * m..][..m];
                    let outputs = block * MR..(block + 1) * MR;
                    out.extend(outputs.map(|o| row.get(o).copied().unwrap_or(0.0)));
                }
            }
        }
        out
    }

    /// Writes an image's group `planes` into `image` zero-padded: planes
    /// `plane` values apart, rows `wp` apart, the first row after
    /// `pad[0]` rows and `pad[1]` zeros. Values past the last plane are
    /// left as they are (zero).
    fn pad_planes(
        &self,
        cpu: Avx512,
        planes: &[f32],
        (wp, plane): (usize, usize),
        image: &mut [f32],
    ) {
        let [h, w] = self.size;
        let start = self.pad[0] * wp + self.pad[1];
        for (src, dst) in planes
            .chunks_exact(h * w)
            .zip(image.chunks_exact_mut(plane))
        {
            dst[..start].fill(0.0);
            for (y, row) in src.chunks_exact(w).enumerate() {
                let at = start + y * wp;
                copy_row(cpu, row, &mut dst[at..at + w], None);
                dst[at + w..(at + wp).min(plane)].fill(0.0);
            }
            dst[start + h * wp..].fill(0.0);
        }
    }

    /// Copies the kept columns of `pixels` (planes `ld` apart, rows `wp`
    /// apart) into the output planes `out`, adding `bias[plane]` if given.
    fn keep_outputs(
        &self,
        cpu: Avx512,
        pixels: &[f32],
        (wp, ld): (usize, usize),
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) {
        let [oh, ow] = self.out_size;
        for (o, plane) in out.chunks_exact_mut(oh * ow).enumerate() {
            let b = bias.map(|b| b[o]);
            let src = &pixels[o * ld..];
            for (y, row) in plane.chunks_exact_mut(ow).enumerate() {
                copy_row(cpu, &src[y * wp..][..ow], row, b);
            }
        }
    }
}

/// One tile: `out[r * ld + q] = sum_t w[t * MR + r] * x[taps[t] + q]` for
/// `r < MR`, `q < NR`.
///
/// # Safety
/// The CPU must have AVX-512F; `x` must be readable at `taps[t] + q`, `w`
/// at `t * MR + r`, and `out` writable at `r * ld + q`, for every `t`, `r <
/// MR` and `q < NR`.
#[target_feature(enable = "avx512f")]
unsafe fn tile(x: *const f32, taps: &[usize], w: *const f32, out: *mut f32, ld: usize) {
    let mut sums: [[__m512; NV]; MR] = [[_mm512_setzero_ps(); NV]; MR];
    for (t, &tap) in taps.iter().enumerate() {
        // SAFETY: the caller guarantees `x` at `tap + 0..NR`.
        let values: [__m512; NV] =
            std::array::from_fn(|v| unsafe { _mm512_loadu_ps(x.add(tap + 16 * v)) });
        for (r, row) in sums.iter_mut().enumerate() {
            // SAFETY: the caller guarantees `w` at `t * MR + r`.
            let weight = _mm512_set1_ps(unsafe { *w.add(t * MR + r) });
            for (sum, &v) in row.iter_mut().zip(&values) {
                *sum = _mm512_fmadd_ps(weight, v, *sum);
            }
        }
    }
    for (r, row) in sums.iter().enumerate() {
        for (v, &sum) in row.iter().enumerate() {
            // SAFETY: the caller guarantees `out` at `r * ld + 0..NR`.
            unsafe { _mm512_storeu_ps(out.add(r * ld + 16 * v), sum) };
        }
    }
}
