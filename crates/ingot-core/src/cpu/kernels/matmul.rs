//! Batched matrix multiplication through the `gemm` crate, reading operands
//! through their strides (a transposed view costs no copy).

use half::f16;

use super::super::fused::{Arg, gather};
use super::super::parallel;
use super::super::view::View;
use super::{check_bounds, narrow, widen};
use crate::ir::TensorType;
use crate::{Error, HostData, Result};

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
/// than each product.
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
    if ao.len() > 1 && work < SMALL_GEMM {
        parallel::for_each_chunk(o, mat, |i, dst| {
            gemm_into(
                d.m,
                d.n,
                d.k,
                dst,
                (d.n, 1),
                lhs(i),
                rhs(i),
                false,
                gemm::Parallelism::None,
            )
        });
    } else {
        for (i, dst) in o.chunks_mut(mat).enumerate() {
            split_over_threads(d, dst, lhs(i), rhs(i));
        }
    }
}

/// One product split evenly over the threads, each block a single-threaded
/// GEMM (cheaper to synchronize than a parallel GEMM at the sizes of a
/// training step). Each thread packs its share of one operand and all of
/// the other, so the split runs along the larger operand: rows of the
/// output when `lhs` is the larger, columns otherwise.
fn split_over_threads<T: GemmScalar>(d: Dims, dst: &mut [T], lhs: Mat<'_, T>, rhs: Mat<'_, T>) {
    let threads = parallel::num_threads();
    let work = d.m * d.n * d.k;
    if threads < 2 || work < 1 << 15 || (d.m < 2 * threads && d.n < 2 * threads) {
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
        return;
    }
    if d.n > d.m && d.n >= 2 * threads {
        split_cols(d, dst, lhs, rhs, threads);
        return;
    }
    let rows = d.m.div_ceil(threads);
    parallel::for_each_chunk(dst, rows * d.n, |c, block| {
        let m = block.len() / d.n;
        let part = Mat {
            offset: lhs.offset + c * rows * lhs.rs,
            ..lhs
        };
        gemm_into(
            m,
            d.n,
            d.k,
            block,
            (d.n, 1),
            part,
            rhs,
            false,
            gemm::Parallelism::None,
        );
    });
}

/// A pointer the column tasks of [`split_cols`] share.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);

// SAFETY: the tasks that receive a `SharedOut` write disjoint elements
// (see `split_cols`), and `T` itself is `Send`.
unsafe impl<T: Send> Send for SharedOut<T> {}
// SAFETY: as above; the pointer is only read to compute addresses.
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    fn get(&self) -> *mut T {
        self.0
    }
}

/// The output's columns split over `threads` tasks.
fn split_cols<T: GemmScalar>(
    d: Dims,
    dst: &mut [T],
    lhs: Mat<'_, T>,
    rhs: Mat<'_, T>,
    threads: usize,
) {
    assert!(
        lhs.fits(d.m, d.k) && rhs.fits(d.k, d.n),
        "gemm operands exceed their buffers"
    );
    assert!(d.m * d.n <= dst.len(), "gemm output exceeds its buffer");
    let cols = d.n.div_ceil(threads);
    let out = SharedOut(dst.as_mut_ptr());
    parallel::for_each_index(threads, |c| {
        let (n0, n1) = (c * cols, ((c + 1) * cols).min(d.n));
        if n0 >= n1 {
            return;
        }
        // SAFETY: this task writes columns n0..n1 of the m x n row-major
        // block at `out`, which lies inside `dst` (asserted above); the other
        // tasks write other columns, and `dst` stays mutably borrowed until
        // all tasks end. The operands are only read and fit their buffers
        // (asserted above), the column offset n0 staying inside `rhs`.
        unsafe {
            gemm_raw(
                (d.m, n1 - n0, d.k),
                out.get().add(n0),
                (d.n, 1),
                lhs,
                Mat {
                    offset: rhs.offset + n0 * rhs.cs,
                    ..rhs
                },
                false,
                gemm::Parallelism::None,
            )
        }
    });
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
        // (twice, both with a broadcast lhs, the second a wide one); one
        // product split over threads by rows (lhs larger) and one by
        // columns (rhs larger); large products one after another.
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
}
