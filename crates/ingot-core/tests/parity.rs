//! Parity with PyTorch: every op's output and gradients, in F64 and F32,
//! against values written by `tests/reference/gen_reference.py`.
//!
//! Tolerances (`|got - want| <= atol + rtol * |want|`):
//! F64: rtol 1e-10, atol 1e-12; F32: rtol 1e-5, atol 1e-6, but atol 1e-5
//! for conv2d, whose sums of dozens of products round by more than 1e-6 in
//! F32 (PyTorch's own F32 input gradient of the `[2, 4, 3, 30]` case is
//! 4.6e-6 off its F64 value).

mod common;

use common::{Case, apply, load_cases, shape_of, tensor, values, worst};
use ingot::{DType, Tensor};

fn tolerance(dtype: DType, op: &str) -> (f64, f64) {
    match dtype {
        DType::F64 => (1e-10, 1e-12),
        _ if op == "conv2d" => (1e-5, 1e-5),
        _ => (1e-5, 1e-6),
    }
}

/// Checks one case; returns a description of each mismatch.
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let inputs: Vec<Tensor> = case
        .inputs
        .iter()
        .map(|v| {
            let t = tensor(v);
            if t.dtype().is_float() {
                t.requires_grad_(true)
            } else {
                t
            }
        })
        .collect();
    let out = match apply(&case.op, &case.attrs, &inputs) {
        Ok(o) => o,
        Err(e) => return vec![format!("{}: error {e}", case.label())],
    };
    let (rtol, atol) = tolerance(case.dtype, &case.op);
    if out.shape() != shape_of(&case.output).as_slice() {
        problems.push(format!(
            "{}: shape {:?}, torch {:?}",
            case.label(),
            out.shape(),
            shape_of(&case.output)
        ));
        return problems;
    }
    let want_dtype = common::dtype_of(case.output["dtype"].as_str().unwrap());
    if out.dtype() != want_dtype {
        problems.push(format!(
            "{}: dtype {}, torch {}",
            case.label(),
            out.dtype(),
            want_dtype
        ));
    }
    let got = out.to_vec::<f64>().unwrap();
    let w = worst(&got, &values(&case.output), rtol, atol);
    if w > 1.0 {
        problems.push(format!(
            "{}: output off by {w:.2}x the tolerance",
            case.label()
        ));
    }
    if let Some(cot) = &case.cotangent {
        let loss = out.mul(&tensor(cot)).and_then(|p| p.sum_all());
        if let Err(e) = loss.and_then(|l| l.backward()) {
            problems.push(format!("{}: backward failed: {e}", case.label()));
            return problems;
        }
        for (k, (x, want)) in inputs.iter().zip(&case.grads).enumerate() {
            let Some(want) = want else { continue };
            let Some(g) = x.grad() else {
                problems.push(format!("{}: input {k} got no gradient", case.label()));
                continue;
            };
            let w = worst(&g.to_vec::<f64>().unwrap(), &values(want), rtol, atol);
            if w > 1.0 {
                problems.push(format!(
                    "{}: gradient of input {k} off by {w:.2}x the tolerance",
                    case.label()
                ));
            }
        }
    }
    problems
}

#[test]
fn every_op_and_gradient_matches_pytorch() {
    let cases = load_cases();
    assert!(
        cases.len() > 150,
        "expected the full reference set, got {} cases",
        cases.len()
    );
    let problems: Vec<String> = cases.iter().flat_map(check).collect();
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn reference_covers_both_float_dtypes_for_each_op() {
    let cases = load_cases();
    for op in cases.iter().map(|c| c.op.as_str()) {
        for dtype in [DType::F64, DType::F32] {
            assert!(
                cases.iter().any(|c| c.op == op && c.dtype == dtype),
                "{op} has no {dtype} case"
            );
        }
    }
}
