//! The simulator's tensors: values held as `f32` (every float type, rounded
//! to its own precision after each call), `i64` (every integer type, wrapped
//! to its width; `UInt64` keeps its bits) or `bool`, and their conversion
//! to and from the bytes of an `MTLBuffer`.

use half::{bf16, f16};
use ingot_core::{Error, Result};

use crate::program::{MpsDataType, MpsType};

/// Element storage by family.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F(Vec<f32>),
    I(Vec<i64>),
    B(Vec<bool>),
}

/// A tensor of the simulated graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub ty: MpsType,
    pub data: Data,
}

pub(crate) fn sim_error(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "metal-sim".into(),
        msg: msg.into(),
    }
}

/// `v` rounded to what `dtype` can hold.
pub(crate) fn round_float(v: f32, dtype: MpsDataType) -> f32 {
    match dtype {
        MpsDataType::Float16 => f16::from_f32(v).to_f32(),
        MpsDataType::BFloat16 => bf16::from_f32(v).to_f32(),
        _ => v,
    }
}

/// `v` wrapped to the width of integer `dtype` (two's complement).
pub(crate) fn wrap_int(v: i64, dtype: MpsDataType) -> i64 {
    match dtype {
        MpsDataType::Int32 => v as i32 as i64,
        MpsDataType::UInt32 => v as u32 as i64,
        MpsDataType::UInt8 => v as u8 as i64,
        _ => v,
    }
}

impl Value {
    /// A value of type `ty` from data already in range.
    pub fn new(ty: MpsType, data: Data) -> Value {
        Value { ty, data }
    }

    /// Float data rounded to `ty`'s precision, integers wrapped to its width.
    pub fn normalized(ty: MpsType, data: Data) -> Value {
        let data = match data {
            Data::F(v) if ty.dtype.is_float() => {
                Data::F(v.into_iter().map(|x| round_float(x, ty.dtype)).collect())
            }
            Data::I(v) => Data::I(v.into_iter().map(|x| wrap_int(x, ty.dtype)).collect()),
            other => other,
        };
        Value { ty, data }
    }

    /// Number of elements held.
    pub fn numel(&self) -> usize {
        match &self.data {
            Data::F(v) => v.len(),
            Data::I(v) => v.len(),
            Data::B(v) => v.len(),
        }
    }

    /// The float elements, or an error naming `op`.
    pub fn floats(&self, op: &str) -> Result<&[f32]> {
        match &self.data {
            Data::F(v) => Ok(v),
            _ => Err(sim_error(format!(
                "{op} needs a float tensor, got {:?}",
                self.ty.dtype
            ))),
        }
    }

    /// The integer elements, or an error naming `op`.
    pub fn ints(&self, op: &str) -> Result<&[i64]> {
        match &self.data {
            Data::I(v) => Ok(v),
            _ => Err(sim_error(format!(
                "{op} needs an integer tensor, got {:?}",
                self.ty.dtype
            ))),
        }
    }

    /// The elements as `f64` (bools as 0/1, `UInt64` unsigned).
    pub fn as_f64(&self) -> Vec<f64> {
        match &self.data {
            Data::F(v) => v.iter().map(|&x| x as f64).collect(),
            Data::I(v) if self.ty.dtype == MpsDataType::UInt64 => {
                v.iter().map(|&x| x as u64 as f64).collect()
            }
            Data::I(v) => v.iter().map(|&x| x as f64).collect(),
            Data::B(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// Reads a buffer's bytes as a tensor of type `ty` (little-endian).
    pub fn from_bytes(ty: &MpsType, bytes: &[u8]) -> Result<Value> {
        let n = ty.numel();
        let size = ty.dtype.size();
        if bytes.len() < n * size {
            return Err(sim_error(format!(
                "a buffer of {} bytes cannot hold {:?} {:?}",
                bytes.len(),
                ty.shape,
                ty.dtype
            )));
        }
        let words = bytes[..n * size].chunks_exact(size);
        let data = match ty.dtype {
            MpsDataType::Float32 => Data::F(
                words
                    .map(|w| f32::from_le_bytes(w.try_into().unwrap()))
                    .collect(),
            ),
            MpsDataType::Float16 => Data::F(
                words
                    .map(|w| f16::from_le_bytes(w.try_into().unwrap()).to_f32())
                    .collect(),
            ),
            MpsDataType::BFloat16 => Data::F(
                words
                    .map(|w| bf16::from_le_bytes(w.try_into().unwrap()).to_f32())
                    .collect(),
            ),
            MpsDataType::Int64 | MpsDataType::UInt64 => Data::I(
                words
                    .map(|w| i64::from_le_bytes(w.try_into().unwrap()))
                    .collect(),
            ),
            MpsDataType::Int32 => Data::I(
                words
                    .map(|w| i32::from_le_bytes(w.try_into().unwrap()) as i64)
                    .collect(),
            ),
            MpsDataType::UInt32 => Data::I(
                words
                    .map(|w| u32::from_le_bytes(w.try_into().unwrap()) as i64)
                    .collect(),
            ),
            MpsDataType::UInt8 => Data::I(bytes[..n].iter().map(|&b| b as i64).collect()),
            MpsDataType::Bool => Data::B(bytes[..n].iter().map(|&b| b != 0).collect()),
        };
        Ok(Value::new(ty.clone(), data))
    }

    /// Writes the tensor into a buffer's bytes (little-endian).
    pub fn write_bytes(&self, out: &mut [u8]) -> Result<()> {
        let size = self.ty.dtype.size();
        if out.len() < self.numel() * size {
            return Err(sim_error(format!(
                "a buffer of {} bytes cannot take {:?} {:?}",
                out.len(),
                self.ty.shape,
                self.ty.dtype
            )));
        }
        let slots = out.chunks_exact_mut(size);
        match (&self.data, self.ty.dtype) {
            (Data::F(v), MpsDataType::Float32) => slots
                .zip(v)
                .for_each(|(s, x)| s.copy_from_slice(&x.to_le_bytes())),
            (Data::F(v), MpsDataType::Float16) => slots
                .zip(v)
                .for_each(|(s, x)| s.copy_from_slice(&f16::from_f32(*x).to_le_bytes())),
            (Data::F(v), MpsDataType::BFloat16) => slots
                .zip(v)
                .for_each(|(s, x)| s.copy_from_slice(&bf16::from_f32(*x).to_le_bytes())),
            (Data::I(v), MpsDataType::Int64 | MpsDataType::UInt64) => slots
                .zip(v)
                .for_each(|(s, x)| s.copy_from_slice(&x.to_le_bytes())),
            (Data::I(v), MpsDataType::Int32) => slots
                .zip(v)
                .for_each(|(s, x)| s.copy_from_slice(&(*x as i32).to_le_bytes())),
            (Data::I(v), MpsDataType::UInt32) => slots
                .zip(v)
                .for_each(|(s, x)| s.copy_from_slice(&(*x as u32).to_le_bytes())),
            (Data::I(v), MpsDataType::UInt8) => slots.zip(v).for_each(|(s, x)| s[0] = *x as u8),
            (Data::B(v), MpsDataType::Bool) => slots.zip(v).for_each(|(s, x)| s[0] = u8::from(*x)),
            (_, dtype) => {
                return Err(sim_error(format!("storage does not match {dtype:?}")));
            }
        }
        Ok(())
    }
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// For each element of `out_shape`, the flat index of the element of
/// `in_shape` it reads under NumPy broadcasting (`in_shape` right-aligned).
pub(crate) fn broadcast_index(in_shape: &[usize], out_shape: &[usize]) -> Vec<usize> {
    let rank = out_shape.len();
    let offset = rank - in_shape.len();
    let in_strides = strides(in_shape);
    let n: usize = out_shape.iter().product();
    let mut index = Vec::with_capacity(n);
    let mut coord = vec![0usize; rank];
    for _ in 0..n {
        let mut flat = 0;
        for d in offset..rank {
            if in_shape[d - offset] != 1 {
                flat += coord[d] * in_strides[d - offset];
            }
        }
        index.push(flat);
        for d in (0..rank).rev() {
            coord[d] += 1;
            if coord[d] < out_shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    index
}

#[cfg(test)]
impl Value {
    /// A Float32 value of `shape` holding `v`, for the simulator's tests.
    pub fn f32s(shape: &[usize], v: Vec<f32>) -> Value {
        Value::new(
            MpsType {
                shape: shape.to_vec(),
                dtype: MpsDataType::Float32,
            },
            Data::F(v),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_every_type() {
        let cases = [
            (MpsDataType::Float32, Data::F(vec![1.5, -2.25])),
            (MpsDataType::Float16, Data::F(vec![0.5, 65504.0])),
            (MpsDataType::BFloat16, Data::F(vec![1.0, -3.0])),
            (MpsDataType::Int64, Data::I(vec![-1, i64::MAX])),
            (MpsDataType::UInt64, Data::I(vec![-1, 7])),
            (MpsDataType::Int32, Data::I(vec![-5, 5])),
            (MpsDataType::UInt32, Data::I(vec![u32::MAX as i64, 0])),
            (MpsDataType::UInt8, Data::I(vec![255, 1])),
            (MpsDataType::Bool, Data::B(vec![true, false])),
        ];
        for (dtype, data) in cases {
            let v = Value::new(
                MpsType {
                    shape: vec![2],
                    dtype,
                },
                data,
            );
            let mut bytes = vec![0u8; 2 * dtype.size()];
            v.write_bytes(&mut bytes).unwrap();
            assert_eq!(Value::from_bytes(&v.ty, &bytes).unwrap(), v, "{dtype:?}");
        }
    }

    #[test]
    fn broadcasting_reads_the_right_elements() {
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 3]), vec![0, 0, 0, 1, 1, 1]);
        assert_eq!(broadcast_index(&[], &[2]), vec![0, 0]);
    }

    #[test]
    fn narrow_types_round_and_wrap() {
        assert_eq!(round_float(1.0 + 1e-4, MpsDataType::Float16), 1.0);
        assert_eq!(wrap_int(-1, MpsDataType::UInt32), u32::MAX as i64);
        assert_eq!(wrap_int(300, MpsDataType::UInt8), 44);
    }
}
