//! Constants, coordinates, arithmetic, casts and select, as MPSGraph
//! documents them: `MPSGraphArithmeticOps` apply elementwise with NumPy
//! broadcasting (<https://developer.apple.com/documentation/metalperformanceshadersgraph/mpsgraph/addition(_:_:name:)>),
//! comparisons and logical ops return `Bool`, and
//! `castTensor:toType:` converts values (float to integer toward zero).

use ingot_core::Result;

use super::value::{Data, Value, broadcast_index, sim_error, strides};
use crate::program::{MpsBinary, MpsDataType, MpsType, MpsUnary};

/// `constantWithScalar:shape:dataType:`.
pub fn constant(scalar: f64, ty: &MpsType) -> Value {
    let n = ty.numel();
    let data = match ty.dtype {
        MpsDataType::Bool => Data::B(vec![scalar != 0.0; n]),
        d if d.is_float() => Data::F(vec![scalar as f32; n]),
        MpsDataType::UInt64 => Data::I(vec![scalar as u64 as i64; n]),
        _ => Data::I(vec![scalar as i64; n]),
    };
    Value::normalized(ty.clone(), data)
}

/// `coordinateAlongAxis:withShape:`: each element's index along `axis`.
pub fn coordinate(axis: usize, ty: &MpsType) -> Value {
    let s = strides(&ty.shape);
    let data = (0..ty.numel())
        .map(|i| ((i / s[axis]) % ty.shape[axis]) as i64)
        .collect();
    Value::normalized(ty.clone(), Data::I(data))
}

fn float_unary(op: MpsUnary, x: f32) -> Result<f32> {
    Ok(match op {
        MpsUnary::Identity => x,
        MpsUnary::Negative => -x,
        MpsUnary::Absolute => x.abs(),
        MpsUnary::Exponent => x.exp(),
        MpsUnary::Logarithm => x.ln(),
        MpsUnary::SquareRoot => x.sqrt(),
        MpsUnary::ReverseSquareRoot => 1.0 / x.sqrt(),
        MpsUnary::Reciprocal => 1.0 / x,
        MpsUnary::Sin => x.sin(),
        MpsUnary::Cos => x.cos(),
        MpsUnary::Tanh => x.tanh(),
        MpsUnary::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        MpsUnary::ReLU => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        MpsUnary::Erf => libm::erff(x),
        MpsUnary::Floor => x.floor(),
        MpsUnary::Ceil => x.ceil(),
        MpsUnary::Rint => x.round_ties_even(),
        MpsUnary::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        MpsUnary::Not => return Err(sim_error("notWithTensor: needs a Bool tensor")),
    })
}

/// One-operand arithmetic.
pub fn unary(op: MpsUnary, x: &Value) -> Result<Value> {
    let data = match &x.data {
        Data::F(v) => Data::F(
            v.iter()
                .map(|&e| float_unary(op, e))
                .collect::<Result<_>>()?,
        ),
        Data::I(v) => Data::I(
            v.iter()
                .map(|&e| match op {
                    MpsUnary::Identity => Ok(e),
                    MpsUnary::Negative => Ok(e.wrapping_neg()),
                    MpsUnary::Absolute => Ok(e.wrapping_abs()),
                    MpsUnary::Sign => Ok(e.signum()),
                    MpsUnary::Floor | MpsUnary::Ceil | MpsUnary::Rint | MpsUnary::ReLU => {
                        Ok(if op == MpsUnary::ReLU { e.max(0) } else { e })
                    }
                    _ => Err(sim_error(format!(
                        "{op:?} is not defined on {:?}",
                        x.ty.dtype
                    ))),
                })
                .collect::<Result<_>>()?,
        ),
        Data::B(v) if op == MpsUnary::Not => Data::B(v.iter().map(|e| !e).collect()),
        Data::B(v) if op == MpsUnary::Identity => Data::B(v.clone()),
        Data::B(_) => return Err(sim_error(format!("{op:?} is not defined on Bool"))),
    };
    Ok(Value::normalized(x.ty.clone(), data))
}

fn float_binary(op: MpsBinary, a: f32, b: f32) -> Result<Result<f32, bool>> {
    use MpsBinary::*;
    Ok(match op {
        Addition => Ok(a + b),
        Subtraction => Ok(a - b),
        Multiplication => Ok(a * b),
        Division => Ok(a / b),
        Power => Ok(a.powf(b)),
        Maximum => Ok(a.max(b)),
        Minimum => Ok(a.min(b)),
        MaximumWithNaNPropagation => Ok(if a.is_nan() || b.is_nan() {
            f32::NAN
        } else {
            a.max(b)
        }),
        MinimumWithNaNPropagation => Ok(if a.is_nan() || b.is_nan() {
            f32::NAN
        } else {
            a.min(b)
        }),
        Equal => Err(a == b),
        NotEqual => Err(a != b),
        LessThan => Err(a < b),
        LessThanOrEqualTo => Err(a <= b),
        GreaterThan => Err(a > b),
        GreaterThanOrEqualTo => Err(a >= b),
        LogicalAND | LogicalOR | BitwiseAND | BitwiseXOR | BitwiseRightShift => {
            return Err(sim_error(format!("{op:?} is not defined on floats")));
        }
    })
}

fn int_binary(op: MpsBinary, a: i64, b: i64, unsigned: bool) -> Result<Result<i64, bool>> {
    use MpsBinary::*;
    let (ua, ub) = (a as u64, b as u64);
    let cmp = |s: bool, u: bool| Err(if unsigned { u } else { s });
    Ok(match op {
        Addition => Ok(a.wrapping_add(b)),
        Subtraction => Ok(a.wrapping_sub(b)),
        Multiplication => Ok(a.wrapping_mul(b)),
        // Integer division by zero is undefined in MPSGraph; the simulator
        // gives 0.
        Division if b == 0 => Ok(0),
        Division if unsigned => Ok(ua.wrapping_div(ub) as i64),
        Division => Ok(a.wrapping_div(b)),
        Power => Ok(a.wrapping_pow(b.clamp(0, u32::MAX as i64) as u32)),
        Maximum | MaximumWithNaNPropagation if unsigned => Ok(ua.max(ub) as i64),
        Minimum | MinimumWithNaNPropagation if unsigned => Ok(ua.min(ub) as i64),
        Maximum | MaximumWithNaNPropagation => Ok(a.max(b)),
        Minimum | MinimumWithNaNPropagation => Ok(a.min(b)),
        Equal => Err(a == b),
        NotEqual => Err(a != b),
        LessThan => cmp(a < b, ua < ub),
        LessThanOrEqualTo => cmp(a <= b, ua <= ub),
        GreaterThan => cmp(a > b, ua > ub),
        GreaterThanOrEqualTo => cmp(a >= b, ua >= ub),
        BitwiseAND => Ok(a & b),
        BitwiseXOR => Ok(a ^ b),
        BitwiseRightShift if unsigned => Ok(ua.checked_shr(ub as u32).unwrap_or(0) as i64),
        BitwiseRightShift => Ok(a
            .checked_shr(b as u32)
            .unwrap_or(if a < 0 { -1 } else { 0 })),
        LogicalAND | LogicalOR => {
            return Err(sim_error(format!("{op:?} is not defined on integers")));
        }
    })
}

fn bool_binary(op: MpsBinary, a: bool, b: bool) -> Result<bool> {
    use MpsBinary::*;
    Ok(match op {
        LogicalAND | BitwiseAND => a && b,
        LogicalOR => a || b,
        Equal => a == b,
        NotEqual | BitwiseXOR => a != b,
        LessThan => !a & b,
        LessThanOrEqualTo => a <= b,
        GreaterThan => a & !b,
        GreaterThanOrEqualTo => a >= b,
        Maximum | MaximumWithNaNPropagation => a || b,
        Minimum | MinimumWithNaNPropagation => a && b,
        _ => return Err(sim_error(format!("{op:?} is not defined on Bool"))),
    })
}

/// Two-operand arithmetic with NumPy broadcasting into `out`'s type.
pub fn binary(op: MpsBinary, a: &Value, b: &Value, out: &MpsType) -> Result<Value> {
    let ia = broadcast_index(&a.ty.shape, &out.shape);
    let ib = broadcast_index(&b.ty.shape, &out.shape);
    let pairs = ia.iter().zip(&ib);
    let (mut nums_f, mut nums_i, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    match (&a.data, &b.data) {
        (Data::F(x), Data::F(y)) => {
            for (&i, &j) in pairs {
                match float_binary(op, x[i], y[j])? {
                    Ok(v) => nums_f.push(v),
                    Err(f) => flags.push(f),
                }
            }
        }
        (Data::I(x), Data::I(y)) => {
            let unsigned = matches!(
                a.ty.dtype,
                MpsDataType::UInt64 | MpsDataType::UInt32 | MpsDataType::UInt8
            );
            for (&i, &j) in pairs {
                match int_binary(op, x[i], y[j], unsigned)? {
                    Ok(v) => nums_i.push(v),
                    Err(f) => flags.push(f),
                }
            }
        }
        (Data::B(x), Data::B(y)) => {
            for (&i, &j) in pairs {
                flags.push(bool_binary(op, x[i], y[j])?);
            }
        }
        _ => {
            return Err(sim_error(format!(
                "{op:?} of {:?} and {:?}: MPSGraph arithmetic needs one data type",
                a.ty.dtype, b.ty.dtype
            )));
        }
    }
    let data = if out.dtype == MpsDataType::Bool {
        Data::B(flags)
    } else if out.dtype.is_float() {
        Data::F(nums_f)
    } else {
        Data::I(nums_i)
    };
    Ok(Value::normalized(out.clone(), data))
}

/// `castTensor:toType:`.
pub fn cast(x: &Value, to: MpsDataType) -> Value {
    let ty = MpsType {
        shape: x.ty.shape.clone(),
        dtype: to,
    };
    let data = match (&x.data, to) {
        (Data::B(v), MpsDataType::Bool) => Data::B(v.clone()),
        (_, MpsDataType::Bool) => Data::B(x.as_f64().iter().map(|&v| v != 0.0).collect()),
        (Data::I(v), d) if !d.is_float() => Data::I(v.clone()),
        (Data::F(v), d) if !d.is_float() => Data::I(
            v.iter()
                .map(|&e| {
                    if d == MpsDataType::UInt64 {
                        e as u64 as i64
                    } else {
                        e as i64
                    }
                })
                .collect(),
        ),
        (Data::B(v), d) if !d.is_float() => Data::I(v.iter().map(|&e| i64::from(e)).collect()),
        (_, _) => Data::F(x.as_f64().iter().map(|&e| e as f32).collect()),
    };
    Value::normalized(ty, data)
}

/// `reinterpretCastTensor:toType:` between integer types of one width.
pub fn reinterpret(x: &Value, to: MpsDataType) -> Result<Value> {
    let same_width_ints =
        x.ty.dtype.size() == to.size() && !x.ty.dtype.is_float() && !to.is_float();
    if !same_width_ints || matches!(to, MpsDataType::Bool) || x.ty.dtype == MpsDataType::Bool {
        return Err(sim_error(format!(
            "the simulator reinterprets integers of one width only, not {:?} as {to:?}",
            x.ty.dtype
        )));
    }
    let bits = match &x.data {
        Data::I(v) => v.iter().map(|&e| {
            // The stored value's bit pattern at this width, read unsigned.
            let mask = if to.size() == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * to.size())) - 1
            };
            ((e as u64) & mask) as i64
        }),
        _ => unreachable!("integer types hold integer data"),
    };
    let ty = MpsType {
        shape: x.ty.shape.clone(),
        dtype: to,
    };
    Ok(Value::normalized(ty, Data::I(bits.collect())))
}

/// `selectWithPredicateTensor:truePredicateTensor:falsePredicateTensor:`,
/// broadcasting all three.
pub fn select(p: &Value, t: &Value, f: &Value, out: &MpsType) -> Result<Value> {
    let Data::B(flags) = &p.data else {
        return Err(sim_error("select needs a Bool predicate"));
    };
    let (ip, it, iff) = (
        broadcast_index(&p.ty.shape, &out.shape),
        broadcast_index(&t.ty.shape, &out.shape),
        broadcast_index(&f.ty.shape, &out.shape),
    );
    let pick = |k: usize| if flags[ip[k]] { it[k] } else { usize::MAX };
    let n = out.numel();
    let data = match (&t.data, &f.data) {
        (Data::F(a), Data::F(b)) => Data::F(
            (0..n)
                .map(|k| match pick(k) {
                    usize::MAX => b[iff[k]],
                    i => a[i],
                })
                .collect(),
        ),
        (Data::I(a), Data::I(b)) => Data::I(
            (0..n)
                .map(|k| match pick(k) {
                    usize::MAX => b[iff[k]],
                    i => a[i],
                })
                .collect(),
        ),
        (Data::B(a), Data::B(b)) => Data::B(
            (0..n)
                .map(|k| match pick(k) {
                    usize::MAX => b[iff[k]],
                    i => a[i],
                })
                .collect(),
        ),
        _ => {
            return Err(sim_error(
                "select needs true and false tensors of one data type",
            ));
        }
    };
    Ok(Value::new(out.clone(), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(shape: &[usize], dtype: MpsDataType) -> MpsType {
        MpsType {
            shape: shape.to_vec(),
            dtype,
        }
    }

    #[test]
    fn unsigned_words_shift_and_multiply_like_hardware() {
        let x = Value::new(ty(&[1], MpsDataType::UInt64), Data::I(vec![-1]));
        let s = Value::new(ty(&[], MpsDataType::UInt64), Data::I(vec![32]));
        let hi = binary(
            MpsBinary::BitwiseRightShift,
            &x,
            &s,
            &ty(&[1], MpsDataType::UInt64),
        )
        .unwrap();
        assert_eq!(hi.data, Data::I(vec![u32::MAX as i64]));
        let w = Value::new(
            ty(&[1], MpsDataType::UInt32),
            Data::I(vec![u32::MAX as i64]),
        );
        let one = Value::new(ty(&[], MpsDataType::UInt32), Data::I(vec![1]));
        let sum = binary(
            MpsBinary::Addition,
            &w,
            &one,
            &ty(&[1], MpsDataType::UInt32),
        )
        .unwrap();
        assert_eq!(sum.data, Data::I(vec![0]), "UInt32 addition wraps");
    }

    #[test]
    fn nan_propagation_differs_from_plain_maximum() {
        let a = Value::new(ty(&[1], MpsDataType::Float32), Data::F(vec![f32::NAN]));
        let b = Value::new(ty(&[1], MpsDataType::Float32), Data::F(vec![1.0]));
        let out = ty(&[1], MpsDataType::Float32);
        let plain = binary(MpsBinary::Maximum, &a, &b, &out).unwrap();
        let nan = binary(MpsBinary::MaximumWithNaNPropagation, &a, &b, &out).unwrap();
        assert_eq!(plain.data, Data::F(vec![1.0]));
        assert!(nan.floats("t").unwrap()[0].is_nan());
    }

    #[test]
    fn casts_truncate_and_test_nonzero() {
        let x = Value::new(
            ty(&[3], MpsDataType::Float32),
            Data::F(vec![-1.7, 0.0, 2.9]),
        );
        assert_eq!(cast(&x, MpsDataType::Int32).data, Data::I(vec![-1, 0, 2]));
        assert_eq!(
            cast(&x, MpsDataType::Bool).data,
            Data::B(vec![true, false, true])
        );
        let i = Value::new(ty(&[1], MpsDataType::Int64), Data::I(vec![-2]));
        assert_eq!(
            reinterpret(&i, MpsDataType::UInt64).unwrap().data,
            Data::I(vec![-2])
        );
    }
}
