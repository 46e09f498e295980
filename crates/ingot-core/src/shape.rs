//! Shape arithmetic shared by the front end and the backends: dimension
//! normalization, broadcasting and row-major strides.

use crate::{Error, Result};

/// Number of elements of a shape (1 for a scalar).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Number of elements of a shape, or `None` when the product overflows.
///
/// ```
/// use ingot::shape::checked_numel;
/// assert_eq!(checked_numel(&[2, 3]), Some(6));
/// assert_eq!(checked_numel(&[1 << 62, 8]), None);
/// ```
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Checks that a tensor of `shape` and `dtype` can exist: the product of
/// its dimensions (zeros counted as ones, so that no part of the shape
/// overflows either) times the element size fits in `isize::MAX` bytes,
/// the most one allocation may hold. Returns the number of elements.
///
/// ```
/// use ingot::{DType, shape::check_size};
/// assert_eq!(check_size("zeros", &[2, 3], DType::F32)?, 6);
/// assert_eq!(check_size("zeros", &[0, usize::MAX], DType::F32).unwrap_err().to_string(),
///     format!("zeros: shape [0, {}] of float32 is too large: its size overflows", usize::MAX));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn check_size(op: &'static str, shape: &[usize], dtype: crate::DType) -> Result<usize> {
    let fits = shape
        .iter()
        .try_fold(dtype.size_in_bytes(), |n, &d| n.checked_mul(d.max(1)))
        .is_some_and(|bytes| bytes <= isize::MAX as usize);
    if !fits {
        return Err(Error::shape(
            op,
            format!("shape {shape:?} of {dtype} is too large: its size overflows"),
        ));
    }
    Ok(numel(shape))
}

/// Row-major (C-contiguous) strides of a shape, in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Turns a possibly negative dimension into an index below `rank`.
pub fn normalize_dim(op: &'static str, dim: isize, rank: usize) -> Result<usize> {
    // A scalar accepts dims 0 and -1, as in PyTorch.
    let r = rank.max(1) as isize;
    let d = if dim < 0 { dim + r } else { dim };
    if d < 0 || d >= r {
        return Err(Error::DimOutOfRange { op, dim, rank });
    }
    Ok(d as usize)
}

/// Normalizes a list of dimensions, rejecting repeats; returns them sorted.
pub fn normalize_dims(op: &'static str, dims: &[isize], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        let n = normalize_dim(op, d, rank)?;
        if out.contains(&n) {
            return Err(Error::invalid(
                op,
                format!("dimension {d} appears more than once"),
            ));
        }
        out.push(n);
    }
    out.sort_unstable();
    if rank == 0 {
        out.clear();
    }
    Ok(out)
}

/// The NumPy/PyTorch broadcast of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::shape(
                    op,
                    format!(
                        "shapes {a:?} and {b:?} cannot be broadcast (dimension {i}: {da} vs {db})"
                    ),
                ));
            }
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_are_row_major() {
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
        assert_eq!(contiguous_strides(&[]), Vec::<usize>::new());
    }

    #[test]
    fn dims_normalize_and_reject_repeats() {
        assert_eq!(normalize_dim("t", -1, 3).unwrap(), 2);
        assert!(normalize_dim("t", 3, 3).is_err());
        assert!(normalize_dims("t", &[0, -3], 3).is_err());
        assert_eq!(normalize_dims("t", &[-1, 0], 3).unwrap(), vec![0, 2]);
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes("t", &[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes("t", &[], &[2, 2]).unwrap(), vec![2, 2]);
        assert!(broadcast_shapes("t", &[3], &[4]).is_err());
    }
}
