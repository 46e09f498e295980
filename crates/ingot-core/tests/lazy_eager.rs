//! A fused chain of elementwise ops and casts gives, bit for bit, what the
//! same ops give evaluated one at a time (each result stored in its dtype):
//! intermediates of narrow types round and wrap inside fused kernels too.

use ingot::{DType, Device, HostData, Tensor};
use proptest::prelude::*;

/// One step of a chain.
#[derive(Clone, Debug)]
enum Step {
    AddSelf,
    MulSelf,
    SubOther,
    AddScalar(i8),
    MulScalar(i8),
    Neg,
    Abs,
    MaxOther,
    Cast(DType),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::AddSelf),
        Just(Step::MulSelf),
        Just(Step::SubOther),
        any::<i8>().prop_map(Step::AddScalar),
        any::<i8>().prop_map(Step::MulScalar),
        Just(Step::Neg),
        Just(Step::Abs),
        Just(Step::MaxOther),
        prop::sample::select(DType::ALL.to_vec()).prop_map(Step::Cast),
    ]
}

/// Values near the edges of `dtype`'s range, where rounding and wrapping
/// show.
fn start(dtype: DType, seed: u64, n: usize) -> Tensor {
    let dev = Device::cpu();
    let pick = |i: usize| {
        let mixed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add((i as u64).wrapping_mul(1442695040888963407));
        (mixed >> 33) as i64
    };
    let f: Vec<f64> = (0..n)
        .map(|i| {
            let r = pick(i);
            match dtype {
                DType::U8 => (r % 256) as f64,
                DType::I32 => {
                    (i32::MAX - (r % 1000) as i32) as f64 * if r % 2 == 0 { 1.0 } else { -1.0 }
                }
                DType::I64 => (r % 100_000) as f64 - 50_000.0,
                DType::Bool => (r % 2) as f64,
                DType::F16 => ((r % 65_000) as f64 - 32_000.0) * 1.75,
                DType::BF16 => ((r % 10_000) as f64 - 5_000.0) * 1.0e30,
                _ => ((r % 20_000) as f64 - 10_000.0) * 0.37,
            }
        })
        .collect();
    Tensor::from_host(HostData::from(f).converted(dtype), &[n], &dev).unwrap()
}

/// Applies `s` to `x` (`other` is a second operand of the chain's start),
/// or `None` where the op does not take `x`'s dtype.
fn apply(s: &Step, x: &Tensor, other: &Tensor) -> Option<Tensor> {
    let other = other.to_dtype(x.dtype()).ok()?;
    let bool_ok = x.dtype() != DType::Bool;
    match s {
        Step::AddSelf => x.add(x).ok(),
        Step::MulSelf => x.mul(x).ok(),
        Step::SubOther if bool_ok => x.sub(&other).ok(),
        Step::AddScalar(c) => x.add_scalar(*c as f64).ok(),
        Step::MulScalar(c) => x.mul_scalar(*c as f64).ok(),
        Step::Neg if bool_ok => x.neg().ok(),
        Step::Abs if bool_ok => x.abs().ok(),
        Step::MaxOther => x.maximum(&other).ok(),
        Step::Cast(d) => x.to_dtype(*d).ok(),
        _ => None,
    }
}

/// The bits of every element, as f64 where that is exact for the dtype and
/// as the element's own bits otherwise.
fn bits(t: &Tensor) -> Vec<u64> {
    match t.to_host().unwrap() {
        HostData::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
        HostData::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
        HostData::F16(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
        HostData::BF16(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
        HostData::I64(v) => v.iter().map(|&x| x as u64).collect(),
        HostData::I32(v) => v.iter().map(|&x| x as u64).collect(),
        HostData::U8(v) => v.iter().map(|&x| x as u64).collect(),
        HostData::Bool(v) => v.iter().map(|&x| x as u64).collect(),
    }
}

/// NaNs of any payload compare equal (both sides must agree on NaN-ness).
fn canonical(t: &Tensor, b: Vec<u64>) -> Vec<u64> {
    if !t.dtype().is_float() {
        return b;
    }
    let v = t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    b.into_iter()
        .zip(v)
        .map(|(b, x)| if x.is_nan() { u64::MAX } else { b })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn fused_chains_equal_op_by_op_evaluation(
        dtype in prop::sample::select(DType::ALL.to_vec()),
        steps in prop::collection::vec(step(), 1..8),
        seed in any::<u64>(),
    ) {
        let x0 = start(dtype, seed, 37);
        let other = start(dtype, seed ^ 0x5555, 37);
        let (mut lazy, mut eager) = (x0.clone(), x0.clone());
        for s in &steps {
            let (Some(l), Some(e)) = (apply(s, &lazy, &other), apply(s, &eager, &other)) else {
                continue;
            };
            ingot::eval(&[&e]).unwrap();
            lazy = l;
            eager = e;
        }
        prop_assert_eq!(lazy.dtype(), eager.dtype());
        let (l, e) = (bits(&lazy), bits(&eager));
        prop_assert_eq!(canonical(&lazy, l), canonical(&eager, e), "steps {:?} from {:?}", steps, dtype);
    }
}

#[test]
fn the_cases_that_used_to_differ() {
    let dev = Device::cpu();
    let u8s = |v: Vec<u8>| Tensor::from_vec(v, &[2], &dev).unwrap();
    let sum = u8s(vec![255, 200]).add(&u8s(vec![1, 100])).unwrap();
    assert_eq!(
        sum.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(),
        vec![0.0, 44.0]
    );
    let h = Tensor::full(&[1], 60000.0, DType::F16, &dev).unwrap();
    let doubled = h.mul_scalar(2.0).unwrap().to_dtype(DType::F32).unwrap();
    assert_eq!(doubled.to_vec::<f32>().unwrap(), vec![f32::INFINITY]);
    let i = Tensor::full(&[1], i32::MAX as f64, DType::I32, &dev).unwrap();
    let wrapped = i.add_scalar(1.0).unwrap().to_dtype(DType::F64).unwrap();
    assert_eq!(wrapped.to_vec::<f64>().unwrap(), vec![i32::MIN as f64]);
}
