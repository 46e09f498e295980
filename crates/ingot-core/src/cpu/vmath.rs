//! `f32` transcendental functions the compiler can vectorize: branch-free
//! arithmetic, bit operations and selects, so that a loop over a slice
//! becomes a loop over SIMD registers (the fused kernels and softmax call
//! them inside such loops). The standard library's `exp`, `ln` and `tanh`
//! and the `libm` crate's `erff` are calls into scalar code, one element
//! at a time: on the 2-core VM, `gelu(a * b + c)` over a million values
//! took 15 ms through `erff` against 1 ms in PyTorch.
//!
//! Each function stays within a few units in the last place of the
//! correctly rounded result over the whole `f32` range (the tests below
//! measure it against `f64` references), keeps IEEE special values (NaN,
//! infinities, signed zeros where they matter) and gives subnormal results
//! and takes subnormal arguments. They follow the textbook methods: range
//! reduction by `ln 2` with a split constant (Cody and Waite) and a Taylor
//! polynomial for `exp` (and `e^x - 1`, from which `tanh` is made), the
//! `atanh` series for `ln`, and for `erf` its Taylor series near zero and
//! the Chebyshev fit of `erfc` from *Numerical Recipes* (fractional error
//! below 1.2e-7) further out.
//!
//! The polynomials run in fused multiply-adds (`mul_add`), which the
//! kernels' AVX2 and AVX-512 builds (and every aarch64 CPU) execute as one
//! instruction; an x86-64 CPU without FMA would compute them through a
//! software `fma` call, with the same results, slowly.
//!
//! Scaling by `2^n` takes `exp` two steps, so that subnormal results round
//! once; where every result is a normal float, adding `n` to the exponent
//! bits does it in one. The slice versions ([`exp_into`],
//! [`sigmoid_into`], [`gelu_into`]) take that path, and compute the few
//! arguments outside its range again through the full function: the same
//! results, in about half the instructions (`erf` keeps its exponent
//! within the range).

/// `1.5 * 2^23`: adding it to a float below `2^22` in magnitude rounds the
/// float to an integer (ties to even), which the low bits then hold.
const ROUND: f32 = 12_582_912.0;
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two: the high part has few enough bits that `n * LN2_HI`
/// is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Above this `exp` overflows (`ln f32::MAX`).
const EXP_MAX: f32 = 88.722_84;
/// Below this `exp` rounds to zero (`ln 2^-150`).
const EXP_MIN: f32 = -103.972_08;

/// `x * LOG2_E` rounded to the nearest integer, as a float and as an
/// integer, for `|x * LOG2_E| < 2^22`.
#[inline(always)]
fn round_log2e(x: f32) -> (f32, i32) {
    let shifted = x.mul_add(LOG2_E, ROUND);
    let n = shifted - ROUND;
    // Wrapping, for the lanes of `exp_normal` outside its range, whose
    // results are discarded.
    let i = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    (n, i)
}

/// `2^n` for `-126 <= n <= 127`.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// `x - n ln 2` for the integer-valued float `n`.
#[inline(always)]
fn reduce_ln2(x: f32, n: f32) -> f32 {
    (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x))
}

/// The polynomial with `coefficients` (highest power first) at `x`, by
/// Horner's rule in fused multiply-adds.
#[inline(always)]
fn horner<const N: usize>(x: f32, coefficients: [f32; N]) -> f32 {
    coefficients[1..]
        .iter()
        .fold(coefficients[0], |p, &c| p.mul_add(x, c))
}

/// `e^r - 1` over `|r| <= ln(2) / 2`, by its Taylor series to `r^7`.
#[inline(always)]
fn expm1_reduced(r: f32) -> f32 {
    let p = horner(
        r,
        [
            1.0 / 5040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
        ],
    );
    (r * r).mul_add(p, r)
}

/// `e^x`.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Clamped so that the scale below stays in range (NaN stays NaN).
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    let (n, i) = round_log2e(xc);
    let r = reduce_ln2(xc, n);
    let p = 1.0 + expm1_reduced(r);
    // 2^i in two steps: i runs from -150 to 128, past a single float's
    // exponent, and the last product rounds a subnormal result once.
    let half = i >> 1;
    let y = p * pow2(half) * pow2(i - half);
    if x > EXP_MAX {
        f32::INFINITY
    } else if x < EXP_MIN {
        0.0
    } else {
        y
    }
}

/// The arguments of [`exp_normal`]: `e^-86 > 2^-125` and `e^88 < 2^127`,
/// so that the result and its scale `2^n` are normal floats.
const EXP_NORMAL_MIN: f32 = -86.0;
const EXP_NORMAL_MAX: f32 = 88.0;

/// Whether `x` is an argument of [`exp_normal`] (NaN is not).
#[inline(always)]
fn exp_is_normal(x: f32) -> bool {
    (EXP_NORMAL_MIN..=EXP_NORMAL_MAX).contains(&x)
}

/// `e^x` for `EXP_NORMAL_MIN <= x <= EXP_NORMAL_MAX`, meaningless
/// elsewhere: [`exp`]'s result there (its two-step scale is exact for a
/// normal result, as is adding `n` to the exponent bits), in fewer than
/// half its instructions.
#[inline(always)]
fn exp_normal(x: f32) -> f32 {
    let (n, i) = round_log2e(x);
    let p = 1.0 + expm1_reduced(reduce_ln2(x, n));
    f32::from_bits((p.to_bits() as i32).wrapping_add(i << 23) as u32)
}

/// `e^x` for the `x <= 0` of a softmax, whose results are added to a sum
/// of at least 1: [`exp`]'s result down to `x = -86`, 0 below (where `e^x`
/// is under `2^-124`, no part of the sum), NaN kept.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    if x >= EXP_NORMAL_MIN {
        exp_normal(x)
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// `$d[i] = fast` of each `$x` in `$s`, and where `inside` is false for any
/// of them, `full` of those again: the slice functions' pattern, written
/// out as loops (a closure around the functions would not be inlined, nor
/// its loop vectorized).
macro_rules! map_or_redo {
    ($s:expr, $d:expr, |$x:ident| $fast:expr, inside: $inside:expr, full: $full:expr) => {{
        let mut outside = false;
        for (o, &$x) in $d.iter_mut().zip($s) {
            *o = $fast;
            outside |= !$inside;
        }
        if outside {
            for (o, &$x) in $d.iter_mut().zip($s) {
                if !$inside {
                    *o = $full;
                }
            }
        }
    }};
}

/// `d[i] = exp(s[i])`: through [`exp_normal`], and where any argument is
/// outside its range (under- or overflow, NaN), those again through
/// [`exp`].
#[inline(always)]
pub(crate) fn exp_into(s: &[f32], d: &mut [f32]) {
    map_or_redo!(s, d, |x| exp_normal(x), inside: exp_is_normal(x), full: exp(x));
}

/// `e^x - 1` for `x <= 0`, accurate for `x` near zero.
#[inline(always)]
fn expm1_nonpositive(x: f32) -> f32 {
    // Below -20, e^x is under half an ulp of 1.
    let xc = if x < -20.0 { -20.0 } else { x };
    let (n, i) = round_log2e(xc);
    let q = expm1_reduced(reduce_ln2(xc, n));
    // e^x - 1 = 2^n (1 + q) - 1 = 2^n q + (2^n - 1), the last exact.
    let scale = pow2(i);
    scale.mul_add(q, scale - 1.0)
}

/// The natural logarithm.
#[inline(always)]
pub(crate) fn ln(x: f32) -> f32 {
    // Subnormals are scaled into the normal range first.
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x };
    let bits = xs.to_bits() as i32;
    let mut e = ((bits >> 23) & 0xff) - 127 - if tiny { 23 } else { 0 };
    // The mantissa in [1, 2), then moved to [sqrt(1/2), sqrt(2)).
    let mut m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32);
    let high = m > std::f32::consts::SQRT_2;
    m = if high { m * 0.5 } else { m };
    e += high as i32;
    // ln(m) = 2 atanh(s) with s = (m - 1) / (m + 1), |s| < 0.172.
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let p = horner(z, [2.0 / 11.0, 2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0]);
    let hfsq = 0.5 * f * f;
    // f - f^2/2 + s (f^2/2 + z p), as fdlibm arranges the series, keeps the
    // rounding of the leading terms small.
    let log1p = f - (-s).mul_add(z.mul_add(p, hfsq), hfsq);
    let ef = e as f32;
    let y = ef.mul_add(LN2_HI, ef.mul_add(LN2_LO, log1p));
    if x.is_nan() || x < 0.0 {
        f32::NAN
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        f32::INFINITY
    } else {
        y
    }
}

/// `(sin 2 pi u, cos 2 pi u)`, for `|u| < 2^22` (turns). The nearest
/// quarter turn `q / 4` is split off exactly (`u - q / 4` is a multiple of
/// `u`'s ulp no larger than `1/8`); the rest, at most `pi / 4` in radians,
/// goes through the Taylor series of `sin` to `x^9` and of `cos` to `x^10`
/// (each within `2^-27` there), and the quarter turns swap and negate them.
#[inline(always)]
pub(crate) fn sincos_turns(u: f32) -> (f32, f32) {
    let q = (u * 4.0 + ROUND) - ROUND;
    let x = (u - q * 0.25) * std::f32::consts::TAU;
    let z = x * x;
    let sin = (x * z).mul_add(
        horner(z, [1.0 / 362_880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0]),
        x,
    );
    let cos = horner(
        z,
        [
            -1.0 / 3_628_800.0,
            1.0 / 40_320.0,
            -1.0 / 720.0,
            1.0 / 24.0,
            -0.5,
            1.0,
        ],
    );
    // Quarter turns: (sin, cos) -> (cos, -sin) -> (-sin, -cos) -> (-cos, sin).
    let quarter = (q as i32) & 3;
    let (a, b) = if quarter & 1 != 0 {
        (cos, sin)
    } else {
        (sin, cos)
    };
    let sin = if quarter & 2 != 0 { -a } else { a };
    let cos = if (quarter + 1) & 2 != 0 { -b } else { b };
    (sin, cos)
}

/// The hyperbolic tangent: `(1 - e^-2|x|) / (1 + e^-2|x|)` with the sign
/// of `x`, through `e^-2|x| - 1`, which keeps small arguments accurate.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let e = expm1_nonpositive(-2.0 * x.abs());
    (-e / (2.0 + e)).copysign(x)
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    sigmoid_from(x, exp(-x.abs()))
}

/// The logistic function of `x` from `e = e^-|x|`: `e / (1 + e)` for
/// negative `x` keeps the tiny results that `1 / (1 + e^-x)` would lose to
/// an infinite `e^-x`.
#[inline(always)]
fn sigmoid_from(x: f32, e: f32) -> f32 {
    let numerator = if x < 0.0 { e } else { 1.0 };
    numerator / (1.0 + e)
}

/// `d[i] = sigmoid(s[i])`, as [`exp_into`] computes `e^x`.
#[inline(always)]
pub(crate) fn sigmoid_into(s: &[f32], d: &mut [f32]) {
    map_or_redo!(
        s,
        d,
        |x| sigmoid_from(x, exp_normal(-x.abs())),
        inside: exp_is_normal(-x.abs()),
        full: sigmoid(x)
    );
}

/// Taylor coefficients of `erf(x) / x` in powers of `x^2`, highest first:
/// `2 / sqrt(pi) * (-1)^n / (n! (2n + 1))` for `n` from 9 down to 0.
const ERF_SMALL: [f32; 10] = [
    -1.636_584_5e-7,
    1.646_211_4e-6,
    -1.492_565e-5,
    1.205_533_3e-4,
    -8.548_327e-4,
    0.005_223_978,
    -0.026_866_17,
    0.112_837_92,
    -0.376_126_38,
    std::f32::consts::FRAC_2_SQRT_PI,
];

/// Coefficients of the *Numerical Recipes* fit `erfc(z) = t exp(-z^2 +
/// P(t))`, `t = 1 / (1 + z / 2)`, highest power of `t` first.
const ERFC_FIT: [f32; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_9,
    -1.135_204,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_7,
    -1.265_512_2,
];

/// Below this `|x|`, `erf` sums its Taylor series; above, `1 - erfc`.
const ERF_SERIES_MAX: f32 = 0.75;

/// Beyond this argument `erfc` is below `2^-124`: far below half an ulp
/// of 1, and the fit's exponent stays within the range of [`exp_normal`]
/// (above -86) up to it.
const ERFC_NORMAL_MAX: f32 = 9.2;

/// `erfc(z)` for `z >= 0` by the fit, given `-z^2` as two factors `a * b`
/// (their product rounds once, inside the exponent), with `exp` computing
/// the exponential.
#[inline(always)]
fn erfc_fit(z: f32, (a, b): (f32, f32), exp: impl Fn(f32) -> f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    t * exp(a.mul_add(b, horner(t, ERFC_FIT)))
}

/// The error function.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let series = horner(a * a, ERF_SMALL) * a;
    // Beyond the clamp, 1 - erfc is 1 either way.
    let ac = if a > ERFC_NORMAL_MAX {
        ERFC_NORMAL_MAX
    } else {
        a
    };
    let erfc = erfc_fit(ac, (-ac, ac), exp_normal);
    // NaN takes the series, which keeps it; the sign of x, zeros included,
    // carries over.
    let y = if a >= ERF_SERIES_MAX {
        1.0 - erfc
    } else {
        series
    };
    y.copysign(x)
}

/// GELU in its erf form, `x (1 + erf(x / sqrt 2)) / 2`, computed as
/// `x (1 - erfc(z) / 2)` for positive `x` and `x erfc(z) / 2` for
/// negative, `z = |x| / sqrt 2`: one evaluation of the erfc fit rather than
/// erf's two ranges, and no cancellation where `1 + erf` nears zero.
/// Within a few ulps near zero and for positive `x` (the fit's own error);
/// in the negative tail the fit's exponent `-x^2 / 2`, rounded once, adds
/// up to an ulp per unit of it (see the tests).
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    // Past 10, erfc(z) is below the smallest subnormal; taking it as 0
    // gives -0 for large negative x, and NaN for -inf, as in PyTorch.
    gelu_from(x, |z, minus_z2| {
        if z > 10.0 {
            0.0
        } else {
            erfc_fit(z, minus_z2, exp)
        }
    })
}

/// [`gelu`] of `x`, given `erfc(z, -z^2 as two factors)` (see
/// [`erfc_fit`]): `-z^2` is `-x^2 / 2`, from `x` itself.
#[inline(always)]
fn gelu_from(x: f32, erfc: impl Fn(f32, (f32, f32)) -> f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let half = 0.5 * erfc(z, (-0.5 * x, x));
    x * if x < 0.0 { half } else { 1.0 - half }
}

/// `d[i] = gelu(s[i])`, as [`exp_into`] computes `e^x`.
#[inline(always)]
pub(crate) fn gelu_into(s: &[f32], d: &mut [f32]) {
    // |x| / sqrt 2 within ERFC_NORMAL_MAX.
    let normal = |x: f32| x.abs() <= ERFC_NORMAL_MAX * std::f32::consts::SQRT_2;
    map_or_redo!(
        s,
        d,
        |x| gelu_from(x, |z, minus_z2| erfc_fit(z, minus_z2, exp_normal)),
        inside: normal(x),
        full: gelu(x)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `stride`-th `f32` bit pattern, both signs, plus the special
    /// values.
    fn arguments(stride: u32) -> impl Iterator<Item = f32> {
        let specials = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            1.0,
            -1.0,
            EXP_MAX,
            EXP_MIN,
            ERF_SERIES_MAX,
        ];
        (0..u32::MAX / stride)
            .map(move |k| f32::from_bits(k * stride))
            .chain(specials)
    }

    /// How many `f32` steps `got` lies from the exact `want` (0 when both
    /// are NaN, or the same infinity; infinite when one is NaN or
    /// infinite and the other not). A step is the spacing of floats at
    /// `want` rounded to `f32`, the subnormal one below the normal range.
    fn ulps(got: f32, want: f64) -> f64 {
        let rounded = want as f32;
        if want.is_nan() || got.is_nan() {
            return if want.is_nan() && got.is_nan() {
                0.0
            } else {
                f64::INFINITY
            };
        }
        if rounded.is_infinite() || got.is_infinite() {
            return if rounded == got { 0.0 } else { f64::INFINITY };
        }
        let a = rounded.abs().max(f32::MIN_POSITIVE);
        let step = (f32::from_bits(a.to_bits() + 1) - a) as f64;
        (got as f64 - want).abs() / step
    }

    /// A function's name, the function, its `f64` reference and the most
    /// ulps it may be off.
    type Case = (&'static str, fn(f32) -> f32, fn(f64) -> f64, f64);

    /// The largest error of `f` against `reference` over `arguments`, and
    /// the argument where it is.
    fn worst(f: fn(f32) -> f32, reference: fn(f64) -> f64, stride: u32) -> (f64, f32) {
        arguments(stride)
            .map(|x| (ulps(f(x), reference(x as f64)), x))
            .fold((0.0, 0.0), |w, e| if e.0 > w.0 { e } else { w })
    }

    #[test]
    fn each_function_is_within_a_few_ulps_everywhere() {
        // A prime stride reaches every exponent and many mantissas:
        // about 4.3 million arguments a function.
        let stride = 997;
        let cases: [Case; 5] = [
            ("exp", exp, f64::exp, 1.5),
            ("ln", ln, f64::ln, 1.5),
            ("tanh", tanh, f64::tanh, 3.0),
            ("sigmoid", sigmoid, |x| 1.0 / (1.0 + (-x).exp()), 3.0),
            ("erf", erf, libm::erf, 3.0),
        ];
        for (name, f, reference, bound) in cases {
            let (err, at) = worst(f, reference, stride);
            assert!(err <= bound, "{name}: {err} ulps at {at:e}");
        }
    }

    /// `sincos_turns` over every 7th multiple of `2^-24` in `[0, 1)` (the
    /// uniforms Box-Muller turns into angles) and over turns from -1000 to
    /// 1000: within 2 ulps of `sin` and `cos` of `2 pi u` in `f64`; whole
    /// quarter turns exact.
    #[test]
    fn sincos_turns_is_within_two_ulps() {
        let uniforms = (0..1u32 << 24).step_by(7).map(|k| k as f32 / 16_777_216.0);
        let wide = (0..2_000_000).map(|k| (k as f32 - 1e6) * 1e-3 + 0.000_123);
        for u in uniforms.chain(wide) {
            let (sin, cos) = sincos_turns(u);
            let x = std::f64::consts::TAU * u as f64;
            let (e_sin, e_cos) = (ulps(sin, x.sin()), ulps(cos, x.cos()));
            assert!(
                e_sin <= 2.0 && e_cos <= 2.0,
                "u {u:e}: {e_sin} and {e_cos} ulps"
            );
        }
        // Whole quarter turns, exactly (where `f64`'s `sin(pi)` is 1.2e-16).
        for (u, want) in [
            (0.0, (0.0, 1.0)),
            (0.25, (1.0, 0.0)),
            (0.5, (0.0, -1.0)),
            (0.75, (-1.0, 0.0)),
            (-0.25, (-1.0, 0.0)),
            (7.5, (0.0, -1.0)),
        ] {
            let (sin, cos) = sincos_turns(u);
            assert!(sin == want.0 && cos == want.1, "u {u}: ({sin}, {cos})");
        }
    }

    /// GELU within 7 ulps plus the rounding of its exponent `-x^2 / 2`
    /// (an ulp of `e^y` per unit of `y`, at worst): 6.4 ulps at worst for
    /// positive `x` (the erfc fit's own error near 0), growing in the
    /// negative tail, where PyTorch's own `f32` GELU (through `1 + erf`) is
    /// 17% off at -5 and 0 from -5.3 on.
    #[test]
    fn gelu_is_within_the_rounding_of_its_exponent() {
        for x in arguments(997) {
            let want = 0.5 * x as f64 * libm::erfc(-x as f64 / std::f64::consts::SQRT_2);
            let err = ulps(
                gelu(x),
                if x == f32::NEG_INFINITY {
                    f64::NAN
                } else {
                    want
                },
            );
            let bound = 7.0
                + if x < 0.0 {
                    0.5 * (x as f64).powi(2)
                } else {
                    0.0
                };
            assert!(err <= bound, "gelu: {err} ulps at {x:e}");
        }
    }

    /// `exp_into`, `sigmoid_into` and `gelu_into` give their functions'
    /// results bit for bit: over slices whose arguments all lie in the range of
    /// `exp_normal`, and over slices with some outside it.
    #[test]
    fn slice_functions_match_the_scalar_ones() {
        let mixed: Vec<f32> = arguments(997).collect();
        let inside: Vec<f32> = (-860..880).map(|k| k as f32 * 0.1 + 0.03).collect();
        assert!(inside.iter().all(|&x| exp_is_normal(x)));
        for s in mixed.chunks(1000).chain(inside.chunks(333)) {
            assert_same(s, exp_into, exp);
            assert_same(s, sigmoid_into, sigmoid);
            assert_same(s, gelu_into, gelu);
        }
    }

    /// `exp_nonpositive` is `exp` down to -86, then 0; NaN stays NaN.
    #[test]
    fn exp_nonpositive_is_exp_until_results_leave_the_normal_floats() {
        for x in arguments(997).filter(|&x| x <= 0.0) {
            let want = if x >= EXP_NORMAL_MIN { exp(x) } else { 0.0 };
            let got = exp_nonpositive(x);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{got:e} at {x:e}, want {want:e}"
            );
        }
        assert!(exp_nonpositive(f32::NAN).is_nan());
        assert!(exp(EXP_NORMAL_MIN) > 2f32.powi(-125));
    }

    /// Asserts that `into` gives `f` of each of `s`, bit for bit.
    fn assert_same(s: &[f32], into: fn(&[f32], &mut [f32]), f: fn(f32) -> f32) {
        let mut d = vec![0.0; s.len()];
        into(s, &mut d);
        for (&x, &y) in s.iter().zip(&d) {
            let want = f(x);
            let same = y.to_bits() == want.to_bits() || (y.is_nan() && want.is_nan());
            assert!(same, "{y:e} for {x:e}, want {want:e}");
        }
    }

    #[test]
    fn special_values_are_those_of_ieee_754() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        let tiny = exp(-103.0);
        assert!(tiny > 0.0 && tiny < f32::MIN_POSITIVE, "subnormal");
        assert_eq!(tiny, (-103.0f64).exp() as f32);
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert_eq!(ln(-0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert!(ln(f32::NAN).is_nan());
        assert_eq!(ln(f32::INFINITY), f32::INFINITY);
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert!(tanh(f32::NAN).is_nan());
        assert!(tanh(-0.0).is_sign_negative());
        assert_eq!(sigmoid(f32::NEG_INFINITY), 0.0);
        assert_eq!(sigmoid(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(f32::NEG_INFINITY), -1.0);
        assert!(erf(f32::NAN).is_nan());
        assert!(erf(-0.0).is_sign_negative());
        assert_eq!(erf(1e-30), 1e-30 * ERF_SMALL[9]);
    }
}
