//! Half-precision and integer coverage of the CPU backend.
//!
//! F16/BF16: every reference case runs with half inputs and must match the
//! same op run in F32 on the (already rounded) inputs, within a few units of
//! the half type's precision (F16: rtol 1e-2, atol 1e-3; BF16: rtol 4e-2,
//! atol 1e-2), outputs and gradients.

mod common;

use common::{apply, load_cases, tensor, worst};
use ingot::{DType, Device, Tensor};

fn check_half(dtype: DType, rtol: f64, atol: f64) {
    let mut problems = Vec::new();
    for case in load_cases().into_iter().filter(|c| c.dtype == DType::F32) {
        let half: Vec<Tensor> = case
            .inputs
            .iter()
            .map(|v| {
                let t = tensor(v);
                if t.dtype().is_float() {
                    t.to_dtype(dtype).unwrap().requires_grad_(true)
                } else {
                    t
                }
            })
            .collect();
        let wide: Vec<Tensor> = half
            .iter()
            .map(|t| {
                if t.dtype().is_float() {
                    t.detach()
                        .to_dtype(DType::F32)
                        .unwrap()
                        .requires_grad_(true)
                } else {
                    t.clone()
                }
            })
            .collect();
        let (got, want) = (
            apply(&case.op, &case.attrs, &half).unwrap(),
            apply(&case.op, &case.attrs, &wide).unwrap(),
        );
        let expect_dtype = if want.dtype() == DType::F32 {
            dtype
        } else {
            want.dtype()
        };
        if got.dtype() != expect_dtype {
            problems.push(format!(
                "{}: dtype {} instead of {expect_dtype}",
                case.label(),
                got.dtype()
            ));
            continue;
        }
        let w = worst(
            &got.to_vec::<f64>().unwrap(),
            &want.to_vec::<f64>().unwrap(),
            rtol,
            atol,
        );
        if w > 1.0 {
            problems.push(format!("{}: {dtype} output off by {w:.2}x", case.label()));
        }
        if let Some(cot) = &case.cotangent {
            let cot = tensor(cot);
            got.mul(&cot.to_dtype(dtype).unwrap())
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            want.mul(&cot)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (k, (h, w)) in half.iter().zip(&wide).enumerate() {
                if let (Some(gh), Some(gw)) = (h.grad(), w.grad()) {
                    assert_eq!(gh.dtype(), dtype, "{}: gradient dtype", case.label());
                    let off = worst(
                        &gh.to_vec::<f64>().unwrap(),
                        &gw.to_vec::<f64>().unwrap(),
                        rtol * 4.0,
                        atol * 4.0,
                    );
                    if off > 1.0 {
                        problems.push(format!(
                            "{}: {dtype} gradient {k} off by {off:.2}x",
                            case.label()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn f16_runs_every_op_in_f32_precision_rounded() {
    check_half(DType::F16, 1e-2, 1e-3);
}

#[test]
fn bf16_runs_every_op_in_f32_precision_rounded() {
    check_half(DType::BF16, 4e-2, 1e-2);
}

fn ints(v: Vec<i64>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(v, shape, &Device::cpu()).unwrap()
}

#[test]
fn integer_ops_are_exact() {
    let dev = Device::cpu();
    let a = ints(vec![3, -7, 5, 2, 9, -1], &[2, 3]);
    let big = ints(vec![i64::MAX - 1, 1], &[2]);
    assert_eq!(
        big.sum_all().unwrap().item::<i64>().unwrap(),
        i64::MAX,
        "no detour through f64"
    );
    assert_eq!(
        a.sum(&[1], false).unwrap().to_vec::<i64>().unwrap(),
        vec![1, 10]
    );
    assert_eq!(
        a.prod(&[0], false).unwrap().to_vec::<i64>().unwrap(),
        vec![6, -63, -5]
    );
    assert_eq!(
        a.max(&[1], false).unwrap().to_vec::<i64>().unwrap(),
        vec![5, 9]
    );
    assert_eq!(
        a.argmin(1, false).unwrap().to_vec::<i64>().unwrap(),
        vec![1, 2]
    );
    assert_eq!(
        a.mul(&a).unwrap().to_vec::<i64>().unwrap(),
        vec![9, 49, 25, 4, 81, 1]
    );
    assert_eq!(
        a.abs().unwrap().neg().unwrap().to_vec::<i64>().unwrap(),
        vec![-3, -7, -5, -2, -9, -1]
    );
    assert_eq!(
        a.matmul(&a.t().unwrap()).unwrap().to_vec::<i64>().unwrap(),
        vec![83, -62, -62, 86]
    );
    assert_eq!(
        a.pow(&ints(vec![2], &[1]))
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![9, 49, 25, 4, 81, 1]
    );
    assert_eq!(
        a.gt(&ints(vec![0], &[1]))
            .unwrap()
            .sum_all()
            .unwrap()
            .item::<i64>()
            .unwrap(),
        4
    );
    let i32s = a.to_dtype(DType::I32).unwrap();
    assert_eq!(i32s.add_scalar(1.0).unwrap().dtype(), DType::I32);
    assert_eq!(i32s.sum_all().unwrap().dtype(), DType::I64);
    let u8s = Tensor::from_vec(vec![250u8, 10], &[2], &dev).unwrap();
    assert_eq!(
        u8s.add_scalar(10.0).unwrap().to_vec::<u8>().unwrap(),
        vec![4, 20],
        "u8 wraps like PyTorch"
    );
    assert_eq!(
        Tensor::cat(&[&a, &a], 0)
            .unwrap()
            .pad(&[(1, 0)], -1.0)
            .unwrap()
            .shape(),
        &[4, 4]
    );
    assert_eq!(
        a.gather(1, &ints(vec![2, 0], &[2, 1]))
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![5, 2]
    );
    assert_eq!(
        a.t()
            .unwrap()
            .reshape(&[-1])
            .unwrap()
            .to_vec::<i64>()
            .unwrap(),
        vec![3, 2, -7, 9, 5, -1]
    );
}

#[test]
fn bool_ops_follow_pytorch() {
    let dev = Device::cpu();
    let p = Tensor::from_vec(vec![true, false, true], &[3], &dev).unwrap();
    let q = Tensor::from_vec(vec![true, true, false], &[3], &dev).unwrap();
    assert_eq!(
        p.logical_and(&q).unwrap().to_vec::<bool>().unwrap(),
        vec![true, false, false]
    );
    assert_eq!(
        p.logical_or(&q).unwrap().to_vec::<bool>().unwrap(),
        vec![true, true, true]
    );
    assert_eq!(
        p.logical_not().unwrap().to_vec::<bool>().unwrap(),
        vec![false, true, false]
    );
    assert_eq!(p.sum_all().unwrap().to_vec::<i64>().unwrap(), vec![2]);
    assert_eq!(
        p.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(),
        vec![1.0, 0.0, 1.0]
    );
    assert_eq!(
        p.exp().unwrap().dtype(),
        DType::F32,
        "float ops promote bools"
    );
    let f = Tensor::from_vec(vec![0.0f32, -0.5, f32::NAN], &[3], &dev).unwrap();
    assert_eq!(
        f.to_dtype(DType::Bool).unwrap().to_vec::<bool>().unwrap(),
        vec![false, true, true]
    );
}

#[test]
fn casts_round_and_truncate_like_pytorch() {
    let dev = Device::cpu();
    let x = Tensor::from_vec(vec![1.0f32 / 3.0, -2.7, 300.5], &[3], &dev).unwrap();
    let h = x.to_dtype(DType::F16).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(h, vec![0.33325195, -2.6992188, 300.5]);
    let b = x.to_dtype(DType::BF16).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(b, vec![0.33398438, -2.703125, 300.0]);
    assert_eq!(
        x.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(),
        vec![0, -2, 300]
    );
    // A fused chain rounds at the explicit cast, not only at the end.
    let rounded = x
        .to_dtype(DType::F16)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .mul_scalar(3.0)
        .unwrap();
    assert_eq!(rounded.to_vec::<f32>().unwrap()[0], 0.33325195 * 3.0);
}
