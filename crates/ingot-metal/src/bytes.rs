//! Host data to and from the bytes of a shared-storage `MTLBuffer`
//! (little-endian elements; `Bool` as one byte 0 or 1).

use half::{bf16, f16};
use ingot_core::{DType, Error, HostData, Result};

fn no_f64() -> Error {
    Error::Backend {
        backend: "metal".into(),
        msg: "F64 tensors cannot live on a Metal device: Metal GPUs have no double precision; \
              use .to_dtype(DType::F32) first"
            .into(),
    }
}

/// The bytes of `data` as the GPU stores them.
pub fn to_bytes(data: &HostData) -> Result<Vec<u8>> {
    Ok(match data {
        HostData::F64(_) => return Err(no_f64()),
        HostData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::BF16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::U8(v) => v.clone(),
        HostData::Bool(v) => v.iter().map(|&b| u8::from(b)).collect(),
    })
}

/// `n` elements of `dtype` read from `bytes`.
pub fn from_bytes(bytes: &[u8], dtype: DType, n: usize) -> Result<HostData> {
    let size = dtype.size_in_bytes();
    if bytes.len() < n * size {
        return Err(Error::Backend {
            backend: "metal".into(),
            msg: format!("a buffer of {} bytes cannot hold {n} {dtype}", bytes.len()),
        });
    }
    let words = bytes[..n * size].chunks_exact(size);
    Ok(match dtype {
        DType::F64 => return Err(no_f64()),
        DType::F32 => HostData::F32(
            words
                .map(|w| f32::from_le_bytes(w.try_into().unwrap()))
                .collect(),
        ),
        DType::F16 => HostData::F16(
            words
                .map(|w| f16::from_le_bytes(w.try_into().unwrap()))
                .collect(),
        ),
        DType::BF16 => HostData::BF16(
            words
                .map(|w| bf16::from_le_bytes(w.try_into().unwrap()))
                .collect(),
        ),
        DType::I64 => HostData::I64(
            words
                .map(|w| i64::from_le_bytes(w.try_into().unwrap()))
                .collect(),
        ),
        DType::I32 => HostData::I32(
            words
                .map(|w| i32::from_le_bytes(w.try_into().unwrap()))
                .collect(),
        ),
        DType::U8 => HostData::U8(bytes[..n].to_vec()),
        DType::Bool => HostData::Bool(bytes[..n].iter().map(|&b| b != 0).collect()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dtype_round_trips_and_f64_is_refused() {
        let cases = [
            HostData::F32(vec![1.5, -0.0]),
            HostData::F16(vec![f16::from_f32(0.5)]),
            HostData::BF16(vec![bf16::from_f32(-2.0)]),
            HostData::I64(vec![i64::MIN, 3]),
            HostData::I32(vec![-7]),
            HostData::U8(vec![0, 255]),
            HostData::Bool(vec![true, false, true]),
        ];
        for data in cases {
            let bytes = to_bytes(&data).unwrap();
            assert_eq!(from_bytes(&bytes, data.dtype(), data.len()).unwrap(), data);
        }
        let err = to_bytes(&HostData::F64(vec![1.0])).unwrap_err().to_string();
        assert!(err.contains("no double precision"), "{err}");
    }
}
