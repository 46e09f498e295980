//! Finite-difference gradient checks in F64 for every differentiable op:
//! the autograd gradient of `sum(op(x) * cotangent)` against central
//! differences with step 1e-6 (tolerance: rtol 1e-6, atol 1e-7). Inputs are
//! the reference cases' (random, away from kinks).

mod common;

use common::{Case, apply, load_cases, shape_of, tensor, values, worst};
use ingot::{DType, Device, Tensor};

const EPS: f64 = 1e-6;

fn loss(case: &Case, inputs: &[Tensor], cot: &Tensor) -> f64 {
    apply(&case.op, &case.attrs, inputs)
        .unwrap()
        .mul(cot)
        .unwrap()
        .sum_all()
        .unwrap()
        .item::<f64>()
        .unwrap()
}

fn check(case: &Case) -> Vec<String> {
    let Some(cot) = &case.cotangent else {
        return vec![];
    };
    let cot = tensor(cot);
    let inputs: Vec<Tensor> = case.inputs.iter().map(tensor).collect();
    let mut problems = Vec::new();
    for (k, want) in case.grads.iter().enumerate() {
        if want.is_none() {
            continue;
        }
        let leaf = inputs[k].detach().requires_grad_(true);
        let mut with_leaf = inputs.clone();
        with_leaf[k] = leaf.clone();
        apply(&case.op, &case.attrs, &with_leaf)
            .unwrap()
            .mul(&cot)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let analytic = leaf.grad().expect("gradient").to_vec::<f64>().unwrap();

        let base = values(&case.inputs[k]);
        let shape = shape_of(&case.inputs[k]);
        let mut numeric = vec![0.0; base.len()];
        for j in 0..base.len() {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[j] += delta;
                let mut xs = inputs.clone();
                xs[k] = Tensor::from_vec(v, &shape, &Device::cpu()).unwrap();
                loss(case, &xs, &cot)
            };
            numeric[j] = (at(EPS) - at(-EPS)) / (2.0 * EPS);
        }
        let w = worst(&analytic, &numeric, 1e-6, 1e-7);
        if w > 1.0 {
            problems.push(format!(
                "{}: input {k} autograd vs finite differences off by {w:.2}x the tolerance",
                case.label()
            ));
        }
    }
    problems
}

#[test]
fn every_differentiable_op_matches_finite_differences() {
    let cases: Vec<Case> = load_cases()
        .into_iter()
        .filter(|c| c.dtype == DType::F64)
        .collect();
    let differentiable = cases.iter().filter(|c| c.cotangent.is_some()).count();
    assert!(
        differentiable > 70,
        "expected the differentiable reference cases, got {differentiable}"
    );
    let problems: Vec<String> = cases.iter().flat_map(check).collect();
    assert!(
        problems.is_empty(),
        "{} failures:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn prod_gradient_handles_zeros() {
    // With one zero the zero's gradient is the product of the others; with
    // two zeros every gradient vanishes.
    let dev = Device::cpu();
    let x = Tensor::from_vec(vec![2.0f64, 0.0, 3.0, 0.0, 0.0, 5.0], &[2, 3], &dev)
        .unwrap()
        .requires_grad_(true);
    x.prod(&[1], false)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(
        x.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![0.0, 6.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn ties_share_the_gradient_like_pytorch() {
    let dev = Device::cpu();
    let a = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3], &dev)
        .unwrap()
        .requires_grad_(true);
    let b = Tensor::from_vec(vec![1.0f64, 5.0, 0.0], &[3], &dev)
        .unwrap()
        .requires_grad_(true);
    a.maximum(&b)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_eq!(
        a.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![0.5, 0.0, 1.0]
    );
    assert_eq!(
        b.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![0.5, 1.0, 0.0]
    );
    let m = Tensor::from_vec(vec![4.0f64, 4.0, 1.0], &[3], &dev)
        .unwrap()
        .requires_grad_(true);
    m.max(&[0], false).unwrap().backward().unwrap();
    assert_eq!(
        m.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![0.5, 0.5, 0.0]
    );
}
