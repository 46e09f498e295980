//! Indexing and layout kernels: gather, scatter-add, concat and pad.

use half::{bf16, f16};

use super::super::exec::{PARALLEL_MIN, split_for_threads};
use super::super::fused::{Arg, gather as read_view};
use super::super::parallel;
use super::super::view::View;
use crate::ir::TensorType;
use crate::shape::contiguous_strides;
use crate::{Element, Error, HostData, Result};

/// Runs `$body` with `$s` and `$d` bound to the vectors of two [`HostData`]
/// of the same variant.
macro_rules! same_type {
    ($src:expr, $dst:expr, |$s:ident, $d:ident| $body:expr) => {
        match ($src, $dst) {
            (HostData::F64($s), HostData::F64($d)) => $body,
            (HostData::F32($s), HostData::F32($d)) => $body,
            (HostData::F16($s), HostData::F16($d)) => $body,
            (HostData::BF16($s), HostData::BF16($d)) => $body,
            (HostData::I64($s), HostData::I64($d)) => $body,
            (HostData::I32($s), HostData::I32($d)) => $body,
            (HostData::U8($s), HostData::U8($d)) => $body,
            (HostData::Bool($s), HostData::Bool($d)) => $body,
            (s, d) => unreachable!("{:?} data into a {:?} output", s.dtype(), d.dtype()),
        }
    };
}

fn index_values<'a>((data, _): Arg<'a>) -> Result<&'a [i64]> {
    match data {
        HostData::I64(v) => Ok(v),
        other => Err(Error::dtype(
            "gather",
            format!("index must be int64, got {}", other.dtype()),
        )),
    }
}

/// Checks every index of `view` lies in `0..size`. Each stored index is
/// read once: axes the view expands (stride 0) are not walked.
fn check_indices(
    op: &'static str,
    idx: &[i64],
    view: &View,
    axis: usize,
    size: usize,
) -> Result<()> {
    let stored = View {
        shape: (view.shape.iter().zip(&view.strides))
            .map(|(&n, &s)| if s == 0 { n.min(1) } else { n })
            .collect(),
        ..view.clone()
    };
    let mut bad = None;
    stored.for_each_run(0, stored.numel(), |off, stride, len, _| {
        if bad.is_some() {
            return;
        }
        for k in 0..len {
            let v = idx[off + k * stride];
            if v < 0 || v as usize >= size {
                bad = Some(v);
                return;
            }
        }
    });
    match bad {
        Some(index) => Err(Error::IndexOutOfBounds {
            op,
            index,
            dim: axis,
            size,
        }),
        None => Ok(()),
    }
}

/// Odometer over a shape that tracks an offset with its own strides.
struct Walker<'a> {
    shape: &'a [usize],
    strides: Vec<usize>,
    idx: Vec<usize>,
    offset: usize,
}

impl<'a> Walker<'a> {
    /// Starts at logical index `start` of `shape`.
    fn new(shape: &'a [usize], strides: Vec<usize>, start: usize) -> Self {
        let mut idx = vec![0; shape.len()];
        let mut rem = start;
        for a in (0..shape.len()).rev() {
            idx[a] = rem % shape[a].max(1);
            rem /= shape[a].max(1);
        }
        let offset = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
        Walker {
            shape,
            strides,
            idx,
            offset,
        }
    }

    fn advance(&mut self) {
        for a in (0..self.shape.len()).rev() {
            self.idx[a] += 1;
            self.offset += self.strides[a];
            if self.idx[a] < self.shape[a] {
                return;
            }
            self.offset -= self.idx[a] * self.strides[a];
            self.idx[a] = 0;
        }
    }
}

/// The last axis, when each row along it takes one index value: the
/// gathered axis is another, and the index does not change along the last
/// (an `index_select`, whose index is expanded over the other axes). Such
/// rows are copied whole, rather than element by element.
fn shared_index_rows(axis: usize, index: &View) -> Option<usize> {
    let last = index.shape.len().checked_sub(1)?;
    (axis != last && index.strides[last] == 0 && index.shape[last] > 1).then_some(last)
}

/// `out[i] = x[i with axis replaced by index[i]]` (torch.gather); an index
/// out of range is reported as `op`'s.
pub(crate) fn gather(
    op: &'static str,
    axis: usize,
    x: Arg<'_>,
    index: Arg<'_>,
    out: &mut HostData,
) -> Result<()> {
    let (xd, xv) = x;
    let iv = index.1;
    let idx = index_values(index)?;
    check_indices(op, idx, iv, axis, xv.shape[axis])?;
    // The walker's strides skip the gathered axis; the index supplies it.
    let mut strides = xv.strides.clone();
    strides[axis] = 0;
    let axis_stride = xv.strides[axis];
    let out_shape = iv.shape.clone();
    if let Some(last) = shared_index_rows(axis, iv) {
        let row = out_shape[last];
        let x_step = xv.strides[last];
        // A walker over the rows: the shape and strides less the last axis.
        let rows_shape = &out_shape[..last];
        same_type!(xd, out, |src, dst| split_for_threads(
            dst,
            row,
            |start, chunk| {
                let mut walk = Walker::new(rows_shape, strides[..last].to_vec(), start / row);
                for (r, values) in chunk.chunks_mut(row).enumerate() {
                    let i = idx[iv.offset_of(start + r * row)] as usize;
                    let at = xv.offset + walk.offset + i * axis_stride;
                    if x_step == 1 {
                        values.copy_from_slice(&src[at..at + row]);
                    } else {
                        for (k, d) in values.iter_mut().enumerate() {
                            *d = src[at + k * x_step];
                        }
                    }
                    walk.advance();
                }
            }
        ));
        return Ok(());
    }
    // Row by row along the last axis: walkers over the other axes find where
    // each row of `x` and of the index starts; along the row both step by
    // their last strides.
    let Some(last) = out_shape.len().checked_sub(1) else {
        return Err(Error::Backend {
            backend: "cpu".into(),
            msg: "gather of a 0-d tensor".into(),
        });
    };
    let row = out_shape[last];
    let (x_step, i_step) = (strides[last], iv.strides[last]);
    let lead = &out_shape[..last];
    same_type!(xd, out, |src, dst| split_for_threads(
        dst,
        row.max(1),
        |start, chunk| {
            let first = start / row.max(1);
            let mut walk = Walker::new(lead, strides[..last].to_vec(), first);
            let mut walk_index = Walker::new(lead, iv.strides[..last].to_vec(), first);
            for values in chunk.chunks_mut(row.max(1)) {
                let (x0, i0) = (xv.offset + walk.offset, iv.offset + walk_index.offset);
                for (k, d) in values.iter_mut().enumerate() {
                    let i = idx[i0 + k * i_step] as usize;
                    *d = src[x0 + k * x_step + i * axis_stride];
                }
                walk.advance();
                walk_index.advance();
            }
        }
    ));
    Ok(())
}

/// Element types scatter-add can sum.
trait Addable: Copy {
    fn add(self, other: Self) -> Self;
}
macro_rules! addable {
    ($($t:ty => $f:expr),*) => {$(
        impl Addable for $t {
            fn add(self, other: Self) -> Self {
                let f: fn($t, $t) -> $t = $f;
                f(self, other)
            }
        }
    )*};
}
addable!(f64 => |a, b| a + b, f32 => |a, b| a + b, f16 => |a, b| a + b, bf16 => |a, b| a + b,
    i64 => i64::wrapping_add, i32 => i32::wrapping_add, u8 => u8::wrapping_add, bool => |a, b| a || b);

/// Where scatter-add reads and writes.
struct Scatter<'a> {
    base: &'a View,
    src: &'a View,
    index: &'a View,
    idx: &'a [i64],
    out_strides: Vec<usize>,
    axis: usize,
}

impl Scatter<'_> {
    fn run<T: Addable>(&self, b: &[T], s: &[T], o: &mut [T]) {
        read_view(b, self.base, 0, o, |v| v);
        let mut dst_strides = self.out_strides.clone();
        dst_strides[self.axis] = 0;
        let shape = &self.index.shape;
        let mut dst = Walker::new(shape, dst_strides, 0);
        let mut from = Walker::new(shape, self.src.strides.clone(), 0);
        let mut at = Walker::new(shape, self.index.strides.clone(), 0);
        for _ in 0..self.index.numel() {
            let i = self.idx[self.index.offset + at.offset] as usize;
            let t = dst.offset + i * self.out_strides[self.axis];
            o[t] = o[t].add(s[self.src.offset + from.offset]);
            dst.advance();
            from.advance();
            at.advance();
        }
    }
}

/// A copy of `base` with `src[i]` added at `i with axis replaced by index[i]`.
pub(crate) fn scatter_add(
    axis: usize,
    base: Arg<'_>,
    index: Arg<'_>,
    src: Arg<'_>,
    out: &mut HostData,
) -> Result<()> {
    let (bd, bv) = base;
    let (sd, sv) = src;
    let idx = index_values(index)?;
    check_indices("scatter_add", idx, index.1, axis, bv.shape[axis])?;
    let plan = Scatter {
        base: bv,
        src: sv,
        index: index.1,
        idx,
        out_strides: contiguous_strides(&bv.shape),
        axis,
    };
    match (bd, sd, out) {
        (HostData::F64(b), HostData::F64(s), HostData::F64(o)) => plan.run(b, s, o),
        (HostData::F32(b), HostData::F32(s), HostData::F32(o)) => plan.run(b, s, o),
        (HostData::F16(b), HostData::F16(s), HostData::F16(o)) => plan.run(b, s, o),
        (HostData::BF16(b), HostData::BF16(s), HostData::BF16(o)) => plan.run(b, s, o),
        (HostData::I64(b), HostData::I64(s), HostData::I64(o)) => plan.run(b, s, o),
        (HostData::I32(b), HostData::I32(s), HostData::I32(o)) => plan.run(b, s, o),
        (HostData::U8(b), HostData::U8(s), HostData::U8(o)) => plan.run(b, s, o),
        (HostData::Bool(b), HostData::Bool(s), HostData::Bool(o)) => plan.run(b, s, o),
        (b, s, o) => {
            return Err(Error::dtype(
                "scatter_add",
                format!(
                    "base {} and src {} into {}",
                    b.dtype(),
                    s.dtype(),
                    o.dtype()
                ),
            ));
        }
    }
    Ok(())
}

/// Places each argument's block along `axis` of the output.
pub(crate) fn concat(axis: usize, args: &[Arg<'_>], out_ty: &TensorType, out: &mut HostData) {
    let outer: usize = out_ty.shape[..axis].iter().product();
    let inner: usize = out_ty.shape[axis + 1..].iter().product();
    let total = out_ty.shape[axis];
    let mut offset = 0;
    for &(data, view) in args {
        let len = view.shape[axis];
        let block = len * inner;
        // Each outer index's block in parallel, or, with one outer index,
        // stretches of the one block.
        same_type!(data, &mut *out, |s, d| if outer == 1 {
            let dst = &mut d[offset * inner..][..block];
            split_for_threads(dst, 1, |start, part| read_view(s, view, start, part, |v| v));
        } else if outer * block >= PARALLEL_MIN {
            parallel::for_each_chunk(d, total * inner, |a, row| {
                let dst = &mut row[offset * inner..][..block];
                read_view(s, view, a * block, dst, |v| v);
            });
        } else {
            for a in 0..outer {
                let dst = &mut d[(a * total + offset) * inner..][..block];
                read_view(s, view, a * block, dst, |v| v);
            }
        });
        offset += len;
    }
}

/// Pads `arg` by `pads` (before, after) along each axis with `value`.
/// The output goes by planes of its last two axes (rows of the last, for
/// a vector), split over the threads: a plane outside the input is filled,
/// and each row of one inside gets its padding and a copy of its input row,
/// read through the input's last two strides from where its plane starts.
pub(crate) fn pad(
    pads: &[(usize, usize)],
    value: f64,
    (data, view): Arg<'_>,
    out_ty: &TensorType,
    out: &mut HostData,
) {
    // At least two axes (leading ones of length 1, unpadded), so that the
    // output is planes of `h` rows of `w`.
    let extra = 2usize.saturating_sub(out_ty.shape.len());
    let lift = |xs: &[usize], fill: usize| [fill; 2][..extra].iter().chain(xs).copied().collect();
    let shape: Vec<usize> = lift(&out_ty.shape, 1);
    let pads: Vec<(usize, usize)> = [(0, 0); 2][..extra].iter().chain(pads).copied().collect();
    let view = &View {
        shape: lift(&view.shape, 1),
        strides: lift(&view.strides, 0),
        offset: view.offset,
    };
    let rank = shape.len();
    let lead = rank - 2;
    let (h, w) = (shape[rank - 2], shape[rank - 1]);
    let (top, in_h) = (pads[rank - 2].0, view.shape[rank - 2]);
    let (left, in_w) = (pads[rank - 1].0, view.shape[rank - 1]);
    if h * w == 0 {
        return;
    }
    if view.numel() == 0 {
        same_type!(data, out, |_s, d| d.fill(Element::from_f64(value)));
        return;
    }
    let geometry = Planes {
        outer: &shape[..lead],
        outer_pads: &pads[..lead],
        in_outer: &view.shape[..lead],
        rows: (top, in_h, h),
        cols: (left, in_w, w),
    };
    fn fill_planes<T: Element>(s: &[T], d: &mut [T], value: f64, view: &View, g: &Planes<'_>) {
        let value = T::from_f64(value);
        let (top, in_h, _) = g.rows;
        let (left, in_w, w) = g.cols;
        let rank = view.shape.len();
        let (row_stride, col_stride) = (view.strides[rank - 2], view.strides[rank - 1]);
        split_for_threads(d, g.plane_len(), |start, chunk| {
            for (k, out_plane) in chunk.chunks_mut(g.plane_len()).enumerate() {
                let Some(in_plane) = g.input_plane(start / g.plane_len() + k) else {
                    out_plane.fill(value);
                    continue;
                };
                let base = view.offset_of(in_plane * in_h * in_w);
                for (y, row) in out_plane.chunks_mut(w).enumerate() {
                    if y < top || y >= top + in_h {
                        row.fill(value);
                        continue;
                    }
                    row[..left].fill(value);
                    row[left + in_w..].fill(value);
                    let from = base + (y - top) * row_stride;
                    let dst = &mut row[left..left + in_w];
                    if col_stride == 1 {
                        dst.copy_from_slice(&s[from..from + in_w]);
                    } else {
                        for (k, d) in dst.iter_mut().enumerate() {
                            *d = s[from + k * col_stride];
                        }
                    }
                }
            }
        });
    }
    same_type!(data, out, |s, d| fill_planes(s, d, value, view, &geometry));
}

/// Where the planes of a padded output come from (see [`pad`]).
struct Planes<'a> {
    /// The output's leading axes, their padding, and the input's.
    outer: &'a [usize],
    outer_pads: &'a [(usize, usize)],
    in_outer: &'a [usize],
    /// Rows: padding before, the input's, the output's.
    rows: (usize, usize, usize),
    /// Columns: padding before, the input's, the output's.
    cols: (usize, usize, usize),
}

impl Planes<'_> {
    fn plane_len(&self) -> usize {
        self.rows.2 * self.cols.2
    }

    /// The input plane output plane `p` copies, or `None` when it lies in
    /// the padding.
    fn input_plane(&self, mut p: usize) -> Option<usize> {
        let (mut at, mut step) = (0, 1);
        for a in (0..self.outer.len()).rev() {
            let c = p % self.outer[a];
            p /= self.outer[a];
            let (before, n) = (self.outer_pads[a].0, self.in_outer[a]);
            if c < before || c >= before + n {
                return None;
            }
            at += (c - before) * step;
            step *= n;
        }
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `index_select` along the middle axis of a `[4, 6, 5]` tensor, read
    /// contiguous and stored transposed (its last axis strided), with the
    /// index expanded over the other axes as `Tensor::index_select` passes
    /// it: each row is copied whole, from the right place.
    #[test]
    fn shared_index_rows_are_copied_from_the_selected_rows() {
        let shape = [4, 6, 5];
        let picks = [5i64, 0, 3, 3];
        let index = HostData::I64(picks.to_vec());
        let index_view = View {
            shape: vec![4, 4, 5],
            strides: vec![0, 1, 0],
            offset: 0,
        };
        assert_eq!(shared_index_rows(1, &index_view), Some(2));
        let values: Vec<f64> = (0..120).map(|v| v as f64).collect();
        let data = HostData::F64(values.clone());
        let contiguous = View::contiguous(&shape);
        let transposed = View::contiguous(&[5, 6, 4]).permute(&[2, 1, 0]);
        for x_view in [contiguous, transposed] {
            let mut out = HostData::F64(vec![f64::NAN; 80]);
            gather(
                "gather",
                1,
                (&data, &x_view),
                (&index, &index_view),
                &mut out,
            )
            .unwrap();
            let want: Vec<f64> = (0..80)
                .map(|o| {
                    let (a, j, c) = (o / 20, o / 5 % 4, o % 5);
                    let i = picks[j] as usize;
                    values[x_view.offset_of((a * 6 + i) * 5 + c)]
                })
                .collect();
            assert_eq!(out, HostData::F64(want), "strides {:?}", x_view.strides);
        }
    }

    /// `gather` along each axis of a `[4, 5, 6]` tensor, read contiguous
    /// and transposed, with a contiguous index and a transposed one (its
    /// last axis strided), against the definition.
    #[test]
    fn gathers_along_every_axis_match_the_definition() {
        let shape = [4, 5, 6];
        let values: Vec<f64> = (0..120).map(|v| v as f64).collect();
        let data = HostData::F64(values.clone());
        let x_views = [
            View::contiguous(&shape),
            View::contiguous(&[6, 5, 4]).permute(&[2, 1, 0]),
        ];
        let index_shape = [3, 4, 5];
        for axis in 0..3 {
            let picks: Vec<i64> = (0..60)
                .map(|i| ((i * 7 + axis) % shape[axis]) as i64)
                .collect();
            let index = HostData::I64(picks.clone());
            let index_views = [
                View::contiguous(&index_shape),
                View::contiguous(&[5, 4, 3]).permute(&[2, 1, 0]),
            ];
            for x_view in &x_views {
                for index_view in &index_views {
                    let mut out = HostData::F64(vec![f64::NAN; 60]);
                    gather(
                        "gather",
                        axis,
                        (&data, x_view),
                        (&index, index_view),
                        &mut out,
                    )
                    .unwrap();
                    let want: Vec<f64> = (0..60)
                        .map(|o| {
                            let mut at = [o / 20, o / 5 % 4, o % 5];
                            at[axis] = picks[index_view.offset_of(o)] as usize;
                            values[x_view.offset_of((at[0] * 5 + at[1]) * 6 + at[2])]
                        })
                        .collect();
                    assert_eq!(
                        out,
                        HostData::F64(want),
                        "axis {axis}, {x_view:?}, {index_view:?}"
                    );
                }
            }
        }
    }

    /// Pads of a scalar, vectors, matrices and 3-d and 4-d tensors (padding leading
    /// axes too, so whole planes are padding), read contiguous, transposed
    /// and sliced, against the definition: each output element is the
    /// input's at its position less the padding before, or `value`.
    #[test]
    fn pads_match_the_definition() {
        let values: Vec<f64> = (0..400).map(|v| v as f64).collect();
        let data = HostData::F64(values.clone());
        let cases: Vec<(View, Vec<(usize, usize)>)> = vec![
            (View::contiguous(&[]), vec![]),
            (View::contiguous(&[5]), vec![(2, 1)]),
            (View::contiguous(&[3, 4]), vec![(1, 2), (0, 3)]),
            (
                View::contiguous(&[4, 3]).permute(&[1, 0]),
                vec![(2, 0), (1, 1)],
            ),
            (View::contiguous(&[2, 3, 4]), vec![(1, 1), (0, 2), (3, 0)]),
            (
                View::contiguous(&[4, 5, 6]).slice(&[1, 1, 2], &[1, 2, 1], &[2, 2, 3]),
                vec![(0, 1), (1, 1), (1, 1)],
            ),
            (
                View::contiguous(&[2, 2, 3, 3]),
                vec![(1, 0), (0, 1), (1, 1), (1, 1)],
            ),
            (View::contiguous(&[2, 0, 3]), vec![(0, 0), (1, 1), (0, 1)]),
        ];
        for (view, pads) in cases {
            let shape: Vec<usize> = view
                .shape
                .iter()
                .zip(&pads)
                .map(|(&n, &(a, b))| n + a + b)
                .collect();
            let numel: usize = shape.iter().product();
            let out_ty = TensorType {
                shape: shape.clone(),
                dtype: crate::DType::F64,
            };
            let mut out = HostData::F64(vec![f64::NAN; numel]);
            pad(&pads, -1.0, (&data, &view), &out_ty, &mut out);
            let want: Vec<f64> = (0..numel)
                .map(|mut o| {
                    let mut coords = vec![0; shape.len()];
                    for (c, &n) in coords.iter_mut().zip(&shape).rev() {
                        *c = o % n;
                        o /= n;
                    }
                    let mut input = 0;
                    for ((&c, &(before, _)), &n) in coords.iter().zip(&pads).zip(&view.shape) {
                        if c < before || c >= before + n {
                            return -1.0;
                        }
                        input = input * n + c - before;
                    }
                    values[view.offset_of(input)]
                })
                .collect();
            assert_eq!(
                out,
                HostData::F64(want),
                "{:?} padded by {pads:?}",
                view.shape
            );
        }
    }
}
