//! Slices of `f16` and `bf16` to and from `f32`, a slice at a time.
//!
//! `half`'s one-value conversions look up the CPU's F16C support on every
//! call and are not inlined into the kernels' loops: converting a million
//! values took 1.3-2.9 ms that way on the 2-core VM (PyTorch: 31-63 us);
//! its slice conversions look once but call a function per eight values.
//! Here `f16` slices convert with F16C instructions in one loop where the
//! CPU has them, and `bf16`, a truncated `f32`, by bit operations the
//! compiler vectorizes. Results are bit for bit those of `half`'s
//! one-value conversions: round to nearest even, NaN kept (quieted).

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use super::{Widest, run_widest};

/// `dst[i] = src[i]` rounded to `f16`.
#[inline(always)]
pub(crate) fn f16_from_f32s(src: &[f32], dst: &mut [f16]) {
    assert_eq!(src.len(), dst.len(), "f16 conversion of unequal slices");
    #[cfg(target_arch = "x86_64")]
    if f16c() {
        // SAFETY: `f16c` checked at run time that this CPU has AVX and
        // F16C; the slices have equal lengths (asserted above).
        return unsafe { x86::f16_from_f32s(src, dst) };
    }
    dst.convert_from_f32_slice(src);
}

/// `dst[i] = src[i]` as `f32`.
#[inline(always)]
pub(crate) fn f16_to_f32s(src: &[f16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "f16 conversion of unequal slices");
    #[cfg(target_arch = "x86_64")]
    if f16c() {
        // SAFETY: as in `f16_from_f32s`.
        return unsafe { x86::f16_to_f32s(src, dst) };
    }
    src.convert_to_f32_slice(dst);
}

/// Whether this CPU has the AVX and F16C instructions [`x86`] uses.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn f16c() -> bool {
    std::is_x86_feature_detected!("avx") && std::is_x86_feature_detected!("f16c")
}

/// The F16C loops: eight values per instruction, the rest one at a time.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, _MM_FROUND_TO_NEAREST_INT, _mm_loadu_si128, _mm_storeu_si128, _mm256_cvtph_ps,
        _mm256_cvtps_ph, _mm256_loadu_ps, _mm256_storeu_ps,
    };

    use half::f16;

    /// # Safety
    /// The CPU must have AVX and F16C, and the slices equal lengths.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn f16_from_f32s(src: &[f32], dst: &mut [f16]) {
        let whole = src.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: `i + 8 <= whole <= len` for both slices; unaligned
            // loads and stores; `f16` is a `u16` in memory.
            unsafe {
                let v = _mm256_loadu_ps(src.as_ptr().add(i));
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v);
                _mm_storeu_si128(dst.as_mut_ptr().add(i).cast::<__m128i>(), h);
            }
        }
        for (d, &s) in dst[whole..].iter_mut().zip(&src[whole..]) {
            *d = f16::from_f32(s);
        }
    }

    /// # Safety
    /// As [`f16_from_f32s`].
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn f16_to_f32s(src: &[f16], dst: &mut [f32]) {
        let whole = src.len() / 8 * 8;
        for i in (0..whole).step_by(8) {
            // SAFETY: as in `f16_from_f32s`.
            unsafe {
                let h = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
                _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
            }
        }
        for (d, s) in dst[whole..].iter_mut().zip(&src[whole..]) {
            *d = s.to_f32();
        }
    }
}

/// `dst[i] = src[i]` rounded to `bf16` (as `bf16::from_f32`).
#[inline(always)]
pub(crate) fn bf16_from_f32s(src: &[f32], dst: &mut [bf16]) {
    assert_eq!(src.len(), dst.len(), "bf16 conversion of unequal slices");
    run_widest(Bf16s::From(src, dst));
}

/// `dst[i] = src[i]` as `f32` (as `bf16::to_f32`).
#[inline(always)]
pub(crate) fn bf16_to_f32s(src: &[bf16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "bf16 conversion of unequal slices");
    run_widest(Bf16s::To(src, dst));
}

/// Rounds every value to the precision of `f16`, keeping it an `f32`.
#[inline(always)]
pub(crate) fn round_to_f16(xs: &mut [f32]) {
    let mut narrow = [f16::ZERO; 256];
    for chunk in xs.chunks_mut(narrow.len()) {
        let narrow = &mut narrow[..chunk.len()];
        f16_from_f32s(chunk, narrow);
        f16_to_f32s(narrow, chunk);
    }
}

/// Rounds every value to the precision of `bf16`, keeping it an `f32`.
#[inline(always)]
pub(crate) fn round_to_bf16(xs: &mut [f32]) {
    run_widest(Bf16s::Round(xs));
}

/// The `bf16` loops, as [`run_widest`] takes them (called where the
/// kernels' loops run in the baseline build, they would be compiled for
/// it too).
enum Bf16s<'a> {
    From(&'a [f32], &'a mut [bf16]),
    To(&'a [bf16], &'a mut [f32]),
    Round(&'a mut [f32]),
}

impl Widest for Bf16s<'_> {
    #[inline(always)]
    fn run(self) {
        match self {
            Bf16s::From(src, dst) => {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = bf16::from_bits(bf16_bits(s));
                }
            }
            Bf16s::To(src, dst) => {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = bf16_value(s.to_bits());
                }
            }
            Bf16s::Round(xs) => {
                for x in xs {
                    *x = bf16_value(bf16_bits(*x));
                }
            }
        }
    }
}

/// The bits of `x` rounded to `bf16`: its upper half, rounded to nearest
/// even; a NaN keeps its upper half with the quiet bit set.
#[inline(always)]
fn bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let rounded = b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16;
    let nan = (b >> 16) | 0x40;
    (if b & 0x7fff_ffff > 0x7f80_0000 {
        nan
    } else {
        rounded
    }) as u16
}

/// The `f32` a `bf16` of bits `b` stands for, a NaN quieted.
#[inline(always)]
fn bf16_value(b: u16) -> f32 {
    let b = u32::from(b);
    f32::from_bits(if b & 0x7fff > 0x7f80 { b | 0x40 } else { b } << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `f32` bit pattern in steps of 4093 (both signs, zeros,
    /// subnormals, infinities, NaNs with and without payloads) and every
    /// `bf16` and `f16` one converts as `half`'s one-value functions do.
    #[test]
    fn slices_convert_as_single_values_do() {
        let mut xs: Vec<f32> = (0..=u32::MAX / 4093)
            .map(|i| f32::from_bits(i * 4093))
            .collect();
        xs.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            65504.0,
            65520.0,
        ]);
        xs.extend([f32::from_bits(0x7f80_0001), f32::from_bits(0xffc0_1234)]);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();

        // Narrowing, and rounding in place, as the one-value conversions.
        macro_rules! narrows_as_one_value {
            ($t:ty, $from_f32s:ident, $round:ident) => {
                let mut narrow = vec![<$t>::ZERO; xs.len()];
                $from_f32s(&xs, &mut narrow);
                let want: Vec<$t> = xs.iter().map(|&x| <$t>::from_f32(x)).collect();
                let half_bits = |v: &[$t]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(half_bits(&narrow), half_bits(&want), stringify!($from_f32s));
                let mut rounded = xs.clone();
                $round(&mut rounded);
                let widened: Vec<f32> = want.iter().map(|v| v.to_f32()).collect();
                assert_eq!(bits(&rounded), bits(&widened), stringify!($round));
            };
        }
        narrows_as_one_value!(f16, f16_from_f32s, round_to_f16);
        narrows_as_one_value!(bf16, bf16_from_f32s, round_to_bf16);

        let all: Vec<u16> = (0..=u16::MAX).collect();
        let mut wide = vec![0f32; all.len()];
        let h: Vec<f16> = all.iter().map(|&b| f16::from_bits(b)).collect();
        f16_to_f32s(&h, &mut wide);
        assert_eq!(
            bits(&wide),
            bits(&h.iter().map(|v| v.to_f32()).collect::<Vec<_>>())
        );
        let b: Vec<bf16> = all.iter().map(|&b| bf16::from_bits(b)).collect();
        bf16_to_f32s(&b, &mut wide);
        assert_eq!(
            bits(&wide),
            bits(&b.iter().map(|v| v.to_f32()).collect::<Vec<_>>())
        );
    }
}
