//! Batched matrix multiplication through the `gemm` crate, reading operands
//! through their strides (a transposed view costs no copy).

use half::f16;

use super::super::fused::{Arg, gather};
use super::super::parallel;
use super::super::view::View;
use super::{check_bounds, narrow, widen};
use crate::ir::TensorType;
use crate::{Error, HostData, Result};
use std::sync::atomic::{AtomicU64, Ordering};

mod side;

use side::{Side, Sides};

/// Element types `gemm` multiplies natively.
pub(crate) trait GemmScalar: Copy + Send + Sync + 'static {
    const ZERO: Self;
    const ONE: Self;
}
impl GemmScalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmScalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmScalar for f16 {
    const ZERO: Self = f16::ZERO;
    const ONE: Self = f16::ONE;
}

/// A strided matrix inside a slice: element `(i, j)` is
/// `data[offset + i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<T> Mat<'_, T> {
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = lhs @ rhs` (or `dst += lhs @ rhs` when `accumulate`), where `dst`
/// holds an `m x n` block whose element `(i, j)` is at
/// `i * dst_strides.0 + j * dst_strides.1`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_into<T: GemmScalar>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    dst_strides: (usize, usize),
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    let (dst_rs, dst_cs) = dst_strides;
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = T::ZERO;
                }
            }
        }
        return;
    }
    assert!(
        lhs.fits(m, k) && rhs.fits(k, n),
        "gemm operands exceed their buffers"
    );
    assert!(
        (m - 1) * dst_rs + (n - 1) * dst_cs < dst.len(),
        "gemm output exceeds its buffer"
    );
    // SAFETY: the asserts above show that every element gemm reads through
    // `lhs`/`rhs` (offset plus strides within m x k and k x n) and every
    // element it writes through `dst` (m x n with strides dst_strides) lies
    // inside the respective slice; `dst` is borrowed mutably, so it cannot
    // alias the operands.
    unsafe {
        gemm_raw(
            (m, n, k),
            dst.as_mut_ptr(),
            dst_strides,
            lhs,
            rhs,
            accumulate,
            par,
        )
    }
}

/// [`gemm_into`] writing through a raw pointer, for tasks that share one
/// output.
///
/// # Safety
/// `lhs` and `rhs` must hold every element of their `m x k` and `k x n`
/// blocks; `dst` must be valid for writes at `i * rs + j * cs` for every
/// `i < m`, `j < n`, with no one else reading or writing those elements
/// meanwhile.
unsafe fn gemm_raw<T: GemmScalar>(
    (m, n, k): (usize, usize, usize),
    dst: *mut T,
    (dst_rs, dst_cs): (usize, usize),
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    // SAFETY: the caller guarantees the operands' extents and that `dst`
    // is writable and unshared at every element of the m x n block.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.cs as isize,
            rhs.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            par,
        )
    }
}

/// Below this many multiply-adds per matrix, batches run in parallel rather
/// than each product (as they do wherever there are as many matrices as
/// threads).
const SMALL_GEMM: usize = 1 << 18;

/// `out[b] = a[b] @ b[b]` for every batch index `b`.
pub(crate) fn matmul(
    a: Arg<'_>,
    b: Arg<'_>,
    out_ty: &TensorType,
    out: &mut HostData,
) -> Result<()> {
    let (ad, av) = a;
    let (bd, bv) = b;
    check_bounds(av, ad.len(), "matmul lhs")?;
    check_bounds(bv, bd.len(), "matmul rhs")?;
    let r = av.shape.len();
    let dims = Dims {
        m: av.shape[r - 2],
        k: av.shape[r - 1],
        n: bv.shape[r - 1],
    };
    match (ad, bd, out) {
        (HostData::F32(x), HostData::F32(y), HostData::F32(o)) => {
            gemm_batched(x, av, y, bv, o, dims)
        }
        (HostData::F64(x), HostData::F64(y), HostData::F64(o)) => {
            gemm_batched(x, av, y, bv, o, dims)
        }
        (HostData::F16(x), HostData::F16(y), HostData::F16(o)) => {
            gemm_batched(x, av, y, bv, o, dims)
        }
        (HostData::BF16(_), HostData::BF16(_), o @ HostData::BF16(_)) => {
            let (x, y) = (widen(a), widen(b));
            let mut tmp = vec![0f32; o.len()];
            gemm_batched(
                &x,
                &View::contiguous(&av.shape),
                &y,
                &View::contiguous(&bv.shape),
                &mut tmp,
                dims,
            );
            narrow(&tmp, o);
        }
        (HostData::I64(_) | HostData::I32(_) | HostData::U8(_), _, o) => int_matmul(a, b, dims, o),
        (x, y, _) => {
            return Err(Error::Backend {
                backend: "cpu".into(),
                msg: format!(
                    "matmul of {} and {} into {}",
                    x.dtype(),
                    y.dtype(),
                    out_ty.dtype
                ),
            });
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Dims {
    m: usize,
    k: usize,
    n: usize,
}

/// `dst = lhs @ rhs` on the calling thread, `dst` row-major (`d.m x d.n`).
fn single_product<T: GemmScalar>(d: Dims, dst: &mut [T], lhs: Mat<'_, T>, rhs: Mat<'_, T>) {
    gemm_into(
        d.m,
        d.n,
        d.k,
        dst,
        (d.n, 1),
        lhs,
        rhs,
        false,
        gemm::Parallelism::None,
    );
}

/// Element offsets of each batch matrix of a view.
fn batch_offsets(v: &View) -> Vec<usize> {
    let r = v.shape.len();
    let batch = View {
        shape: v.shape[..r - 2].to_vec(),
        strides: v.strides[..r - 2].to_vec(),
        offset: v.offset,
    };
    (0..batch.numel()).map(|i| batch.offset_of(i)).collect()
}

fn gemm_batched<T: GemmScalar>(x: &[T], av: &View, y: &[T], bv: &View, o: &mut [T], d: Dims) {
    let mat = d.m * d.n;
    if mat == 0 {
        return;
    }
    let (ao, bo) = (batch_offsets(av), batch_offsets(bv));
    let r = av.shape.len();
    let lhs = |i: usize| Mat {
        data: x,
        offset: ao[i],
        rs: av.strides[r - 2],
        cs: av.strides[r - 1],
    };
    let rhs = |i: usize| Mat {
        data: y,
        offset: bo[i],
        rs: bv.strides[r - 2],
        cs: bv.strides[r - 1],
    };
    let work = d.m * d.n * d.k;
    // Split over many threads, a small product gives each a sliver and
    // waits for all of them: an attention-like step (32 products of
    // [128, 64] @ [64, 128], softmax, backward) took 2.3 ms on 16 threads
    // that way and 0.56 ms with whole products in parallel.
    let batches = ao.len();
    if batches > 1 && (work < SMALL_GEMM || batches >= parallel::num_threads()) {
        parallel::for_each_chunk(o, mat, |i, dst| single_product(d, dst, lhs(i), rhs(i)));
    } else {
        for (i, dst) in o.chunks_mut(mat).enumerate() {
            split_over_threads(d, dst, lhs(i), rhs(i));
        }
    }
}

/// One product split over the threads, each part a single-threaded GEMM
/// (cheaper to synchronize than a parallel GEMM at the sizes of a training
/// step). By default the split runs along the larger operand (rows of the
/// output when `lhs` is the larger, columns otherwise), so that a thread's
/// share of one operand is large and the other operand is read whole; how
/// fast a side runs also depends on how `gemm` packs the parts and on the
/// machine, so where either side gives the same result, the side each
/// shape keeps is the one that ran faster in its first products (see
/// [`side`]). Thread `t` takes part `t`,
/// whose size follows how fast that thread went in earlier products (see
/// [`Speeds`]): the cores of a shared machine run at different speeds for
/// seconds at a time, and with equal parts the fast thread would wait. The
/// parts are equal where their sizes could change the result (see
/// [`safe_part`]).
fn split_over_threads<T: GemmScalar>(d: Dims, dst: &mut [T], lhs: Mat<'_, T>, rhs: Mat<'_, T>) {
    static SIDES: Sides = Sides::new();
    let threads = parallel::num_threads();
    let Some(default) = default_side(d, threads) else {
        return single_product(d, dst, lhs, rhs);
    };
    let both_safe = [Side::Rows, Side::Cols]
        .iter()
        .all(|&side| safe_split(d, side, threads));
    if !both_safe {
        return split_by_speeds(d, dst, lhs, rhs, (&SPEEDS, default));
    }
    let shape = (d.m, d.k, d.n, threads);
    let (side, timed) = SIDES.pick(shape, default);
    let started = timed.then(std::time::Instant::now);
    split_by_speeds(d, dst, lhs, rhs, (&SPEEDS, side));
    if let Some(started) = started {
        SIDES.record(shape, (side, started.elapsed().as_secs_f64()));
    }
}

/// The side the size rule splits a product along over `threads` threads:
/// the larger, each part at least two rows or columns; `None` when the
/// product is not split.
fn default_side(d: Dims, threads: usize) -> Option<Side> {
    let work = d.m * d.n * d.k;
    if threads < 2 || work < 1 << 15 || (d.m < 2 * threads && d.n < 2 * threads) {
        None
    } else if d.n > d.m && d.n >= 2 * threads {
        Some(Side::Cols)
    } else {
        Some(Side::Rows)
    }
}

/// Whether splitting along `side` over `threads` threads gives every part
/// at least two rows or columns and the result of the product in one
/// piece, whatever the parts' sizes (see [`safe_part`]).
fn safe_split(d: Dims, side: Side, threads: usize) -> bool {
    let (len, other) = match side {
        Side::Rows => (d.m, d.n),
        Side::Cols => (d.n, d.m),
    };
    len >= 2 * threads && safe_part(d.k, other).is_some_and(|p| p * threads <= len)
}

/// [`split_over_threads`] along `side`, with the threads' speeds in
/// `speeds`.
fn split_by_speeds<T: GemmScalar>(
    d: Dims,
    dst: &mut [T],
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    (speeds, side): (&Speeds, Side),
) {
    let threads = parallel::num_threads();
    let work = d.m * d.n * d.k;
    assert!(
        lhs.fits(d.m, d.k) && rhs.fits(d.k, d.n),
        "gemm operands exceed their buffers"
    );
    assert!(d.m * d.n <= dst.len(), "gemm output exceeds its buffer");
    // Split columns in whole vectors, rows in runs of a few.
    let by_cols = side == Side::Cols;
    let (len, step, other) = if by_cols {
        (d.n, 16, d.m)
    } else {
        (d.m, 4, d.n)
    };
    let bounds = speeds.split(len, step, threads, safe_part(d.k, other));
    let out = SharedOut(dst.as_mut_ptr());
    parallel::for_each_thread(|t| {
        let (a, b) = (bounds[t], bounds[t + 1]);
        if a >= b {
            return;
        }
        let (mnk, start, part_lhs, part_rhs) = if by_cols {
            let part = Mat {
                offset: rhs.offset + a * rhs.cs,
                ..rhs
            };
            ((d.m, b - a, d.k), a, lhs, part)
        } else {
            let part = Mat {
                offset: lhs.offset + a * lhs.rs,
                ..lhs
            };
            ((b - a, d.n, d.k), a * d.n, part, rhs)
        };
        let started = std::time::Instant::now();
        // SAFETY: part t is rows (or columns) a..b of the m x n row-major
        // block at `out`, which lies inside `dst` (asserted above); the
        // other parts write other rows (columns), and `dst` stays mutably
        // borrowed until all parts end. The operands are only read and fit
        // their buffers (asserted above); the offsets stay inside them.
        unsafe {
            gemm_raw(
                mnk,
                out.get().add(start),
                (d.n, 1),
                part_lhs,
                part_rhs,
                false,
                gemm::Parallelism::None,
            )
        };
        let macs = (b - a) * work / len;
        speeds.record(macs as f64 / started.elapsed().as_secs_f64().max(1e-9));
    });
}

/// Each thread's recent speed at split products, in multiply-adds per
/// second, as `f64` bits: 0 until it is measured.
struct Speeds([AtomicU64; MAX_TRACKED]);

/// Threads whose speeds are tracked; beyond these, parts are equal.
const MAX_TRACKED: usize = 64;

static SPEEDS: Speeds = Speeds::new();

impl Speeds {
    const fn new() -> Self {
        Self([const { AtomicU64::new(0) }; MAX_TRACKED])
    }

    /// Boundaries of `threads` parts of `0..len`, in multiples of `step`
    /// but for the last. With `min_part`, they are sized in proportion to
    /// the threads' speeds, none below a quarter of the fastest (so that
    /// every thread keeps a part and is measured again) or `min_part`
    /// long; without it, or while a thread is unmeasured, they are equal.
    fn split(
        &self,
        len: usize,
        step: usize,
        threads: usize,
        min_part: Option<usize>,
    ) -> Vec<usize> {
        let mut weights: Vec<f64> = (0..threads)
            .map(|t| {
                self.0
                    .get(t)
                    .map_or(0.0, |s| f64::from_bits(s.load(Ordering::Relaxed)))
            })
            .collect();
        let fastest = weights.iter().copied().fold(0.0, f64::max);
        let min = min_part.filter(|&p| p * threads <= len);
        if min.is_none() || weights.iter().any(|w| !w.is_normal()) {
            weights.fill(1.0);
        } else {
            weights.iter_mut().for_each(|w| *w = w.max(fastest / 4.0));
        }
        let min = min.unwrap_or(0);
        let total: f64 = weights.iter().sum();
        let mut bounds = vec![0];
        let mut sum = 0.0;
        for (t, w) in weights[..threads - 1].iter().enumerate() {
            sum += w;
            let end = (len as f64 * sum / total / step as f64).round() as usize * step;
            let (lo, hi) = (bounds[t] + min, len - (threads - 1 - t) * min);
            bounds.push(end.clamp(lo.min(hi), hi).max(bounds[t]));
        }
        bounds.push(len);
        bounds
    }

    /// Folds a part's speed (multiply-adds per second) into the running
    /// thread's.
    fn record(&self, speed: f64) {
        if let Some(slot) = self.0.get(parallel::thread_index()) {
            let old = f64::from_bits(slot.load(Ordering::Relaxed));
            let new = if old > 0.0 {
                0.7 * old + 0.3 * speed
            } else {
                speed
            };
            slot.store(new.to_bits(), Ordering::Relaxed);
        }
    }
}

/// The shortest part of a product split along one side, `other` long on
/// the other side, for which `gemm` (0.19) computes every output element
/// the same way whatever the part's size, or `None` when no part size is
/// safe. Only then may the parts follow the threads' speeds, which change
/// from run to run: results must not (a resumed training run matches an
/// uninterrupted one bit for bit). From `gemm`'s source: its depth blocking
/// depends on the depth alone, except in blocks of at most 64 x 64, which
/// take `min(k, 512)` (the same when `k <= 512`); outputs of at most 256
/// elements can go through dot-product kernels, and single rows or
/// columns through GEMV ones, each summing in another order.
/// `split_parts_agree_bit_for_bit` checks this.
fn safe_part(k: usize, other: usize) -> Option<usize> {
    (k <= 512 || other > 64).then(|| (256 / other + 1).max(2))
}

/// A pointer the parts of [`split_over_threads`] share.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);

// SAFETY: the parts that receive a `SharedOut` write disjoint elements
// (see `split_over_threads`), and `T` itself is `Send`.
unsafe impl<T: Send> Send for SharedOut<T> {}
// SAFETY: as above; the pointer is only read to compute addresses.
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

fn int_matmul(a: Arg<'_>, b: Arg<'_>, d: Dims, out: &mut HostData) {
    let load = |(data, view): Arg<'_>| -> Vec<i64> {
        let mut v = vec![0i64; view.numel()];
        match data {
            HostData::I64(s) => gather(s, view, 0, &mut v, |x| x),
            HostData::I32(s) => gather(s, view, 0, &mut v, i64::from),
            HostData::U8(s) => gather(s, view, 0, &mut v, i64::from),
            other => unreachable!("integer matmul of {:?}", other.dtype()),
        }
        v
    };
    let (x, y) = (load(a), load(b));
    let batch = out.len() / (d.m * d.n).max(1);
    let mut acc = vec![0i64; out.len()];
    for bi in 0..batch {
        for i in 0..d.m {
            for j in 0..d.n {
                let mut s = 0i64;
                for l in 0..d.k {
                    s = s.wrapping_add(
                        x[bi * d.m * d.k + i * d.k + l]
                            .wrapping_mul(y[bi * d.k * d.n + l * d.n + j]),
                    );
                }
                acc[bi * d.m * d.n + i * d.n + j] = s;
            }
        }
    }
    match out {
        HostData::I64(o) => o.copy_from_slice(&acc),
        HostData::I32(o) => o.iter_mut().zip(&acc).for_each(|(o, &v)| *o = v as i32),
        HostData::U8(o) => o.iter_mut().zip(&acc).for_each(|(o, &v)| *o = v as u8),
        other => unreachable!("integer matmul into {:?}", other.dtype()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_views_multiply_without_copies() {
        // a = [[1, 2], [3, 4]] stored transposed; b = identity.
        let a = HostData::F32(vec![1.0, 3.0, 2.0, 4.0]);
        let av = View::contiguous(&[2, 2]).permute(&[1, 0]);
        let b = HostData::F32(vec![1.0, 0.0, 0.0, 1.0]);
        let bv = View::contiguous(&[2, 2]);
        let ty = TensorType {
            shape: vec![2, 2],
            dtype: crate::DType::F32,
        };
        let mut out = HostData::F32(vec![0.0; 4]);
        matmul((&a, &av), (&b, &bv), &ty, &mut out).unwrap();
        assert_eq!(out, HostData::F32(vec![1.0, 2.0, 3.0, 4.0]));
    }

    /// An operand of `batch x rows x cols` whose values are multiples of
    /// 1/4 from -4 to 3.75, hashed from their positions so that no row or
    /// column repeats another (and every sum of products below is exact in
    /// f32), stored transposed (`[.., cols, rows]` in memory, permuted)
    /// when `transposed`, and with its batch broadcast from one matrix
    /// when `broadcast`.
    fn operand(
        batch: usize,
        (rows, cols): (usize, usize),
        (transposed, broadcast): (bool, bool),
        seed: usize,
    ) -> (Vec<f64>, View) {
        let stored = if broadcast { 1 } else { batch };
        let values = (0..stored * rows * cols)
            .map(|i| ((i + seed) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59)
            .map(|h| h as f64 / 4.0 - 4.0)
            .collect();
        let view = if transposed {
            View::contiguous(&[stored, cols, rows]).permute(&[0, 2, 1])
        } else {
            View::contiguous(&[stored, rows, cols])
        };
        (values, view.expand(&[batch, rows, cols]))
    }

    #[test]
    fn every_way_of_splitting_matches_the_definition() {
        // (batch, m, k, n, lhs transposed, rhs transposed, lhs broadcast).
        // With two or more threads these take, in order, each path of
        // `gemm_batched`: one small product; small products in parallel
        // (twice, both with a broadcast lhs, the second with a wide rhs); one
        // product split over threads by rows (lhs larger) and one by
        // columns (rhs larger); two large products, each whole in parallel
        // on two threads, one after another, each split, on three or more.
        let cases = [
            (1, 3, 4, 5, false, false, false),
            (3, 7, 9, 11, true, false, true),
            (2, 9, 64, 300, false, false, true),
            (1, 67, 45, 33, true, false, false),
            (1, 5, 70, 131, false, true, false),
            (2, 70, 64, 60, true, true, false),
        ];
        if parallel::num_threads() < 2 {
            eprintln!(
                "one CPU thread: the cases that split a product over threads \
                 run as single products"
            );
        }
        for (batch, m, k, n, ta, tb, bcast) in cases {
            let (a, av) = operand(batch, (m, k), (ta, bcast), 1);
            let (b, bv) = operand(batch, (k, n), (tb, false), 5);
            let mut want = vec![0.0; batch * m * n];
            for (o, w) in want.iter_mut().enumerate() {
                let (bi, i, j) = (o / (m * n), o / n % m, o % n);
                *w = (0..k)
                    .map(|l| {
                        a[av.offset_of((bi * m + i) * k + l)]
                            * b[bv.offset_of((bi * k + l) * n + j)]
                    })
                    .sum();
            }
            let f32s = |v: &[f64]| HostData::F32(v.iter().map(|&x| x as f32).collect());
            for (x, y, mut out) in [
                (f32s(&a), f32s(&b), f32s(&want)),
                (
                    HostData::F64(a.clone()),
                    HostData::F64(b.clone()),
                    HostData::F64(want.clone()),
                ),
            ] {
                let dtype = x.dtype();
                let ty = TensorType {
                    shape: vec![batch, m, n],
                    dtype,
                };
                let expected = out.clone();
                match &mut out {
                    HostData::F32(o) => o.fill(f32::NAN),
                    HostData::F64(o) => o.fill(f64::NAN),
                    _ => unreachable!(),
                }
                matmul((&x, &av), (&y, &bv), &ty, &mut out).unwrap();
                assert_eq!(
                    out, expected,
                    "{dtype} [{batch}, {m}, {k}] @ [{batch}, {k}, {n}], transposed {ta}/{tb}"
                );
            }
        }
    }

    #[test]
    fn parts_follow_the_threads_speeds() {
        let speeds = Speeds::new();
        // Unmeasured: equal parts, in whole steps but for the last.
        assert_eq!(speeds.split(67, 4, 2, Some(2)), [0, 32, 67]);
        assert_eq!(speeds.split(100, 16, 3, Some(2)), [0, 32, 64, 100]);
        speeds.0[0].store(3e9f64.to_bits(), Ordering::Relaxed);
        assert_eq!(
            speeds.split(100, 4, 2, Some(2)),
            [0, 52, 100],
            "one unmeasured"
        );
        speeds.0[1].store(1e9f64.to_bits(), Ordering::Relaxed);
        assert_eq!(speeds.split(100, 4, 2, Some(2)), [0, 76, 100]);
        // A thread far slower keeps a quarter of the fastest's weight.
        speeds.0[1].store(1e6f64.to_bits(), Ordering::Relaxed);
        assert_eq!(speeds.split(100, 4, 2, Some(2)), [0, 80, 100]);
        // Parts keep the shortest length that is safe; without one, equal.
        speeds.0[1].store(1e9f64.to_bits(), Ordering::Relaxed);
        assert_eq!(speeds.split(100, 4, 2, Some(40)), [0, 60, 100]);
        assert_eq!(speeds.split(100, 4, 2, None), [0, 52, 100]);
        assert_eq!(speeds.split(100, 4, 2, Some(51)), [0, 52, 100], "too long");
        speeds.0[1].store(1e6f64.to_bits(), Ordering::Relaxed);
        // Speeds fold in with weight 0.3 (this test runs off the pool, as
        // thread 0).
        speeds.record(1e9);
        let now = f64::from_bits(speeds.0[0].load(Ordering::Relaxed));
        assert!((now - 2.4e9).abs() < 1.0, "{now}");
    }

    #[test]
    fn split_parts_agree_bit_for_bit() {
        if parallel::num_threads() < 2 {
            eprintln!("one CPU thread: products are not split, nothing to compare");
        }
        split_parts_agree(|x| x, |x: f32| x.to_bits().into());
        split_parts_agree(f64::from, f64::to_bits);
        split_parts_agree(f16::from_f32, |x| x.to_bits().into());
    }

    /// Checks `split_parts_agree_bit_for_bit` for one element type, made
    /// from f32 by `from` and compared as the bits `bits` gives.
    fn split_parts_agree<T: GemmScalar>(from: fn(f32) -> T, bits: fn(T) -> u64) {
        // (m, k, n, lhs transposed, rhs transposed): splits by columns and
        // by rows, depths over and under 512, a narrow output, and one
        // shape (k > 512, both sides narrow) where no part size is safe.
        let cases = [
            (70, 600, 100, false, false),
            (96, 700, 256, false, true),
            (40, 300, 30, false, true),
            (200, 512, 8, false, true),
            (130, 784, 40, false, true),
        ];
        for (m, k, n, ta, tb) in cases {
            let values = |len: usize, seed: u64| -> Vec<T> {
                (0..len as u64)
                    .map(|i| ((i + seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32)
                    .map(|h| from(h / (1u64 << 24) as f32 - 0.5))
                    .collect()
            };
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let mat = |data, (rows, cols): (usize, usize), transposed| Mat {
                data,
                offset: 0,
                rs: if transposed { 1 } else { cols },
                cs: if transposed { rows } else { 1 },
            };
            let (lhs, rhs) = (mat(&a[..], (m, k), ta), mat(&b[..], (k, n), tb));
            // Along a side where some part size is safe, every split
            // matches the product in one piece; along the default side
            // where none is, the parts are equal, so every split matches
            // the first. Sides neither default nor safe are not taken.
            let d = Dims { m, k, n };
            let threads = parallel::num_threads();
            for side in [Side::Rows, Side::Cols] {
                let default = default_side(d, threads) == Some(side);
                let mut whole = vec![T::ZERO; m * n];
                if safe_split(d, side, threads) {
                    single_product(d, &mut whole, lhs, rhs);
                } else if default {
                    split_by_speeds(d, &mut whole, lhs, rhs, (&Speeds::new(), side));
                } else {
                    continue;
                }
                for weights in [[1e9, 4e9], [4e9, 1e9], [1e9, 1e9]] {
                    let speeds = Speeds::new();
                    for (slot, w) in speeds.0.iter().zip(weights) {
                        slot.store(f64::to_bits(w), Ordering::Relaxed);
                    }
                    let mut split = vec![T::ONE; m * n];
                    split_by_speeds(d, &mut split, lhs, rhs, (&speeds, side));
                    let same = split.iter().zip(&whole).all(|(&x, &y)| bits(x) == bits(y));
                    let ty = std::any::type_name::<T>();
                    assert!(
                        same,
                        "{ty} [{m}, {k}] @ [{k}, {n}] split into {side:?} by speeds {weights:?}"
                    );
                }
            }
        }
    }
}
