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
//! layout: padding is a copy of rows, and each tile stores its kept columns
//! straight into the output planes, the dropped ones compressed out. On the
//! 2-core VM, for the benchmark convolution (64 x 32 x 28 x 28, 3 x 3, 32
//! filters), this made the forward 5-11% faster than the channels-last
//! GEMMs and a whole step (forward, input and weight gradients) 5-6% faster
//! (medians of runs alternating in one process). The weight gradient the
//! same way (a tile of taps by output planes over the output gradient made
//! pixel-major) was no faster than its GEMMs and is not done here.

use std::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps,
    _mm512_maskz_compress_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
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

/// A block of `rows` rows of `len` values, rows `ld` values apart, at
/// `at` in a slice.
#[derive(Clone, Copy)]
struct Rows {
    at: usize,
    ld: usize,
    rows: usize,
}

impl Rows {
    /// The slice length the block needs to lie inside, for rows of `len`.
    fn end(&self, len: usize) -> usize {
        self.at + self.rows.saturating_sub(1) * self.ld + len
    }
}

/// Copies the rows of `len` values `from` in `src` to the rows `to` in
/// `dst`. The rows are a few dozen values long, too short for `memcpy`'s
/// call to pay off, so one call copies them all.
fn copy_rows(_: Avx512, (src, from): (&[f32], Rows), (dst, to): (&mut [f32], Rows), len: usize) {
    assert_eq!(from.rows, to.rows, "copy of unequal blocks");
    if from.rows == 0 || len == 0 {
        return;
    }
    assert!(from.end(len) <= src.len(), "copy source out of bounds");
    assert!(to.end(len) <= dst.len(), "copy destination out of bounds");
    // SAFETY: `Avx512` proves the CPU has AVX-512F; the asserts show that
    // every row lies inside its slice.
    unsafe { copy_rows_avx512((src.as_ptr(), from), (dst.as_mut_ptr(), to), len) }
}

/// [`copy_rows`] through raw pointers, each row 16 values at a time and
/// the rest masked.
///
/// # Safety
/// The CPU must have AVX-512F; `src` must be readable and `dst` writable
/// at `at + r * ld + 0..len` of their blocks for every row `r`.
#[target_feature(enable = "avx512f")]
unsafe fn copy_rows_avx512(
    (src, from): (*const f32, Rows),
    (dst, to): (*mut f32, Rows),
    len: usize,
) {
    for r in 0..from.rows {
        // SAFETY: the caller guarantees row `r` of both blocks.
        let (src, dst) = unsafe { (src.add(from.at + r * from.ld), dst.add(to.at + r * to.ld)) };
        let mut i = 0;
        while i < len {
            let mask = if len - i >= 16 {
                u16::MAX
            } else {
                (1u16 << (len - i)) - 1
            };
            // SAFETY: the mask keeps the lanes at `i..len` of the row.
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, src.add(i));
                _mm512_mask_storeu_ps(dst.add(i), mask, v);
            }
            i += 16;
        }
    }
}

/// Scratch space of one thread.
struct Scratch {
    /// One image's group planes, padded: made zero, after which only the
    /// pixels are written ([`Correlation::pad_planes`]).
    image: Vec<f32>,
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
        let stores = stores(n, wp, self.out_size, ld);
        parallel::for_each_chunk_init(
            dst,
            self.groups * dst_group,
            || Scratch {
                image: vec![0.0; image_len],
            },
            |s, b, out| {
                for gi in 0..self.groups {
                    let planes = &src[(b * self.groups + gi) * src_group..][..src_group];
                    self.pad_planes(cpu, planes, (wp, plane), &mut s.image);
                    let weights = &packed[gi * blocks * k * MR..][..blocks * k * MR];
                    let out = &mut out[gi * dst_group..][..dst_group];
                    let bias = bias.map(|b| &b[gi * self.m..][..self.m]);
                    for (c, stores) in stores.chunks_exact(NV).enumerate() {
                        let col = c * NR;
                        for (block, w) in weights.chunks_exact(k * MR).enumerate() {
                            let first_plane = block * MR;
                            let planes = MR.min(self.m - first_plane);
                            let to = Outputs {
                                planes,
                                plane: out_plane,
                                stores,
                                bias: bias.map(|b| &b[first_plane..][..planes]),
                            };
                            // SAFETY: `cpu` proves AVX-512F; the tile reads
                            // `image` at `first + col + tap + 0..NR` for each
                            // tap, below `image_len` by its size, and `w`'s
                            // `k * MR` values; it writes `planes` output
                            // planes from `first_plane` on, each inside
                            // `out_plane` values as `stores` checks, and
                            // `first_plane + planes <= m`, the group's planes
                            // in `out`.
                            unsafe {
                                tile(
                                    s.image.as_ptr().add(first + col),
                                    (&taps, w.as_ptr()),
                                    out.as_mut_ptr().add(first_plane * out_plane),
                                    to,
                                )
                            };
                        }
                    }
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

    /// Writes an image's group `planes` into the padded `image`: planes
    /// `plane` values apart, rows `wp` apart, the first row after `pad[0]`
    /// rows and `pad[1]` zeros. Only the pixels are written: the padding
    /// is where every image of this correlation has it, so it stays as
    /// zero as it was made.
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
            let from = Rows {
                at: 0,
                ld: w,
                rows: h,
            };
            let to = Rows {
                at: start,
                ld: wp,
                rows: h,
            };
            copy_rows(cpu, (src, from), (dst, to), w);
        }
    }
}

/// Where one vector of a tile's 16 columns goes in an output plane: the
/// lanes kept (a column `q` is an output pixel where `q % wp < ow` and `q`
/// is below the column count), and the pixel of the first, which the
/// others follow in order (a row's last kept column comes just before the
/// next row's first).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Store {
    lanes: u16,
    at: usize,
}

/// The [`Store`] of each vector of `ld` columns over `n` columns of
/// padded rows `wp` apart, for outputs of `[oh, ow]`.
fn stores(n: usize, wp: usize, [oh, ow]: [usize; 2], ld: usize) -> Vec<Store> {
    let stores: Vec<Store> = (0..ld / 16)
        .map(|v| {
            let kept = (16 * v..16 * v + 16).filter(|&q| q < n && q % wp < ow);
            let lanes = kept
                .clone()
                .fold(0u16, |lanes, q| lanes | 1 << (q - 16 * v));
            let at = kept.map(|q| q / wp * ow + q % wp).next().unwrap_or(0);
            Store { lanes, at }
        })
        .collect();
    for s in &stores {
        assert!(
            s.at + s.lanes.count_ones() as usize <= oh * ow,
            "tile output past its plane"
        );
    }
    stores
}

/// The output planes a [`tile`] writes: `planes` of them, `plane` values
/// apart, each vector of columns as `stores` says, plus `bias[r]` to plane
/// `r` if given.
struct Outputs<'a> {
    planes: usize,
    plane: usize,
    stores: &'a [Store],
    bias: Option<&'a [f32]>,
}

/// One tile: the sums `sum_t w[t * MR + r] * x[taps[t] + q]` for `r < MR`,
/// `q < NR`, of which it writes the kept columns of the first
/// `to.planes` rows `r` into output plane `r` at `out`.
///
/// # Safety
/// The CPU must have AVX-512F; `x` must be readable at `taps[t] + q`, `w`
/// at `t * MR + r`, for every `t`, `r < MR` and `q < NR`; `to.stores` must
/// hold `NV` stores, `to.planes <= MR`, `to.bias` (if given) `to.planes`
/// values, and `out` must be writable at `r * to.plane + at + 0..lanes` for
/// each plane `r < to.planes` and store (`at`, with `lanes` kept).
#[target_feature(enable = "avx512f")]
unsafe fn tile(x: *const f32, (taps, w): (&[usize], *const f32), out: *mut f32, to: Outputs<'_>) {
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
    for (r, row) in sums.iter().enumerate().take(to.planes) {
        let bias = to.bias.map(|b| _mm512_set1_ps(b[r]));
        for (&sum, store) in row.iter().zip(to.stores) {
            let sum = bias.map_or(sum, |b| _mm512_add_ps(sum, b));
            let kept = _mm512_maskz_compress_ps(store.lanes, sum);
            let count = store.lanes.count_ones();
            let mask = ((1u32 << count) - 1) as u16;
            // SAFETY: the caller guarantees `out` at `r * plane + at` for
            // the store's `count` kept lanes.
            unsafe { _mm512_mask_storeu_ps(out.add(r * to.plane + store.at), mask, kept) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outputs of 3 x 4 over padded rows 5 apart: 14 columns, of which
    /// every fifth is dropped; the 48 columns of one tile past them keep
    /// nothing.
    #[test]
    fn stores_keep_each_rows_pixels_in_order() {
        let got = stores(14, 5, [3, 4], 48);
        let kept = [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13];
        let lanes = kept.iter().fold(0u16, |l, q| l | 1 << q);
        let none = Store { lanes: 0, at: 0 };
        assert_eq!(got, [Store { lanes, at: 0 }, none, none]);
        // Outputs of 3 x 10 over rows 12 apart (34 columns): the second
        // vector starts at pixel 4 of row 1 (output 14), drops columns 22
        // and 23, and goes on into row 2; the third keeps the last two.
        let got = stores(34, 12, [3, 10], 48);
        assert_eq!(got[1].at, 14);
        let lanes = (16..32)
            .filter(|q| q % 12 < 10)
            .fold(0u16, |l, q| l | 1 << (q - 16));
        assert_eq!(got[1].lanes, lanes);
        assert_eq!(
            got[2],
            Store {
                lanes: 0b11,
                at: 28
            }
        );
    }
}
