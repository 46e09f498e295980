//! Softmax and log-softmax along one axis, max-shifted for stability.

use super::super::parallel;

use super::{FloatKernel, KernelFloat};
use crate::Result;

pub(crate) struct Softmax {
    pub axis: usize,
    pub log: bool,
}

impl FloatKernel for Softmax {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        _out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let shape = shapes[0];
        let len = shape[self.axis];
        let inner: usize = shape[self.axis + 1..].iter().product();
        let block = len * inner;
        if block == 0 {
            return Ok(());
        }
        let x = args[0];
        parallel::for_each_chunk_init(
            out,
            block,
            || (vec![T::zero(); inner], vec![T::zero(); inner]),
            |(maxes, sums), o, dst| {
                let src = &x[o * block..][..block];
                maxes.fill(T::neg_infinity());
                for row in src.chunks_exact(inner) {
                    for (m, &v) in maxes.iter_mut().zip(row) {
                        if v > *m || v.is_nan() {
                            *m = v;
                        }
                    }
                }
                sums.fill(T::zero());
                for (drow, row) in dst.chunks_exact_mut(inner).zip(src.chunks_exact(inner)) {
                    for (((d, &v), &m), s) in drow
                        .iter_mut()
                        .zip(row)
                        .zip(maxes.iter())
                        .zip(sums.iter_mut())
                    {
                        let e = (v - m).exp();
                        *s += e;
                        *d = if self.log { v - m } else { e };
                    }
                }
                // Turn each sum into what the row is finished with.
                for s in sums.iter_mut() {
                    *s = if self.log { s.ln() } else { T::one() / *s };
                }
                for drow in dst.chunks_exact_mut(inner) {
                    for (d, &s) in drow.iter_mut().zip(sums.iter()) {
                        *d = if self.log { *d - s } else { *d * s };
                    }
                }
            },
        );
        Ok(())
    }
}
