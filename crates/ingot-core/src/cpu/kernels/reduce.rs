//! Reductions over axes and arg-reductions over one axis.
//!
//! Two loop orders, chosen from the input's strides: when a reduced axis is
//! the one contiguous in memory, each output folds a run of consecutive
//! elements ("inner"); otherwise whole rows of outputs are folded at once, so
//! that memory is still read in order ("outer", e.g. a bias gradient summed
//! over the batch).
//!
//! Sums of `f32` add blocks in `f32` lanes and blocks together in `f64`.
//! Runs over a buffer of the reduction's own type (`f32`, `f64`, `i64`)
//! that are contiguous fold where they lie; the rest are copied a block at
//! a time first.

use half::{bf16, f16};

use super::super::exec::{PARALLEL_MIN, split};
use super::super::fused::{Arg, BLOCK, gather, load_f32};
use super::super::view::View;
use super::super::{Widest, parallel, run_widest};
use crate::ir::{ArgReduceOp, ReduceOp};
use crate::{Error, HostData, Result};

/// A register type reductions run in, with its accumulator type.
trait Lane: Copy + Send + Sync + Default + PartialOrd + 'static {
    type Acc: Copy + Send + Sync + 'static;
    fn load(data: &HostData, view: &View, base: usize, dst: &mut [Self]);
    /// The buffer's elements, if they are of this type (read in place).
    fn elements(data: &HostData) -> Option<&[Self]>;
    fn init(op: ReduceOp) -> Self::Acc;
    /// Folds `xs` into `acc`: a sum or product one block of at most
    /// [`BLOCK`] values (see [`fold_run`]), a maximum or minimum any run.
    fn fold(op: ReduceOp, acc: Self::Acc, xs: &[Self]) -> Self::Acc;
    fn fold_rows(op: ReduceOp, acc: &mut [Self::Acc], xs: &[Self]);
    fn merge(op: ReduceOp, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn store(accs: &[Self::Acc], out: &mut HostData);
    fn is_nan(self) -> bool;
}

/// NaN-propagating max/min step.
#[inline(always)]
fn pick<T: PartialOrd + Copy>(max: bool, acc: T, x: T, x_nan: bool) -> T {
    if x_nan || (max && x > acc) || (!max && x < acc) {
        x
    } else {
        acc
    }
}

/// The largest (`max`) or smallest of `init` and `xs`, or a NaN among
/// them: folded in independent lanes (a lane that meets a NaN keeps it:
/// nothing compares above or below one), then the lanes in turn.
#[inline(always)]
fn extreme<L: Lane>(xs: &[L], max: bool, init: L) -> L {
    let mut lanes = [init; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = pick(max, *l, x, x.is_nan());
        }
    }
    lanes
        .iter()
        .chain(chunks.remainder())
        .fold(init, |b, &x| pick(max, b, x, x.is_nan()))
}

/// [`extreme`]'s lanes.
const LANES: usize = 32;

macro_rules! float_lane {
    ($t:ty, $variant:ident, $load:expr, $store:expr) => {
        impl Lane for $t {
            type Acc = f64;
            fn load(data: &HostData, view: &View, base: usize, dst: &mut [Self]) {
                let load: fn(&HostData, &View, usize, &mut [$t]) = $load;
                load(data, view, base, dst)
            }
            fn elements(data: &HostData) -> Option<&[$t]> {
                match data {
                    HostData::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn init(op: ReduceOp) -> f64 {
                match op {
                    ReduceOp::Sum => 0.0,
                    ReduceOp::Prod => 1.0,
                    ReduceOp::Max => f64::NEG_INFINITY,
                    ReduceOp::Min => f64::INFINITY,
                }
            }
            #[inline(always)]
            fn fold(op: ReduceOp, acc: f64, xs: &[$t]) -> f64 {
                match op {
                    ReduceOp::Sum => {
                        let mut lanes = [0 as $t; 8];
                        let mut chunks = xs.chunks_exact(8);
                        for c in &mut chunks {
                            for (l, &x) in lanes.iter_mut().zip(c) {
                                *l += x;
                            }
                        }
                        let tail: $t = chunks.remainder().iter().sum();
                        acc + (lanes.iter().sum::<$t>() + tail) as f64
                    }
                    ReduceOp::Prod => xs.iter().fold(acc, |a, &x| a * x as f64),
                    ReduceOp::Max | ReduceOp::Min => {
                        let max = op == ReduceOp::Max;
                        let first = if max {
                            <$t>::NEG_INFINITY
                        } else {
                            <$t>::INFINITY
                        };
                        let x = extreme(xs, max, first);
                        pick(max, acc, x as f64, x.is_nan())
                    }
                }
            }
            #[inline(always)]
            fn fold_rows(op: ReduceOp, acc: &mut [f64], xs: &[$t]) {
                let it = acc.iter_mut().zip(xs);
                match op {
                    ReduceOp::Sum => it.for_each(|(a, &x)| *a += x as f64),
                    ReduceOp::Prod => it.for_each(|(a, &x)| *a *= x as f64),
                    ReduceOp::Max => {
                        it.for_each(|(a, &x)| *a = pick(true, *a, x as f64, x.is_nan()))
                    }
                    ReduceOp::Min => {
                        it.for_each(|(a, &x)| *a = pick(false, *a, x as f64, x.is_nan()))
                    }
                }
            }
            fn merge(op: ReduceOp, a: f64, b: f64) -> f64 {
                match op {
                    ReduceOp::Sum => a + b,
                    ReduceOp::Prod => a * b,
                    ReduceOp::Max => pick(true, a, b, b.is_nan()),
                    ReduceOp::Min => pick(false, a, b, b.is_nan()),
                }
            }
            fn store(accs: &[f64], out: &mut HostData) {
                let store: fn(&[f64], &mut HostData) = $store;
                store(accs, out)
            }
            fn is_nan(self) -> bool {
                self.is_nan()
            }
        }
    };
}

float_lane!(f32, F32, load_f32, |accs, out| match out {
    HostData::F32(o) => o.iter_mut().zip(accs).for_each(|(d, &a)| *d = a as f32),
    HostData::F16(o) => o
        .iter_mut()
        .zip(accs)
        .for_each(|(d, &a)| *d = f16::from_f64(a)),
    HostData::BF16(o) => o
        .iter_mut()
        .zip(accs)
        .for_each(|(d, &a)| *d = bf16::from_f64(a)),
    other => unreachable!("f32 reduction into {:?}", other.dtype()),
});

float_lane!(
    f64,
    F64,
    |data, view, base, dst| match data {
        HostData::F64(v) => gather(v, view, base, dst, |x| x),
        other => unreachable!("f64 reduction of {:?}", other.dtype()),
    },
    |accs, out| match out {
        HostData::F64(o) => o.copy_from_slice(accs),
        other => unreachable!("f64 reduction into {:?}", other.dtype()),
    }
);

impl Lane for i64 {
    type Acc = i64;
    fn load(data: &HostData, view: &View, base: usize, dst: &mut [i64]) {
        match data {
            HostData::I64(v) => gather(v, view, base, dst, |x| x),
            HostData::I32(v) => gather(v, view, base, dst, i64::from),
            HostData::U8(v) => gather(v, view, base, dst, i64::from),
            HostData::Bool(v) => gather(v, view, base, dst, i64::from),
            other => unreachable!("integer reduction of {:?}", other.dtype()),
        }
    }
    fn elements(data: &HostData) -> Option<&[i64]> {
        match data {
            HostData::I64(v) => Some(v),
            _ => None,
        }
    }
    fn init(op: ReduceOp) -> i64 {
        match op {
            ReduceOp::Sum => 0,
            ReduceOp::Prod => 1,
            ReduceOp::Max => i64::MIN,
            ReduceOp::Min => i64::MAX,
        }
    }
    #[inline(always)]
    fn fold(op: ReduceOp, acc: i64, xs: &[i64]) -> i64 {
        xs.iter().fold(acc, |a, &x| Self::merge(op, a, x))
    }
    #[inline(always)]
    fn fold_rows(op: ReduceOp, acc: &mut [i64], xs: &[i64]) {
        acc.iter_mut()
            .zip(xs)
            .for_each(|(a, &x)| *a = Self::merge(op, *a, x));
    }
    fn merge(op: ReduceOp, a: i64, b: i64) -> i64 {
        match op {
            ReduceOp::Sum => a.wrapping_add(b),
            ReduceOp::Prod => a.wrapping_mul(b),
            ReduceOp::Max => a.max(b),
            ReduceOp::Min => a.min(b),
        }
    }
    fn store(accs: &[i64], out: &mut HostData) {
        match out {
            HostData::I64(o) => o.copy_from_slice(accs),
            HostData::I32(o) => o.iter_mut().zip(accs).for_each(|(d, &a)| *d = a as i32),
            HostData::U8(o) => o.iter_mut().zip(accs).for_each(|(d, &a)| *d = a as u8),
            HostData::Bool(o) => o.iter_mut().zip(accs).for_each(|(d, &a)| *d = a != 0),
            other => unreachable!("integer reduction into {:?}", other.dtype()),
        }
    }
    fn is_nan(self) -> bool {
        false
    }
}

/// The axis that steps by one element in memory, if any.
fn unit_stride_axis(view: &View) -> Option<usize> {
    (0..view.shape.len()).rfind(|&a| view.shape[a] > 1 && view.strides[a] == 1)
}

/// Reduces `arg` over `axes` into `out` (the kept axes in order).
pub(crate) fn reduce(op: ReduceOp, axes: &[usize], arg: Arg<'_>, out: &mut HostData) -> Result<()> {
    match arg.0 {
        HostData::F64(_) => reduce_typed::<f64>(op, axes, arg, out),
        HostData::F32(_) | HostData::F16(_) | HostData::BF16(_) => {
            reduce_typed::<f32>(op, axes, arg, out)
        }
        _ => reduce_typed::<i64>(op, axes, arg, out),
    }
    Ok(())
}

fn reduce_typed<L: Lane>(op: ReduceOp, axes: &[usize], (data, view): Arg<'_>, out: &mut HostData) {
    let rank = view.shape.len();
    let kept: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
    let outer: usize = kept.iter().map(|&a| view.shape[a]).product();
    let inner: usize = axes.iter().map(|&a| view.shape[a]).product();
    let mut accs = vec![L::init(op); outer];
    let by_rows = unit_stride_axis(view).is_some_and(|a| kept.contains(&a)) && inner > 1;
    if by_rows {
        // Logical index r * outer + o: each reduced position is a row of outputs.
        let perm: Vec<usize> = axes.iter().chain(&kept).copied().collect();
        let v = view.permute(&perm).coalesced();
        // Where each row of outputs is one contiguous run of the buffer's
        // own type (the view's last axis steps by one and holds whole rows),
        // rows are folded in place rather than copied out.
        let whole_rows =
            v.strides.last() == Some(&1) && v.shape.last().is_some_and(|n| n % outer == 0);
        let rows = L::elements(data).filter(|_| whole_rows);
        // Where outputs `o0..` of rows `range` start in the buffer.
        let row_starts = |range: std::ops::Range<usize>, o0: usize| -> Vec<usize> {
            range.map(|r| v.offset_of(r * outer) + o0).collect()
        };
        let fold = |o0: usize, acc: &mut [L::Acc]| {
            if let Some(elements) = rows {
                return fold_rows_in_place(op, acc, elements, &row_starts(0..inner, o0));
            }
            let mut buf = [L::default(); BLOCK];
            for r in 0..inner {
                for (b, a) in acc.chunks_mut(BLOCK).enumerate() {
                    let xs = &mut buf[..a.len()];
                    L::load(data, &v, r * outer + o0 + b * BLOCK, xs);
                    L::fold_rows(op, a, xs);
                }
            }
        };
        // Shared by the amount of work, not of outputs (a sum over the rows
        // of [1024, 1024] has too few outputs to reach PARALLEL_MIN). Rows
        // read in place go in blocks, each folded whole rows at a time
        // into its own partial, the partials merged in block order; the
        // blocks' size follows the shape alone, so the result does not
        // depend on the threads. Otherwise the outputs go in stretches
        // long enough that each task reads long runs of every row (with a
        // quarter of a thread's share per task, the runs were too short to
        // stream), each output folding its rows in order.
        let per_block = ROWS_PER_BLOCK.max(inner.div_ceil(MAX_ROW_BLOCKS));
        if let Some(elements) = rows.filter(|_| outer * inner >= PARALLEL_MIN && inner > per_block)
        {
            let blocks = inner.div_ceil(per_block);
            let mut partials: Vec<Vec<L::Acc>> = vec![Vec::new(); blocks];
            parallel::for_each_item(&mut partials, |b, part| {
                *part = vec![L::init(op); outer];
                let range = b * per_block..((b + 1) * per_block).min(inner);
                fold_rows_in_place(op, part, elements, &row_starts(range, 0));
            });
            for part in &partials {
                for (acc, &p) in accs.iter_mut().zip(part) {
                    *acc = L::merge(op, *acc, p);
                }
            }
        } else if outer * inner >= PARALLEL_MIN {
            let per_task = outer.div_ceil(parallel::num_threads()).max(256);
            parallel::for_each_chunk(&mut accs, per_task, |c, acc| fold(c * per_task, acc));
        } else {
            fold(0, &mut accs);
        }
    } else {
        // Logical index o * inner + r: each output folds a run.
        let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
        let v = view.permute(&perm).coalesced();
        let fold_range = |start: usize, len: usize, init: L::Acc, buf: &mut [L; BLOCK]| {
            let mut acc = init;
            if let Some(elements) = L::elements(data) {
                // Contiguous runs of the buffer's own type fold in place,
                // without a copy; strided ones are copied into `buf`, and a
                // run of one repeated element (an expanded axis, such as the
                // gradient of a sum) fills it once.
                v.for_each_run(start, len, |off, stride, run, _| {
                    if stride == 1 {
                        acc = fold_run(op, acc, &elements[off..][..run]);
                        return;
                    }
                    if stride == 0 {
                        buf[..BLOCK.min(run)].fill(elements[off]);
                    }
                    for at in (0..run).step_by(BLOCK) {
                        let n = BLOCK.min(run - at);
                        if stride != 0 {
                            let first = off + at * stride;
                            for (k, x) in buf[..n].iter_mut().enumerate() {
                                *x = elements[first + k * stride];
                            }
                        }
                        acc = fold_run(op, acc, &buf[..n]);
                    }
                });
                return acc;
            }
            let mut pos = 0;
            while pos < len {
                let n = BLOCK.min(len - pos);
                L::load(data, &v, start + pos, &mut buf[..n]);
                acc = fold_run(op, acc, &buf[..n]);
                pos += n;
            }
            acc
        };
        let threads = parallel::num_threads();
        if outer < threads && inner >= PARALLEL_MIN {
            let parts = threads * 4;
            let chunk = inner.div_ceil(parts);
            for (o, acc) in accs.iter_mut().enumerate() {
                let mut partial = vec![L::init(op); parts];
                parallel::for_each_item(&mut partial, |p, part| {
                    let s = (p * chunk).min(inner);
                    let e = ((p + 1) * chunk).min(inner);
                    *part = fold_range(o * inner + s, e - s, *part, &mut [L::default(); BLOCK]);
                });
                *acc = partial
                    .into_iter()
                    .fold(L::init(op), |a, b| L::merge(op, a, b));
            }
        } else if outer * inner >= PARALLEL_MIN {
            // Enough work to share, however few the outputs (a conv bias
            // gradient has one per channel): a few outputs per task.
            let per_task = outer.div_ceil(threads * 4);
            parallel::for_each_chunk(&mut accs, per_task, |c, acc| {
                let mut buf = [L::default(); BLOCK];
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = fold_range((c * per_task + k) * inner, inner, *a, &mut buf);
                }
            });
        } else {
            let mut buf = [L::default(); BLOCK];
            for (o, a) in accs.iter_mut().enumerate() {
                *a = fold_range(o * inner, inner, *a, &mut buf);
            }
        }
    }
    L::store(&accs, out);
}

/// Folds `xs` into `acc` in the widest build the CPU has: sums and
/// products a block of [`BLOCK`] at a time, as every path folds them.
fn fold_run<L: Lane>(op: ReduceOp, acc: L::Acc, xs: &[L]) -> L::Acc {
    let mut acc = acc;
    run_widest(FoldRun {
        op,
        acc: &mut acc,
        xs,
    });
    acc
}

/// [`fold_run`]'s arguments, as [`run_widest`] takes them.
struct FoldRun<'a, L: Lane> {
    op: ReduceOp,
    acc: &'a mut L::Acc,
    xs: &'a [L],
}

impl<L: Lane> Widest for FoldRun<'_, L> {
    #[inline(always)]
    fn run(self) {
        if matches!(self.op, ReduceOp::Max | ReduceOp::Min) {
            // The same value whatever the grouping.
            *self.acc = L::fold(self.op, *self.acc, self.xs);
            return;
        }
        for block in self.xs.chunks(BLOCK) {
            *self.acc = L::fold(self.op, *self.acc, block);
        }
    }
}

/// Rows a block of an in-place reduction over leading axes folds, at
/// least; and the most blocks it makes (see `reduce_typed`).
const ROWS_PER_BLOCK: usize = 64;
const MAX_ROW_BLOCKS: usize = 256;

/// Folds the rows of `acc.len()` values at each of `starts` in `elements`,
/// in order, into `acc`, in the widest build the CPU has.
fn fold_rows_in_place<L: Lane>(op: ReduceOp, acc: &mut [L::Acc], elements: &[L], starts: &[usize]) {
    run_widest(FoldRows {
        op,
        acc,
        elements,
        starts,
    });
}

/// [`fold_rows_in_place`]'s arguments, as [`run_widest`] takes them.
struct FoldRows<'a, L: Lane> {
    op: ReduceOp,
    acc: &'a mut [L::Acc],
    elements: &'a [L],
    starts: &'a [usize],
}

impl<L: Lane> Widest for FoldRows<'_, L> {
    #[inline(always)]
    fn run(self) {
        for &at in self.starts {
            L::fold_rows(self.op, self.acc, &self.elements[at..at + self.acc.len()]);
        }
    }
}

/// Index of the first max (min) along `axis`; NaN counts as the extreme.
pub(crate) fn arg_reduce(
    op: ArgReduceOp,
    axis: usize,
    arg: Arg<'_>,
    out: &mut HostData,
) -> Result<()> {
    let HostData::I64(o) = out else {
        return Err(Error::Backend {
            backend: "cpu".into(),
            msg: "arg-reduction output must be I64".into(),
        });
    };
    match arg.0 {
        HostData::F64(_) => arg_reduce_typed::<f64>(op, axis, arg, o),
        HostData::F32(_) | HostData::F16(_) | HostData::BF16(_) => {
            arg_reduce_typed::<f32>(op, axis, arg, o)
        }
        _ => arg_reduce_typed::<i64>(op, axis, arg, o),
    }
    Ok(())
}

fn arg_reduce_typed<L: Lane>(op: ArgReduceOp, axis: usize, (data, view): Arg<'_>, out: &mut [i64]) {
    let rank = view.shape.len();
    let perm: Vec<usize> = (0..rank).filter(|&a| a != axis).chain([axis]).collect();
    let v = view.permute(&perm);
    let len = view.shape.get(axis).copied().unwrap_or(1);
    let max = op == ArgReduceOp::ArgMax;
    // Rows of the buffer's own type, one element apart, are read in place.
    let rows = L::elements(data).filter(|_| len == 1 || v.strides.last() == Some(&1));
    // Shared by the elements read, not by the outputs (an argmax over the
    // rows of [1024, 1024] has 1024 outputs and a million elements).
    let (threads, chunk) = split(out.len(), out.len().saturating_mul(len), 1);
    parallel::for_each_chunk_on(
        threads,
        out,
        chunk,
        || vec![L::default(); if rows.is_some() { 0 } else { len }],
        |row, c, dsts| {
            for (k, dst) in dsts.iter_mut().enumerate() {
                let start = (c * chunk + k) * len;
                let xs = match rows {
                    Some(elements) => &elements[v.offset_of(start)..][..len],
                    None => {
                        L::load(data, &v, start, row);
                        &row[..]
                    }
                };
                *dst = arg_best(xs, max) as i64;
            }
        },
    );
}

/// Index of the first largest (`max`) or smallest element of `xs`, or of
/// its first NaN: the extreme value, then its first position.
fn arg_best<L: Lane>(xs: &[L], max: bool) -> usize {
    let Some(&first) = xs.first() else {
        return 0;
    };
    let mut best = first;
    run_widest(Extreme {
        xs,
        max,
        best: &mut best,
    });
    if best.is_nan() {
        xs.iter().position(|x| x.is_nan())
    } else {
        xs.iter().position(|&x| x == best)
    }
    .unwrap_or(0)
}

/// [`extreme`]'s arguments, as [`run_widest`] takes them: `best` is the
/// initial value and receives the result.
struct Extreme<'a, L> {
    xs: &'a [L],
    max: bool,
    best: &'a mut L,
}

impl<L: Lane> Widest for Extreme<'_, L> {
    #[inline(always)]
    fn run(self) {
        *self.best = extreme(self.xs, self.max, *self.best);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `op` over `axes` of `view` into the kept axes, one element at a time.
    fn naive(op: ReduceOp, axes: &[usize], view: &View, values: &[f64]) -> Vec<f64> {
        let kept: Vec<usize> = (0..view.shape.len())
            .filter(|a| !axes.contains(a))
            .collect();
        let outputs = kept.iter().map(|&a| view.shape[a]).product();
        let mut out = vec![<f64 as Lane>::init(op); outputs];
        for linear in 0..view.numel() {
            let (mut rest, mut index) = (linear, vec![0; view.shape.len()]);
            for a in (0..view.shape.len()).rev() {
                index[a] = rest % view.shape[a];
                rest /= view.shape[a];
            }
            let o = kept.iter().fold(0, |o, &a| o * view.shape[a] + index[a]);
            let x = values[view.offset_of(linear)];
            out[o] = <f64 as Lane>::merge(op, out[o], x);
        }
        out
    }

    /// Sums, maxima and minima over axes of contiguous, permuted, sliced
    /// and expanded views (with strided and repeated runs shorter and longer
    /// than a block), large enough to run in parallel and in blocks,
    /// in every buffer type the reductions read (f32 and f64 in place, f16
    /// and i32 through a copy), against the definition. The values are
    /// small integers, so every order of addition gives the same sums.
    #[test]
    fn reductions_of_every_view_match_the_definition() {
        let shape = [16, 6, 30, 33];
        let n: usize = shape.iter().product();
        let values: Vec<f64> = (0..n).map(|i| (i * 7 % 11) as f64 - 5.0).collect();
        let base = View::contiguous(&shape);
        let views = [
            base.clone(),
            base.permute(&[0, 1, 3, 2]),
            base.slice(&[1, 0, 2, 1], &[1, 1, 1, 2], &[15, 6, 27, 16]),
            base.slice(&[0, 0, 0, 0], &[1, 1, 1, 1], &[16, 6, 1, 33])
                .expand(&[16, 6, 30, 33]),
            // Runs of one repeated element, shorter and longer than a
            // block (the gradient of a sum, summed over for a bias).
            base.slice(&[0, 0, 0, 0], &[1, 1, 1, 1], &[16, 6, 1, 1])
                .expand(&[16, 6, 30, 33]),
            // Strided runs longer than a block.
            View {
                shape: vec![1, 1, 33, 2880],
                strides: vec![0, 0, 1, 33],
                offset: 0,
            },
        ];
        let buffers = [
            HostData::F64(values.clone()),
            HostData::F32(values.iter().map(|&v| v as f32).collect()),
            HostData::F16(values.iter().map(|&v| f16::from_f64(v)).collect()),
            HostData::I32(values.iter().map(|&v| v as i32).collect()),
        ];
        let cases: [(ReduceOp, &[usize]); 5] = [
            (ReduceOp::Sum, &[0, 2, 3]),
            (ReduceOp::Sum, &[0, 1, 2, 3]),
            (ReduceOp::Sum, &[3]),
            (ReduceOp::Max, &[0, 2, 3]),
            (ReduceOp::Min, &[1, 3]),
        ];
        for (vi, view) in views.iter().enumerate() {
            for data in &buffers {
                for &(op, axes) in &cases {
                    let want = naive(op, axes, view, &values);
                    let mut out = match data {
                        HostData::F64(_) => HostData::F64(vec![f64::NAN; want.len()]),
                        HostData::F32(_) => HostData::F32(vec![f32::NAN; want.len()]),
                        HostData::F16(_) => HostData::F16(vec![f16::NAN; want.len()]),
                        _ => HostData::I64(vec![i64::MIN; want.len()]),
                    };
                    reduce(op, axes, (data, view), &mut out).unwrap();
                    let got: Vec<f64> = match &out {
                        HostData::F64(o) => o.clone(),
                        HostData::F32(o) => o.iter().map(|&v| f64::from(v)).collect(),
                        HostData::F16(o) => o.iter().map(|v| v.to_f64()).collect(),
                        HostData::I64(o) => o.iter().map(|&v| v as f64).collect(),
                        _ => unreachable!(),
                    };
                    let what = format!("view {vi}, {:?}, {op:?} over {axes:?}", data.dtype());
                    if matches!(data, HostData::F16(_)) {
                        // f16 results round sums beyond 2048 and overflow
                        // beyond its largest finite value.
                        for (g, w) in got.iter().zip(&want) {
                            if w.abs() > f16::MAX.to_f64() {
                                assert_eq!(*g, w.signum() * f64::INFINITY, "{what}: {w}");
                            } else {
                                assert!((g - w).abs() <= w.abs() / 512.0, "{what}: {g} vs {w}");
                            }
                        }
                    } else {
                        assert_eq!(got, want, "{what}");
                    }
                }
            }
        }
    }

    /// A sum over the rows of a matrix large enough to be shared over the
    /// threads, in blocks of rows read in place (130 rows: three blocks),
    /// and in f16 by stretches of outputs:
    /// every column's sum is the definition's (the values are multiples of
    /// 1/8, so any grouping of the additions is exact).
    #[test]
    fn long_row_sums_split_over_threads_match_the_definition() {
        let (rows, cols) = (130, 600);
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37) % 101) as f32 / 8.0)
            .collect();
        let view = View::contiguous(&[rows, cols]);
        let sum_rows = |arg: HostData, mut out: HostData| {
            reduce(ReduceOp::Sum, &[0], (&arg, &view), &mut out).unwrap();
            out
        };
        let out = sum_rows(
            HostData::F32(values.clone()),
            HostData::F32(vec![f32::NAN; cols]),
        );
        let sums: Vec<f64> = (0..cols)
            .map(|c| (0..rows).map(|r| values[r * cols + c] as f64).sum::<f64>())
            .collect();
        assert_eq!(out, HostData::F32(sums.iter().map(|&v| v as f32).collect()));
        // f16 rows are copied out, not read in place: the outputs go in
        // stretches over the threads instead.
        let arg = HostData::F16(values.iter().map(|&v| f16::from_f32(v)).collect());
        let out = sum_rows(arg, HostData::F16(vec![f16::NAN; cols]));
        assert_eq!(
            out,
            HostData::F16(sums.iter().map(|&v| f16::from_f64(v)).collect())
        );
    }

    /// Maxima, minima and their first positions over rows of every length
    /// around the lanes' width, read in place (f32, f64), through a copy
    /// (f16) and across a transposed view: repeated extremes give the first
    /// position, and a row with NaNs gives NaN at the first of them.
    #[test]
    fn extremes_and_their_positions_match_the_definition() {
        for len in [1, 5, 31, 32, 33, 64, 100, 1000] {
            let rows = 3;
            // Values repeat (13 of them), so extremes occur more than once.
            let mut values: Vec<f64> = (0..rows * len)
                .map(|i| ((i * 7919) % 13) as f64 - 6.0)
                .collect();
            // Row 1 holds NaNs, the first a third of the way along.
            values[len + len / 3] = f64::NAN;
            values[2 * len - 1] = f64::NAN;
            // The same rows stored transposed (a view striding by `rows`).
            let transposed: Vec<f64> = (0..len * rows)
                .map(|i| values[(i % rows) * len + i / rows])
                .collect();
            let layouts = [
                (View::contiguous(&[rows, len]), 1, &values),
                (View::contiguous(&[len, rows]), 0, &transposed),
            ];
            for max in [true, false] {
                let (mut want_at, mut want) = (vec![], vec![]);
                for row in values.chunks(len) {
                    let at = row.iter().position(|x| x.is_nan()).unwrap_or_else(|| {
                        let best =
                            row.iter()
                                .copied()
                                .reduce(if max { f64::max } else { f64::min });
                        row.iter().position(|&x| Some(x) == best).unwrap()
                    });
                    want_at.push(at as i64);
                    want.push(row[at]);
                }
                for (view, axis, stored) in &layouts {
                    let buffers = [
                        HostData::F64(stored.to_vec()),
                        HostData::F32(stored.iter().map(|&v| v as f32).collect()),
                        HostData::F16(stored.iter().map(|&v| f16::from_f64(v)).collect()),
                    ];
                    for data in &buffers {
                        let what = format!("len {len}, axis {axis}, {:?}, max {max}", data.dtype());
                        let op = if max {
                            ArgReduceOp::ArgMax
                        } else {
                            ArgReduceOp::ArgMin
                        };
                        let mut at = HostData::I64(vec![-1; rows]);
                        arg_reduce(op, *axis, (data, view), &mut at).unwrap();
                        assert_eq!(at, HostData::I64(want_at.clone()), "{what}");
                        let op = if max { ReduceOp::Max } else { ReduceOp::Min };
                        let mut got = match data {
                            HostData::F64(_) => HostData::F64(vec![0.0; rows]),
                            HostData::F32(_) => HostData::F32(vec![0.0; rows]),
                            _ => HostData::F16(vec![f16::ZERO; rows]),
                        };
                        reduce(op, &[*axis], (data, view), &mut got).unwrap();
                        let got: Vec<f64> = match got {
                            HostData::F64(o) => o,
                            HostData::F32(o) => o.iter().map(|&v| f64::from(v)).collect(),
                            HostData::F16(o) => o.iter().map(|v| v.to_f64()).collect(),
                            _ => unreachable!(),
                        };
                        for (g, w) in got.iter().zip(&want) {
                            assert!(
                                g == w || (g.is_nan() && w.is_nan()),
                                "{what}: {got:?} vs {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
