//! Indexing and layout kernels: gather, scatter-add, concat and pad.

use half::{bf16, f16};

use super::super::exec::split_for_threads;
use super::super::fused::{Arg, BLOCK, gather as read_view};
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

/// Checks every index of `view` lies in `0..size`.
fn check_indices(
    op: &'static str,
    idx: &[i64],
    view: &View,
    axis: usize,
    size: usize,
) -> Result<()> {
    let mut bad = None;
    view.for_each_run(0, view.numel(), |off, stride, len, _| {
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

/// `out[i] = x[i with axis replaced by index[i]]` (torch.gather).
pub(crate) fn gather(axis: usize, x: Arg<'_>, index: Arg<'_>, out: &mut HostData) -> Result<()> {
    let (xd, xv) = x;
    let iv = index.1;
    let idx = index_values(index)?;
    check_indices("gather", idx, iv, axis, xv.shape[axis])?;
    // The walker's strides skip the gathered axis; the index supplies it.
    let mut strides = xv.strides.clone();
    strides[axis] = 0;
    let axis_stride = xv.strides[axis];
    let out_shape = iv.shape.clone();
    same_type!(xd, out, |src, dst| split_for_threads(
        dst,
        BLOCK,
        |start, chunk| {
            let mut walk = Walker::new(&out_shape, strides.clone(), start);
            let mut ivals = vec![0i64; BLOCK];
            for (b, block) in chunk.chunks_mut(BLOCK).enumerate() {
                let iv_block = &mut ivals[..block.len()];
                read_view(idx, iv, start + b * BLOCK, iv_block, |v| v);
                for (d, &i) in block.iter_mut().zip(iv_block.iter()) {
                    *d = src[xv.offset + walk.offset + i as usize * axis_stride];
                    walk.advance();
                }
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
        same_type!(data, &mut *out, |s, d| {
            for a in 0..outer {
                let dst = &mut d[(a * total + offset) * inner..][..block];
                read_view(s, view, a * block, dst, |v| v);
            }
        });
        offset += len;
    }
}

/// Fills the output with `value`, then copies the argument inside the pads.
pub(crate) fn pad(
    pads: &[(usize, usize)],
    value: f64,
    (data, view): Arg<'_>,
    out_ty: &TensorType,
    out: &mut HostData,
) {
    let starts: Vec<usize> = pads.iter().map(|p| p.0).collect();
    let ones = vec![1; pads.len()];
    let inside = View::contiguous(&out_ty.shape).slice(&starts, &ones, &view.shape);
    fn fill_and_copy<T: Element>(s: &[T], d: &mut [T], value: f64, view: &View, inside: &View) {
        d.fill(T::from_f64(value));
        let mut buf = Vec::with_capacity(BLOCK);
        let n = view.numel();
        let mut pos = 0;
        while pos < n {
            let len = BLOCK.min(n - pos);
            buf.clear();
            buf.resize(len, T::from_f64(value));
            read_view(s, view, pos, &mut buf, |v| v);
            inside.for_each_run(pos, len, |off, stride, run, at| {
                for k in 0..run {
                    d[off + k * stride] = buf[at + k];
                }
            });
            pos += len;
        }
    }
    same_type!(data, out, |s, d| fill_and_copy(s, d, value, view, &inside));
}
