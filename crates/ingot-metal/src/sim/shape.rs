//! Shape and indexing calls (`MPSGraphTensorShapeOps`, `MPSGraphGatherOps`,
//! `MPSGraphScatterOps`): each computes, for every result element, which
//! source element it copies.
//!
//! - `transposeTensor:permutation:`: `result.shape[i] = source.shape[permutation[i]]`
//!   (<https://developer.apple.com/documentation/metalperformanceshadersgraph/mpsgraph/transpose(_:permutation:name:)>);
//! - `sliceTensor:starts:ends:strides:`: per axis `start, start + stride, ...`
//!   below `end`;
//! - `padTensor:...` with `MPSGraphPaddingModeConstant`: `constantValue`
//!   outside the source;
//! - `gatherAlongAxis:` / `scatterAlongAxis:` index one axis with a tensor of
//!   the result's (updates') shape, like `torch.gather` / `scatter_add`.

use ingot_core::Result;

use super::value::{Data, Value, broadcast_index, sim_error, strides};
use crate::program::MpsType;

/// The elements of `data` at `index` (`None`: `fill`).
fn pick(data: &Data, index: &[Option<usize>], fill: f64) -> Data {
    match data {
        Data::F(v) => Data::F(
            index
                .iter()
                .map(|i| i.map_or(fill as f32, |i| v[i]))
                .collect(),
        ),
        Data::I(v) => Data::I(
            index
                .iter()
                .map(|i| i.map_or(fill as i64, |i| v[i]))
                .collect(),
        ),
        Data::B(v) => Data::B(
            index
                .iter()
                .map(|i| i.map_or(fill != 0.0, |i| v[i]))
                .collect(),
        ),
    }
}

fn pick_all(data: &Data, index: &[usize]) -> Data {
    pick(
        data,
        &index.iter().map(|&i| Some(i)).collect::<Vec<_>>(),
        0.0,
    )
}

/// Calls `f` with every coordinate of `shape` in row-major order.
fn for_each_coord(shape: &[usize], mut f: impl FnMut(&[usize])) {
    let n: usize = shape.iter().product();
    let mut coord = vec![0usize; shape.len()];
    for _ in 0..n {
        f(&coord);
        for d in (0..shape.len()).rev() {
            coord[d] += 1;
            if coord[d] < shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
}

/// `reshapeTensor:withShape:` (row-major: the elements stay in order).
pub fn reshape(x: &Value, out: &MpsType) -> Result<Value> {
    if x.ty.numel() != out.numel() {
        return Err(sim_error(format!(
            "cannot reshape {:?} to {:?}",
            x.ty.shape, out.shape
        )));
    }
    Ok(Value::new(out.clone(), x.data.clone()))
}

/// `transposeTensor:permutation:`.
pub fn transpose(x: &Value, permutation: &[usize], out: &MpsType) -> Value {
    let s = strides(&x.ty.shape);
    let mut index = Vec::with_capacity(out.numel());
    for_each_coord(&out.shape, |c| {
        index.push(c.iter().zip(permutation).map(|(&ci, &p)| ci * s[p]).sum());
    });
    Value::new(out.clone(), pick_all(&x.data, &index))
}

/// `broadcastTensor:toShape:`.
pub fn broadcast(x: &Value, out: &MpsType) -> Value {
    Value::new(
        out.clone(),
        pick_all(&x.data, &broadcast_index(&x.ty.shape, &out.shape)),
    )
}

/// `sliceTensor:starts:ends:strides:`.
pub fn slice(x: &Value, starts: &[usize], step: &[usize], out: &MpsType) -> Value {
    let s = strides(&x.ty.shape);
    let mut index = Vec::with_capacity(out.numel());
    for_each_coord(&out.shape, |c| {
        index.push(
            (0..c.len())
                .map(|d| (starts[d] + c[d] * step[d]) * s[d])
                .sum(),
        );
    });
    Value::new(out.clone(), pick_all(&x.data, &index))
}

/// `padTensor:withPaddingMode:leftPadding:rightPadding:constantValue:`.
pub fn pad(x: &Value, left: &[usize], constant: f64, out: &MpsType) -> Value {
    let s = strides(&x.ty.shape);
    let mut index = Vec::with_capacity(out.numel());
    for_each_coord(&out.shape, |c| {
        let mut flat = Some(0);
        for d in 0..c.len() {
            match c[d].checked_sub(left[d]).filter(|&i| i < x.ty.shape[d]) {
                Some(i) => flat = flat.map(|f| f + i * s[d]),
                None => flat = None,
            }
        }
        index.push(flat);
    });
    Value::normalized(out.clone(), pick(&x.data, &index, constant))
}

/// `concatTensors:dimension:`.
pub fn concat(parts: &[&Value], dimension: usize, out: &MpsType) -> Result<Value> {
    let outer: usize = out.shape[..dimension].iter().product();
    let inner: usize = out.shape[dimension + 1..].iter().product();
    let mut data = parts
        .first()
        .map(|p| pick_all(&p.data, &[]))
        .ok_or_else(|| sim_error("concatTensors needs at least one tensor"))?;
    for o in 0..outer {
        for p in parts {
            let chunk = p.ty.shape[dimension] * inner;
            let index: Vec<usize> = (o * chunk..(o + 1) * chunk).collect();
            append(&mut data, pick_all(&p.data, &index))?;
        }
    }
    Ok(Value::new(out.clone(), data))
}

fn append(to: &mut Data, more: Data) -> Result<()> {
    match (to, more) {
        (Data::F(a), Data::F(b)) => a.extend(b),
        (Data::I(a), Data::I(b)) => a.extend(b),
        (Data::B(a), Data::B(b)) => a.extend(b),
        _ => return Err(sim_error("concatTensors needs tensors of one data type")),
    }
    Ok(())
}

/// The flat source index for each element of `index_shape`, replacing the
/// coordinate along `axis` by the index tensor's value.
fn along_axis(
    source_shape: &[usize],
    indices: &Value,
    axis: usize,
    op: &str,
) -> Result<Vec<usize>> {
    let idx = indices.ints(op)?;
    let s = strides(source_shape);
    let mut out = Vec::with_capacity(idx.len());
    let mut bad = None;
    let mut k = 0;
    for_each_coord(&indices.ty.shape, |c| {
        let i = idx[k];
        k += 1;
        if i < 0 || i as usize >= source_shape[axis] {
            bad.get_or_insert(i);
            out.push(0);
            return;
        }
        out.push(
            (0..c.len())
                .map(|d| if d == axis { i as usize } else { c[d] } * s[d])
                .sum(),
        );
    });
    match bad {
        Some(i) => Err(sim_error(format!(
            "{op}: index {i} is out of range for axis {axis} of size {}",
            source_shape[axis]
        ))),
        None => Ok(out),
    }
}

/// `gatherAlongAxis:withUpdatesTensor:indicesTensor:`.
pub fn gather_along_axis(
    axis: usize,
    updates: &Value,
    indices: &Value,
    out: &MpsType,
) -> Result<Value> {
    let index = along_axis(&updates.ty.shape, indices, axis, "gatherAlongAxis")?;
    Ok(Value::new(out.clone(), pick_all(&updates.data, &index)))
}

/// `scatterAlongAxis:withDataTensor:updatesTensor:indicesTensor:mode:` with
/// `MPSGraphScatterModeAdd`.
pub fn scatter_along_axis_add(
    axis: usize,
    data: &Value,
    updates: &Value,
    indices: &Value,
) -> Result<Value> {
    let target = along_axis(&data.ty.shape, indices, axis, "scatterAlongAxis")?;
    let mut result = data.data.clone();
    match (&mut result, &updates.data) {
        (Data::F(out), Data::F(src)) => target.iter().zip(src).for_each(|(&t, &v)| out[t] += v),
        (Data::I(out), Data::I(src)) => target
            .iter()
            .zip(src)
            .for_each(|(&t, &v)| out[t] = out[t].wrapping_add(v)),
        _ => return Err(sim_error("scatterAlongAxis adds numbers of one data type")),
    }
    Ok(Value::normalized(data.ty.clone(), result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::MpsDataType;

    #[test]
    fn transpose_slice_pad_and_concat_move_the_right_elements() {
        let x = Value::f32s(&[2, 3], vec![0., 1., 2., 3., 4., 5.]);
        let t = transpose(&x, &[1, 0], &Value::f32s(&[3, 2], vec![]).ty);
        assert_eq!(t.data, Data::F(vec![0., 3., 1., 4., 2., 5.]));
        let s = slice(&x, &[0, 1], &[1, 2], &Value::f32s(&[2, 1], vec![]).ty);
        assert_eq!(s.data, Data::F(vec![1., 4.]));
        let p = pad(
            &Value::f32s(&[2], vec![1., 2.]),
            &[1],
            9.0,
            &Value::f32s(&[4], vec![]).ty,
        );
        assert_eq!(p.data, Data::F(vec![9., 1., 2., 9.]));
        let c = concat(
            &[&x, &Value::f32s(&[2, 1], vec![7., 8.])],
            1,
            &Value::f32s(&[2, 4], vec![]).ty,
        )
        .unwrap();
        assert_eq!(c.data, Data::F(vec![0., 1., 2., 7., 3., 4., 5., 8.]));
    }

    #[test]
    fn gather_and_scatter_along_an_axis() {
        let x = Value::f32s(&[2, 3], vec![0., 1., 2., 3., 4., 5.]);
        let ty = MpsType {
            shape: vec![2, 1],
            dtype: MpsDataType::Int64,
        };
        let idx = Value::new(ty, Data::I(vec![2, 0]));
        let g = gather_along_axis(1, &x, &idx, &Value::f32s(&[2, 1], vec![]).ty).unwrap();
        assert_eq!(g.data, Data::F(vec![2., 3.]));
        let s = scatter_along_axis_add(1, &x, &Value::f32s(&[2, 1], vec![10., 20.]), &idx).unwrap();
        assert_eq!(s.data, Data::F(vec![0., 1., 12., 23., 4., 5.]));
        let bad = Value::new(idx.ty.clone(), Data::I(vec![3, 0]));
        assert!(gather_along_axis(1, &x, &bad, &g.ty).is_err());
    }
}
