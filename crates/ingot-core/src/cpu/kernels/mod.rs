//! CPU kernels for the non-elementwise IR ops.
//!
//! Float kernels (matmul, conv, pooling, softmax) are written once, generic
//! over `f32`/`f64`; F16 and BF16 arguments are widened to `f32` and the
//! result narrowed when stored, as the DESIGN asks ("stored natively,
//! computed in F32").

mod conv;
mod index;
mod matmul;
mod pool;
mod rand;
mod reduce;
mod softmax;
mod window;

use super::exec::split_for_threads;
use super::fused::{Arg, Blend, FloatOps, gather, load_f32};
use super::halfs;
use super::plan::Kernel;
use super::view::View;
use crate::ir::TensorType;
use crate::{Error, HostData, Result};

/// Runs a non-fused kernel, writing every element of `out`.
pub(crate) fn run(
    kernel: &Kernel,
    args: &[Arg<'_>],
    out_ty: &TensorType,
    out: &mut HostData,
) -> Result<()> {
    match kernel {
        Kernel::Copy => {
            copy(args[0], out);
            Ok(())
        }
        Kernel::CheckRange { lo, hi, op } => {
            copy(args[0], out);
            check_range(out, *lo, *hi, op)
        }
        Kernel::Reduce { op, axes } => reduce::reduce(*op, axes, args[0], out),
        Kernel::ArgReduce { op, axis } => reduce::arg_reduce(*op, *axis, args[0], out),
        Kernel::MatMul => matmul::matmul(args[0], args[1], out_ty, out),
        Kernel::Conv2d(p) => float_kernel(&conv::Forward { p: *p }, args, out_ty, out),
        Kernel::Conv2dBackwardInput(p) => {
            float_kernel(&conv::BackwardInput { p: *p }, args, out_ty, out)
        }
        Kernel::Conv2dBackwardWeight(p) => {
            float_kernel(&conv::BackwardWeight { p: *p }, args, out_ty, out)
        }
        Kernel::MaxPool2d(p) => float_kernel(&pool::MaxForward { p: *p }, args, out_ty, out),
        Kernel::MaxPool2dBackward(p) => {
            float_kernel(&pool::MaxBackward { p: *p }, args, out_ty, out)
        }
        Kernel::AvgPool2d(p) => float_kernel(&pool::AvgForward { p: *p }, args, out_ty, out),
        Kernel::AvgPool2dBackward(p) => {
            float_kernel(&pool::AvgBackward { p: *p }, args, out_ty, out)
        }
        Kernel::Softmax { axis, log } => float_kernel(
            &softmax::Softmax {
                axis: *axis,
                log: *log,
            },
            args,
            out_ty,
            out,
        ),
        Kernel::Gather { axis, op } => index::gather(op, *axis, args[0], args[1], out),
        Kernel::ScatterAdd { axis } => index::scatter_add(*axis, args[0], args[1], args[2], out),
        Kernel::Concat { axis } => {
            index::concat(*axis, args, out_ty, out);
            Ok(())
        }
        Kernel::Pad { pads, value } => {
            index::pad(pads, *value, args[0], out_ty, out);
            Ok(())
        }
        Kernel::Rand(dist) => rand::rand(*dist, args[0], out),
        Kernel::Fused(_) => Err(Error::Backend {
            backend: "cpu".into(),
            msg: "fused kernels run in cpu::fused".into(),
        }),
    }
}

/// Errors, naming `op`, unless every element of `data` lies in `lo..=hi`.
fn check_range(data: &HostData, lo: f64, hi: f64, op: &'static str) -> Result<()> {
    use crate::Element;
    let outside = crate::with_host_data!(data, v => v
        .iter()
        .map(|&x| x.to_f64())
        .find(|x| !(lo..=hi).contains(x)));
    match outside {
        None => Ok(()),
        Some(x) => Err(Error::InvalidArgument {
            op,
            msg: format!("all elements of input should be between {lo} and {hi}, found {x}"),
        }),
    }
}

/// Writes the elements of `arg` (same dtype) into `out` in logical order:
/// a batch of transposed matrices tile by tile, anything else run by run.
fn copy((data, view): Arg<'_>, out: &mut HostData) {
    macro_rules! arm {
        ($src:ident, $dst:ident) => {
            match transposed(view) {
                Some(t) => copy_transposed($src, view, t, $dst),
                None => split_for_threads($dst, 1, |start, chunk| {
                    gather($src, view, start, chunk, |x| x)
                }),
            }
        };
    }
    match (data, out) {
        (HostData::F64(s), HostData::F64(d)) => arm!(s, d),
        (HostData::F32(s), HostData::F32(d)) => arm!(s, d),
        (HostData::F16(s), HostData::F16(d)) => arm!(s, d),
        (HostData::BF16(s), HostData::BF16(d)) => arm!(s, d),
        (HostData::I64(s), HostData::I64(d)) => arm!(s, d),
        (HostData::I32(s), HostData::I32(d)) => arm!(s, d),
        (HostData::U8(s), HostData::U8(d)) => arm!(s, d),
        (HostData::Bool(s), HostData::Bool(d)) => arm!(s, d),
        (s, d) => unreachable!("copy from {:?} into {:?}", s.dtype(), d.dtype()),
    }
}

/// `(m, n, stride)` when `view` is a batch of transposed matrices: its
/// last two axes `m` and `n` long, the `m` axis one element apart and the
/// `n` axis `stride` apart (a transposed matrix; channels-first images
/// moved to channels-last).
pub(crate) fn transposed(view: &View) -> Option<(usize, usize, usize)> {
    let r = view.shape.len();
    (r >= 2 && view.strides[r - 2] == 1 && view.strides[r - 1] > 1)
        .then(|| (view.shape[r - 2], view.shape[r - 1], view.strides[r - 1]))
}

/// Copies a batch of transposed matrices (see [`transposed`]) in tiles of
/// [`TILE`] x [`TILE`], through a small buffer: each column of a tile is
/// read whole (contiguous in the source), then each row written whole. Read
/// element by element, a matrix's rows `stride` apart each touch another
/// cache line, and where `stride` is a multiple of 4 KiB those lines all
/// compete for the same few places in the cache.
fn copy_transposed<T: Copy + Send + Sync>(
    src: &[T],
    view: &View,
    (m, n, stride): (usize, usize, usize),
    dst: &mut [T],
) {
    split_for_threads(dst, n, |start, chunk| {
        let Some(&any) = src.get(view.offset) else {
            return;
        };
        let mut tile = [any; TILE * TILE];
        let (first, rows) = (start / n, chunk.len() / n);
        let mut r = 0;
        while r < rows {
            let (b, i0) = ((first + r) / m, (first + r) % m);
            let count = TILE.min(m - i0).min(rows - r);
            let base = view.offset_of(b * m * n) + i0;
            for j0 in (0..n).step_by(TILE) {
                let cols = TILE.min(n - j0);
                for (j, column) in tile.chunks_mut(TILE).take(cols).enumerate() {
                    let from = base + (j0 + j) * stride;
                    column[..count].copy_from_slice(&src[from..from + count]);
                }
                for i in 0..count {
                    let out = &mut chunk[(r + i) * n + j0..][..cols];
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = tile[j * TILE + i];
                    }
                }
            }
            r += count;
        }
    });
}

/// Rows and columns of a tile of [`copy_transposed`].
const TILE: usize = 32;

/// A float type the generic kernels (and `gemm`) compute in.
pub(crate) trait KernelFloat:
    FloatOps + matmul::GemmScalar + Blend + Default + std::iter::Sum + std::ops::AddAssign
{
    /// The contiguous elements of an argument of this type, if it is one.
    fn slice<'a>(data: &'a HostData, view: &View) -> Option<&'a [Self]>;
    /// `values` as `f32`s, if this is `f32` (for kernels with a faster
    /// build for it).
    #[cfg(target_arch = "x86_64")]
    fn as_f32(values: &[Self]) -> Option<&[f32]>;
    /// [`KernelFloat::as_f32`] for a mutable slice.
    #[cfg(target_arch = "x86_64")]
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]>;
}

impl KernelFloat for f32 {
    fn slice<'a>(data: &'a HostData, view: &View) -> Option<&'a [f32]> {
        match data {
            HostData::F32(v) => v.get(view.offset..view.offset + view.numel()),
            _ => None,
        }
    }
    #[cfg(target_arch = "x86_64")]
    fn as_f32(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }
    #[cfg(target_arch = "x86_64")]
    fn as_f32_mut(values: &mut [f32]) -> Option<&mut [f32]> {
        Some(values)
    }
}

impl KernelFloat for f64 {
    fn slice<'a>(data: &'a HostData, view: &View) -> Option<&'a [f64]> {
        match data {
            HostData::F64(v) => v.get(view.offset..view.offset + view.numel()),
            _ => None,
        }
    }
    #[cfg(target_arch = "x86_64")]
    fn as_f32(_: &[f64]) -> Option<&[f32]> {
        None
    }
    #[cfg(target_arch = "x86_64")]
    fn as_f32_mut(_: &mut [f64]) -> Option<&mut [f32]> {
        None
    }
}

/// A float kernel over contiguous arguments: `shapes[i]` is argument `i`'s
/// shape, `out` is contiguous in `out_shape`.
pub(crate) trait FloatKernel {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()>;
}

/// Runs a float kernel in the output's compute type.
fn float_kernel(
    k: &impl FloatKernel,
    args: &[Arg<'_>],
    out_ty: &TensorType,
    out: &mut HostData,
) -> Result<()> {
    let shapes: Vec<&[usize]> = args.iter().map(|(_, v)| v.shape.as_slice()).collect();
    let mismatch = || Error::Backend {
        backend: "cpu".into(),
        msg: format!(
            "float kernel arguments of mixed dtypes into {}",
            out_ty.dtype
        ),
    };
    match out {
        HostData::F64(o) => {
            let xs: Option<Vec<&[f64]>> = args.iter().map(|(d, v)| f64::slice(d, v)).collect();
            k.run(&xs.ok_or_else(mismatch)?, &shapes, &out_ty.shape, o)
        }
        HostData::F32(o) => {
            let xs: Option<Vec<&[f32]>> = args.iter().map(|(d, v)| f32::slice(d, v)).collect();
            k.run(&xs.ok_or_else(mismatch)?, &shapes, &out_ty.shape, o)
        }
        HostData::F16(_) | HostData::BF16(_) => {
            let wide: Vec<Vec<f32>> = args.iter().map(|&a| widen(a)).collect();
            let xs: Vec<&[f32]> = wide.iter().map(Vec::as_slice).collect();
            let mut tmp = vec![0f32; out.len()];
            k.run(&xs, &shapes, &out_ty.shape, &mut tmp)?;
            narrow(&tmp, out);
            Ok(())
        }
        other => Err(Error::unsupported_dtype("cpu float kernel", other.dtype())),
    }
}

/// The elements of a float argument as a new `f32` vector.
pub(crate) fn widen((data, view): Arg<'_>) -> Vec<f32> {
    let mut v = vec![0f32; view.numel()];
    match data {
        HostData::F64(s) => gather(s, view, 0, &mut v, |x| x as f32),
        _ => load_f32(data, view, 0, &mut v),
    }
    v
}

/// Stores `f32` values into a float output of any width.
pub(crate) fn narrow(src: &[f32], out: &mut HostData) {
    match out {
        HostData::F32(o) => o.copy_from_slice(src),
        HostData::F16(o) => halfs::f16_from_f32s(src, o),
        HostData::BF16(o) => halfs::bf16_from_f32s(src, o),
        HostData::F64(o) => o.iter_mut().zip(src).for_each(|(d, &s)| *d = s as f64),
        other => unreachable!("narrow into {:?}", other.dtype()),
    }
}

/// Checks that every element a view can address lies inside `len`.
pub(crate) fn check_bounds(view: &View, len: usize, what: &str) -> Result<()> {
    if view.numel() == 0 {
        return Ok(());
    }
    let last = view.offset
        + view
            .shape
            .iter()
            .zip(&view.strides)
            .map(|(&d, &s)| (d - 1) * s)
            .sum::<usize>();
    if last >= len {
        return Err(Error::Backend {
            backend: "cpu".into(),
            msg: format!("{what}: view reaches element {last} of a buffer of {len}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches of transposed matrices, whole and sliced out of a larger
    /// buffer (an offset, rows further apart than they are long), large
    /// enough that the threads' shares start inside a matrix and inside a
    /// tile, and one smaller than a tile: copied tile by tile, every element
    /// lands where the definition puts it.
    #[test]
    fn transposed_batches_copy_tile_by_tile() {
        let values: Vec<f64> = (0..3 * 210 * 80).map(|v| v as f64).collect();
        let data = HostData::F64(values.clone());
        let views = [
            View::contiguous(&[3, 200, 70]).permute(&[0, 2, 1]),
            View::contiguous(&[3, 210, 80])
                .slice(&[0, 5, 3], &[1, 1, 1], &[3, 200, 70])
                .permute(&[0, 2, 1]),
            View::contiguous(&[5, 3]).permute(&[1, 0]),
        ];
        for view in views {
            assert!(transposed(&view).is_some(), "{view:?}");
            let mut out = HostData::F64(vec![f64::NAN; view.numel()]);
            copy((&data, &view), &mut out);
            let want: Vec<f64> = (0..view.numel())
                .map(|i| values[view.offset_of(i)])
                .collect();
            assert_eq!(out, HostData::F64(want), "{view:?}");
        }
    }
}
