//! Random numbers as MPSGraph integer arithmetic: each element computes
//! the Philox4x32-10 block that ingot's stream layout ([`ingot_core::rng`])
//! assigns it, so a seed draws the same numbers as on the CPU. (MPSGraph's
//! own random op is also Philox, but its stream layout is not documented,
//! so it could not match.)
//!
//! 32-bit words travel as `UInt32`; the 32×32→64-bit products of a round
//! are `UInt64` multiplications split with a shift and a mask.

use ingot_core::ir::RandDist;

use super::Builder;
use crate::program::{MpsBinary, MpsDataType, MpsOp, MpsUnary, TensorId};

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

use MpsDataType::{Float32, UInt32, UInt64};

/// The low and high 32-bit words of a `UInt64` tensor.
fn split(b: &mut Builder, x: TensorId) -> (TensorId, TensorId) {
    let mask = b.scalar(u32::MAX as f64, UInt64);
    let low = b.binary(MpsBinary::BitwiseAND, x, mask);
    let thirty_two = b.scalar(32.0, UInt64);
    let high = b.binary(MpsBinary::BitwiseRightShift, x, thirty_two);
    (b.cast(low, UInt32), b.cast(high, UInt32))
}

/// `mulhilo(m, c)`: the high and low words of the 64-bit product.
fn mul_hi_lo(b: &mut Builder, m: u32, c: TensorId) -> (TensorId, TensorId) {
    let m = b.scalar(m as f64, UInt64);
    let wide = b.cast(c, UInt64);
    let product = b.binary(MpsBinary::Multiplication, wide, m);
    let (lo, hi) = split(b, product);
    (hi, lo)
}

/// Element `i`'s `[seed, offset]`-stream block `i / 4` as four words.
fn philox_words(b: &mut Builder, state: TensorId, n: usize) -> ([TensorId; 4], TensorId) {
    let index = b.push(
        MpsOp::CoordinateAlongAxis { axis: 0 },
        vec![n],
        MpsDataType::Int32,
    );
    let index = b.cast(index, UInt64);
    let two = b.scalar(2.0, UInt64);
    let block = b.binary(MpsBinary::BitwiseRightShift, index, two);
    let three = b.scalar(3.0, UInt64);
    let word = b.binary(MpsBinary::BitwiseAND, index, three);

    // The I64 state holds the seed's and offset's bits.
    let bits = b.reinterpret(state, UInt64);
    let seed = b.slice(bits, vec![0], vec![1], vec![1]);
    let offset = b.slice(bits, vec![1], vec![2], vec![1]);
    let counter = b.binary(MpsBinary::Addition, offset, block);
    let (c0, c1) = split(b, counter);
    let zero = b.constant(0.0, &[n], UInt32);
    let mut c = [c0, c1, zero, zero];
    let (mut k0, mut k1) = split(b, seed);
    for round in 0..10 {
        if round > 0 {
            let w0 = b.scalar(W0 as f64, UInt32);
            let w1 = b.scalar(W1 as f64, UInt32);
            k0 = b.binary(MpsBinary::Addition, k0, w0);
            k1 = b.binary(MpsBinary::Addition, k1, w1);
        }
        let (hi0, lo0) = mul_hi_lo(b, M0, c[0]);
        let (hi1, lo1) = mul_hi_lo(b, M1, c[2]);
        let x0 = b.binary(MpsBinary::BitwiseXOR, hi1, c[1]);
        let x0 = b.binary(MpsBinary::BitwiseXOR, x0, k0);
        let x2 = b.binary(MpsBinary::BitwiseXOR, hi0, c[3]);
        let x2 = b.binary(MpsBinary::BitwiseXOR, x2, k1);
        c = [x0, lo1, x2, lo0];
    }
    (c, word)
}

/// `u24(w) = (w >> 8) * 2^-24`, in Float32.
fn u24(b: &mut Builder, w: TensorId) -> TensorId {
    let eight = b.scalar(8.0, UInt32);
    let top = b.binary(MpsBinary::BitwiseRightShift, w, eight);
    let f = b.cast(top, Float32);
    let scale = b.scalar(1.0 / 16_777_216.0, Float32);
    b.binary(MpsBinary::Multiplication, f, scale)
}

/// `word == k` for a `UInt64` word index.
fn is(b: &mut Builder, word: TensorId, k: u64) -> TensorId {
    let k = b.scalar(k as f64, UInt64);
    b.binary(MpsBinary::Equal, word, k)
}

/// Lowers `Op::Rand` (float dtypes other than F64, which Metal lacks).
pub(super) fn lower_rand(
    b: &mut Builder,
    dist: RandDist,
    state: TensorId,
    shape: &[usize],
    dtype: MpsDataType,
) -> TensorId {
    let n: usize = shape.iter().product();
    let ([c0, c1, c2, c3], word) = philox_words(b, state, n);
    let value = match dist {
        RandDist::Uniform => {
            let (is0, is1, is2) = (is(b, word, 0), is(b, word, 1), is(b, word, 2));
            let hi = b.select(is2, c2, c3);
            let mid = b.select(is1, c1, hi);
            let w = b.select(is0, c0, mid);
            u24(b, w)
        }
        RandDist::Normal => {
            // Pair (i % 4) / 2 uses words (0, 1) or (2, 3); even i takes the
            // cosine, odd i the sine (Box-Muller).
            let one_u = b.scalar(1.0, UInt64);
            let pair = b.binary(MpsBinary::BitwiseRightShift, word, one_u);
            let first = is(b, pair, 0);
            let w1 = b.select(first, c0, c2);
            let w2 = b.select(first, c1, c3);
            let (u1, u2) = (u24(b, w1), u24(b, w2));
            let one = b.scalar(1.0, Float32);
            let rest = b.binary(MpsBinary::Subtraction, one, u1);
            let log = b.unary(MpsUnary::Logarithm, rest);
            let minus_two = b.scalar(-2.0, Float32);
            let r2 = b.binary(MpsBinary::Multiplication, log, minus_two);
            let r = b.unary(MpsUnary::SquareRoot, r2);
            let two_pi = b.scalar(std::f64::consts::TAU, Float32);
            let theta = b.binary(MpsBinary::Multiplication, u2, two_pi);
            let (cos, sin) = (b.unary(MpsUnary::Cos, theta), b.unary(MpsUnary::Sin, theta));
            let parity = b.binary(MpsBinary::BitwiseAND, word, one_u);
            let odd = is(b, parity, 1);
            let trig = b.select(odd, sin, cos);
            b.binary(MpsBinary::Multiplication, r, trig)
        }
    };
    let narrow = b.cast(value, dtype);
    // Rounding to a narrow float can reach 1.0; keep uniforms in [0, 1)
    // with the largest value below 1, as the CPU backend does.
    let capped = match (dist, dtype) {
        (RandDist::Uniform, MpsDataType::Float16) => {
            let below_one = b.scalar(f64::from(half::f16::from_bits(0x3BFF)), dtype);
            b.binary(MpsBinary::Minimum, narrow, below_one)
        }
        (RandDist::Uniform, MpsDataType::BFloat16) => {
            let below_one = b.scalar(f64::from(half::bf16::from_bits(0x3F7F)), dtype);
            b.binary(MpsBinary::Minimum, narrow, below_one)
        }
        _ => narrow,
    };
    b.reshape(capped, shape)
}
