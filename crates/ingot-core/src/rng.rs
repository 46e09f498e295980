//! Counter-based random numbers: Philox4x32-10 (Salmon et al., "Parallel
//! random numbers: as easy as 1, 2, 3", SC 2011).
//!
//! # Stream layout
//! The generator state is a 64-bit `seed` and a 64-bit `offset`. Block `c` of a
//! draw is `philox4x32_10(counter = [lo(offset + c), hi(offset + c), 0, 0],
//! key = [lo(seed), hi(seed)])`, four 32-bit words. Element `i` of a tensor
//! takes its bits as follows (`u24(w) = (w >> 8) * 2^-24`,
//! `u53(a, b) = ((a << 32 | b) >> 11) * 2^-53`):
//!
//! | dtype family | uniform | normal (Box-Muller, `r = sqrt(-2 ln(1 - u1))`) |
//! |---|---|---|
//! | F32, F16, BF16 | block `i / 4`, word `i % 4`, `u24` | block `i / 4`; pair `(i % 4) / 2` uses words `2p, 2p + 1` as `u1, u2`; even `i`: `r cos(2 pi u2)`, odd: `r sin(2 pi u2)` |
//! | F64 | block `i / 2`, words `2(i % 2), 2(i % 2) + 1`, `u53` | block `i / 2`, `u1 = u53(w0, w1)`, `u2 = u53(w2, w3)`; even/odd as above |
//!
//! The `f32` family's normals are computed in `f32` ([`normal_pair_f32`]:
//! within a few ulps of the exact values), the `f64` ones in `f64`.
//!
//! A draw of `n` elements advances `offset` by [`blocks_for`]`(n, dtype)`, so
//! consecutive draws never overlap. Every backend follows this layout, so a
//! seed gives the same numbers everywhere.

use std::sync::Mutex;

use crate::DType;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// PyTorch's default seed, used until [`manual_seed`] is called.
pub const DEFAULT_SEED: u64 = 67_280_421_310_721;

/// Ten rounds of Philox4x32 on `counter` with `key`.
///
/// ```
/// // Known-answer test from the Random123 distribution (kat_vectors).
/// let out = ingot::rng::philox4x32_10([0; 4], [0; 2]);
/// assert_eq!(out, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
/// ```
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    philox_lanes(counter.map(|w| [w]), key).map(|[w]| w)
}

/// [`philox4x32_10`] on `L` counters side by side, word `w` of counter `l`
/// at `[w][l]`, so that a loop over them runs in vector registers.
#[inline(always)]
fn philox_lanes<const L: usize>(counters: [[u32; L]; 4], key: [u32; 2]) -> [[u32; L]; 4] {
    let mut c = counters;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(W0);
            k[1] = k[1].wrapping_add(W1);
        }
        let [c0, c1, c2, c3] = c;
        for l in 0..L {
            let p0 = (M0 as u64) * (c0[l] as u64);
            let p1 = (M1 as u64) * (c2[l] as u64);
            c[0][l] = ((p1 >> 32) as u32) ^ c1[l] ^ k[0];
            c[1][l] = p1 as u32;
            c[2][l] = ((p0 >> 32) as u32) ^ c3[l] ^ k[1];
            c[3][l] = p0 as u32;
        }
    }
    c
}

/// Blocks `first..first + L` of the stream `(seed, offset)`, as
/// [`block`] gives them, side by side (see [`philox_lanes`]).
#[inline(always)]
pub(crate) fn blocks<const L: usize>(seed: u64, offset: u64, first: u64) -> [[u32; L]; 4] {
    let counters: [u64; L] =
        std::array::from_fn(|l| offset.wrapping_add(first.wrapping_add(l as u64)));
    philox_lanes(
        [
            counters.map(|n| n as u32),
            counters.map(|n| (n >> 32) as u32),
            [0; L],
            [0; L],
        ],
        [seed as u32, (seed >> 32) as u32],
    )
}

/// Block `block` of the stream `(seed, offset)`.
pub fn block(seed: u64, offset: u64, block: u64) -> [u32; 4] {
    blocks::<1>(seed, offset, block).map(|[w]| w)
}

/// Philox blocks a draw of `n` elements of `dtype` consumes.
///
/// ```
/// assert_eq!(ingot::rng::blocks_for(5, ingot::DType::F32), 2);
/// assert_eq!(ingot::rng::blocks_for(5, ingot::DType::F64), 3);
/// ```
pub fn blocks_for(n: usize, dtype: DType) -> u64 {
    let per_block = if dtype == DType::F64 { 2 } else { 4 };
    n.div_ceil(per_block) as u64
}

/// Uniform in `[0, 1)` from the top 24 bits of a word.
#[inline(always)]
pub fn u24(w: u32) -> f32 {
    (w >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in `[0, 1)` from 53 bits of two words.
pub fn u53(a: u32, b: u32) -> f64 {
    ((((a as u64) << 32) | b as u64) >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Elements `4b..4b + 4` of a uniform draw in f32 precision: block `b`.
///
/// ```
/// use ingot::rng::{uniform_f32, uniform_f32_block};
/// let block = uniform_f32_block(7, 0, 3);
/// assert_eq!(block[2], uniform_f32(7, 0, 14));
/// assert!(block.iter().all(|u| (0.0..1.0).contains(u)));
/// ```
pub fn uniform_f32_block(seed: u64, offset: u64, b: u64) -> [f32; 4] {
    block(seed, offset, b).map(u24)
}

/// Elements `4b..4b + 4` of a standard normal draw in f32 precision: the
/// two Box-Muller pairs of block `b`.
///
/// ```
/// use ingot::rng::{normal_f32, normal_f32_block};
/// assert_eq!(normal_f32_block(7, 0, 3)[1], normal_f32(7, 0, 13));
/// ```
pub fn normal_f32_block(seed: u64, offset: u64, b: u64) -> [f32; 4] {
    normal_f32s(block(seed, offset, b).map(u24))
}

/// The four values of a normal draw from a block's uniforms (`u24` of its
/// words): the Box-Muller pairs of words 0, 1 and 2, 3, cosine first.
#[inline(always)]
pub(crate) fn normal_f32s(u: [f32; 4]) -> [f32; 4] {
    let (c0, s0) = normal_pair_f32(u[0], u[1]);
    let (c1, s1) = normal_pair_f32(u[2], u[3]);
    [c0, s0, c1, s1]
}

/// The Box-Muller pair of the uniforms `u1`, `u2` in `f32`: `(r cos t,
/// r sin t)` with `r = sqrt(-2 ln(1 - u1))` and `t = 2 pi u2`. `1 - u1` is
/// exact for a `u24`; the logarithm is within 1.5 ulps, and the sine and
/// cosine within 2 (the quarter turns of `u2` split off exactly), so each
/// value is within a few ulps of the exact one. Branch-free, so a loop over
/// pairs runs in vector registers.
///
/// ```
/// let (z0, z1) = ingot::rng::normal_pair_f32(0.5, 0.125);
/// let r = (2.0f64 * 2f64.ln()).sqrt();
/// assert!((z0 as f64 - r * std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6);
/// assert!((z1 as f64 - r * std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn normal_pair_f32(u1: f32, u2: f32) -> (f32, f32) {
    let r = (-2.0 * crate::cpu::vmath::ln(1.0 - u1)).sqrt();
    let (sin, cos) = crate::cpu::vmath::sincos_turns(u2);
    (r * cos, r * sin)
}

/// Elements `2b` and `2b + 1` of a uniform draw in f64 precision: block
/// `b`.
///
/// ```
/// use ingot::rng::{uniform_f64, uniform_f64_block};
/// assert_eq!(uniform_f64_block(7, 0, 3)[1], uniform_f64(7, 0, 7));
/// ```
pub fn uniform_f64_block(seed: u64, offset: u64, b: u64) -> [f64; 2] {
    let w = block(seed, offset, b);
    [u53(w[0], w[1]), u53(w[2], w[3])]
}

/// Elements `2b` and `2b + 1` of a standard normal draw in f64 precision:
/// the Box-Muller pair of block `b`.
///
/// ```
/// use ingot::rng::{normal_f64, normal_f64_block};
/// assert_eq!(normal_f64_block(7, 0, 3)[0], normal_f64(7, 0, 6));
/// ```
pub fn normal_f64_block(seed: u64, offset: u64, b: u64) -> [f64; 2] {
    let w = block(seed, offset, b);
    let (c, s) = box_muller(u53(w[0], w[1]), u53(w[2], w[3]));
    [c, s]
}

/// Element `i` of a uniform draw in f32 precision.
///
/// ```
/// assert!((0.0..1.0).contains(&ingot::rng::uniform_f32(1, 0, 5)));
/// ```
pub fn uniform_f32(seed: u64, offset: u64, i: u64) -> f32 {
    uniform_f32_block(seed, offset, i / 4)[(i % 4) as usize]
}

/// Element `i` of a standard normal draw in f32 precision.
///
/// ```
/// assert!(ingot::rng::normal_f32(1, 0, 5).is_finite());
/// ```
pub fn normal_f32(seed: u64, offset: u64, i: u64) -> f32 {
    normal_f32_block(seed, offset, i / 4)[(i % 4) as usize]
}

/// Element `i` of a uniform draw in f64 precision.
///
/// ```
/// assert!((0.0..1.0).contains(&ingot::rng::uniform_f64(1, 0, 5)));
/// ```
pub fn uniform_f64(seed: u64, offset: u64, i: u64) -> f64 {
    uniform_f64_block(seed, offset, i / 2)[(i % 2) as usize]
}

/// Element `i` of a standard normal draw in f64 precision.
///
/// ```
/// assert!(ingot::rng::normal_f64(1, 0, 5).is_finite());
/// ```
pub fn normal_f64(seed: u64, offset: u64, i: u64) -> f64 {
    normal_f64_block(seed, offset, i / 2)[(i % 2) as usize]
}

/// The Box-Muller pair of the uniforms `u1`, `u2`: `(r cos t, r sin t)`
/// with `r = sqrt(-2 ln(1 - u1))` and `t = 2 pi u2`.
fn box_muller(u1: f64, u2: f64) -> (f64, f64) {
    let r = (-2.0 * (1.0 - u1).ln()).sqrt();
    let (sin, cos) = (2.0 * std::f64::consts::PI * u2).sin_cos();
    (r * cos, r * sin)
}

static STATE: Mutex<(u64, u64)> = Mutex::new((DEFAULT_SEED, 0));

/// Seeds the global generator (like `torch.manual_seed`) and restarts its
/// stream.
///
/// ```
/// use ingot::{DType, Device, Tensor};
/// ingot::manual_seed(7);
/// let a = Tensor::rand(&[3], DType::F32, &Device::cpu())?.to_vec::<f32>()?;
/// ingot::manual_seed(7);
/// let b = Tensor::rand(&[3], DType::F32, &Device::cpu())?.to_vec::<f32>()?;
/// assert_eq!(a, b);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn manual_seed(seed: u64) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = (seed, 0);
}

/// The generator state `(seed, offset)`, for checkpoints.
///
/// ```
/// ingot::manual_seed(3);
/// assert_eq!(ingot::rng::get_state(), (3, 0));
/// ```
pub fn get_state() -> (u64, u64) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Restores a state from [`get_state`].
///
/// ```
/// ingot::rng::set_state((3, 40));
/// assert_eq!(ingot::rng::get_state(), (3, 40));
/// ```
pub fn set_state(state: (u64, u64)) {
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = state;
}

/// Reserves the blocks of a draw and returns `(seed, offset)` to use.
pub(crate) fn reserve(n: usize, dtype: DType) -> (u64, u64) {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let taken = (s.0, s.1);
    s.1 = s.1.wrapping_add(blocks_for(n, dtype));
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_random123_known_answers() {
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    /// Side by side and one at a time, the blocks are Philox of the
    /// documented counters, across the 2^32 boundary of the counter's low
    /// word and its 2^64 wrap.
    #[test]
    fn side_by_side_blocks_match_single_ones() {
        for (seed, offset, first) in [
            (7, 0, 0),
            (u64::MAX, u32::MAX as u64 - 5, 3),
            (1, u64::MAX - 2, 0),
        ] {
            let side = blocks::<16>(seed, offset, first);
            for l in 0..16 {
                // The stream layout, written out: counter offset + block.
                let c = offset.wrapping_add(first + l as u64);
                let key = [seed as u32, (seed >> 32) as u32];
                let one = philox4x32_10([c as u32, (c >> 32) as u32, 0, 0], key);
                assert_eq!(one, side.map(|word| word[l]), "block {l}");
                assert_eq!(one, block(seed, offset, first + l as u64), "block {l}");
            }
        }
    }

    /// `f32` normals, over many pairs of uniforms (every 4099th pair of
    /// multiples of 2^-24 for `u1` near 0 and 1, with `u2` across [0, 1)),
    /// lie within 4 ulps (at the value's magnitude, at least 1) of Box-Muller
    /// in `f64`.
    #[test]
    fn f32_normals_are_within_a_few_ulps_of_f64_box_muller() {
        let scale = 16_777_216.0f32;
        let u1s = (0..1u32 << 24)
            .step_by(4099)
            .chain((1 << 24) - 64..1 << 24)
            .chain(0..64);
        for (k, u1) in u1s.map(|k| k as f32 / scale).enumerate() {
            let u2 = ((k as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / scale;
            let (z0, z1) = normal_pair_f32(u1, u2);
            let (w0, w1) = box_muller(u1 as f64, u2 as f64);
            for (got, want) in [(z0, w0), (z1, w1)] {
                let ulp = f32::EPSILON as f64 * want.abs().max(1.0);
                assert!(
                    (got as f64 - want).abs() <= 4.0 * ulp,
                    "u {u1} {u2}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn draws_have_the_right_moments() {
        let n = 200_000u64;
        let mean = |f: &dyn Fn(u64) -> f64| (0..n).map(f).sum::<f64>() / n as f64;
        let u = mean(&|i| uniform_f32(5, 0, i) as f64);
        let z = mean(&|i| normal_f64(5, 0, i));
        let z2 = mean(&|i| normal_f32(5, 0, i).powi(2) as f64);
        assert!((u - 0.5).abs() < 0.005, "uniform mean {u}");
        assert!(z.abs() < 0.01, "normal mean {z}");
        assert!((z2 - 1.0).abs() < 0.02, "normal variance {z2}");
    }

    #[test]
    fn consecutive_draws_do_not_overlap() {
        set_state((9, 0));
        let (_, first) = reserve(10, DType::F32);
        let (_, second) = reserve(10, DType::F32);
        assert_eq!((first, second), (0, 3));
    }
}
