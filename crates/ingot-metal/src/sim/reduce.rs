//! Reductions (`MPSGraphReductionOps`) and softmax.
//!
//! - `reductionSumWithTensor:axes:` and friends reduce over `axes` and keep
//!   them with size 1 (<https://developer.apple.com/documentation/metalperformanceshadersgraph/mpsgraph/reductionsum(with:axes:name:)>);
//!   the plain maximum/minimum ignore NaN, the `PropagateNaN` forms return it;
//! - `reductionArgMaximumWithTensor:axis:` returns `Int32` indices with the
//!   axis kept. Apple does not document ties or NaN; the simulator takes the
//!   first extreme and counts NaN as the extreme, the IR's rule, which the
//!   tests on a Mac check against the real GPU;
//! - `softMaxWithTensor:axis:`: `exp(x) / sum(exp(x))` along `axis`.

use ingot_core::Result;

use super::value::{Data, Value, sim_error, strides};
use crate::program::{MpsArgReduction, MpsReduction, MpsType};

/// For each element of `shape`, the flat index of its slot in the shape
/// with `axes` set to 1.
fn reduced_slots(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    let mut kept = shape.to_vec();
    for &a in axes {
        kept[a] = 1;
    }
    let ks = strides(&kept);
    let n: usize = shape.iter().product();
    let mut slots = Vec::with_capacity(n);
    let mut coord = vec![0usize; shape.len()];
    for _ in 0..n {
        slots.push(
            (0..shape.len())
                .map(|d| if kept[d] == 1 { 0 } else { coord[d] * ks[d] })
                .sum(),
        );
        for d in (0..shape.len()).rev() {
            coord[d] += 1;
            if coord[d] < shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    slots
}

/// `reduction<op>WithTensor:axes:`.
pub fn reduction(op: MpsReduction, x: &Value, axes: &[usize], out: &MpsType) -> Result<Value> {
    let slots = reduced_slots(&x.ty.shape, axes);
    let m = out.numel();
    let data = match &x.data {
        Data::F(v) => {
            let init = match op {
                MpsReduction::Sum => 0.0,
                MpsReduction::Product => 1.0,
                MpsReduction::Maximum | MpsReduction::MaximumPropagateNaN => f64::NEG_INFINITY,
                MpsReduction::Minimum | MpsReduction::MinimumPropagateNaN => f64::INFINITY,
            };
            let mut acc = vec![init; m];
            for (&s, &e) in slots.iter().zip(v) {
                let e = e as f64;
                let a = &mut acc[s];
                *a = match op {
                    MpsReduction::Sum => *a + e,
                    MpsReduction::Product => *a * e,
                    MpsReduction::Maximum => a.max(e),
                    MpsReduction::Minimum => a.min(e),
                    MpsReduction::MaximumPropagateNaN if a.is_nan() || e.is_nan() => f64::NAN,
                    MpsReduction::MinimumPropagateNaN if a.is_nan() || e.is_nan() => f64::NAN,
                    MpsReduction::MaximumPropagateNaN => a.max(e),
                    MpsReduction::MinimumPropagateNaN => a.min(e),
                };
            }
            Data::F(acc.into_iter().map(|a| a as f32).collect())
        }
        Data::I(v) => {
            let init = match op {
                MpsReduction::Sum => 0,
                MpsReduction::Product => 1,
                MpsReduction::Maximum | MpsReduction::MaximumPropagateNaN => i64::MIN,
                MpsReduction::Minimum | MpsReduction::MinimumPropagateNaN => i64::MAX,
            };
            let mut acc = vec![init; m];
            for (&s, &e) in slots.iter().zip(v) {
                let a = &mut acc[s];
                *a = match op {
                    MpsReduction::Sum => a.wrapping_add(e),
                    MpsReduction::Product => a.wrapping_mul(e),
                    MpsReduction::Maximum | MpsReduction::MaximumPropagateNaN => (*a).max(e),
                    MpsReduction::Minimum | MpsReduction::MinimumPropagateNaN => (*a).min(e),
                };
            }
            Data::I(acc)
        }
        Data::B(v) => {
            let all = matches!(op, MpsReduction::Minimum | MpsReduction::Product);
            if matches!(op, MpsReduction::Sum) {
                return Err(sim_error("reductionSum is not defined on Bool"));
            }
            let mut acc = vec![all; m];
            for (&s, &e) in slots.iter().zip(v) {
                acc[s] = if all { acc[s] && e } else { acc[s] || e };
            }
            Data::B(acc)
        }
    };
    Ok(Value::normalized(out.clone(), data))
}

/// `reductionArg{Maximum,Minimum}WithTensor:axis:`.
pub fn arg_reduction(op: MpsArgReduction, x: &Value, axis: usize, out: &MpsType) -> Result<Value> {
    let values = x.as_f64();
    let slots = reduced_slots(&x.ty.shape, &[axis]);
    let m = out.numel();
    let mut best: Vec<Option<(f64, i64)>> = vec![None; m];
    let stride = strides(&x.ty.shape)[axis];
    for (k, (&s, &e)) in slots.iter().zip(&values).enumerate() {
        let pos = ((k / stride) % x.ty.shape[axis]) as i64;
        let better = match best[s] {
            None => true,
            Some((b, _)) if b.is_nan() => false,
            Some(_) if e.is_nan() => true,
            Some((b, _)) => match op {
                MpsArgReduction::ArgMaximum => e > b,
                MpsArgReduction::ArgMinimum => e < b,
            },
        };
        if better {
            best[s] = Some((e, pos));
        }
    }
    let data = best.into_iter().map(|b| b.map_or(0, |(_, i)| i)).collect();
    Ok(Value::normalized(out.clone(), Data::I(data)))
}

/// `softMaxWithTensor:axis:`.
pub fn softmax(x: &Value, axis: usize) -> Result<Value> {
    let v = x.floats("softMax")?;
    let slots = reduced_slots(&x.ty.shape, &[axis]);
    let m = v.len() / x.ty.shape[axis].max(1);
    let mut max = vec![f64::NEG_INFINITY; m];
    for (&s, &e) in slots.iter().zip(v) {
        max[s] = max[s].max(e as f64);
    }
    let exp: Vec<f64> = slots
        .iter()
        .zip(v)
        .map(|(&s, &e)| (e as f64 - max[s]).exp())
        .collect();
    let mut sum = vec![0.0; m];
    for (&s, &e) in slots.iter().zip(&exp) {
        sum[s] += e;
    }
    let data = slots
        .iter()
        .zip(&exp)
        .map(|(&s, &e)| (e / sum[s]) as f32)
        .collect();
    Ok(Value::normalized(x.ty.clone(), Data::F(data)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::MpsDataType;

    #[test]
    fn reductions_keep_their_axes() {
        let x = Value::f32s(&[2, 3], vec![1., 5., 3., 4., 2., 6.]);
        let out = MpsType {
            shape: vec![1, 3],
            dtype: MpsDataType::Float32,
        };
        let s = reduction(MpsReduction::Sum, &x, &[0], &out).unwrap();
        assert_eq!(s.data, Data::F(vec![5., 7., 9.]));
        let idx = MpsType {
            shape: vec![2, 1],
            dtype: MpsDataType::Int32,
        };
        let a = arg_reduction(MpsArgReduction::ArgMaximum, &x, 1, &idx).unwrap();
        assert_eq!(a.data, Data::I(vec![1, 2]));
    }

    #[test]
    fn nan_handling_of_the_two_maximum_forms() {
        let x = Value::f32s(&[3], vec![1., f32::NAN, 2.]);
        let out = MpsType {
            shape: vec![1],
            dtype: MpsDataType::Float32,
        };
        assert_eq!(
            reduction(MpsReduction::Maximum, &x, &[0], &out)
                .unwrap()
                .data,
            Data::F(vec![2.])
        );
        let nan = reduction(MpsReduction::MaximumPropagateNaN, &x, &[0], &out).unwrap();
        assert!(nan.floats("t").unwrap()[0].is_nan());
    }
}
