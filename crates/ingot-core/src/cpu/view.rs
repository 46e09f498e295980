//! Strided views of CPU buffers: how reshape, permute, expand and slice cost
//! nothing on the CPU. A view maps a logical row-major index to an element
//! offset in its buffer.

use crate::shape::{contiguous_strides, numel};

/// A logical shape laid over a buffer with per-axis strides (in elements) and
/// a starting offset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct View {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

impl View {
    /// The row-major view of a whole buffer.
    pub fn contiguous(shape: &[usize]) -> View {
        View {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// Whether the elements are consecutive in row-major order (from `offset`).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Contiguous, starting at 0 and covering a buffer of `len` elements.
    pub fn is_whole(&self, len: usize) -> bool {
        self.offset == 0 && self.numel() == len && self.is_contiguous()
    }

    pub fn permute(&self, perm: &[usize]) -> View {
        View {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// Broadcast to `shape` (same rank; only size-1 axes grow).
    pub fn expand(&self, shape: &[usize]) -> View {
        let strides = self
            .shape
            .iter()
            .zip(&self.strides)
            .zip(shape)
            .map(|((&from, &s), &to)| if from == to { s } else { 0 })
            .collect();
        View {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        }
    }

    pub fn slice(&self, start: &[usize], step: &[usize], shape: &[usize]) -> View {
        let offset = self.offset
            + start
                .iter()
                .zip(&self.strides)
                .map(|(a, s)| a * s)
                .sum::<usize>();
        let strides = self.strides.iter().zip(step).map(|(s, k)| s * k).collect();
        View {
            shape: shape.to_vec(),
            strides,
            offset,
        }
    }

    /// The same elements under a new row-major shape, when strides allow it
    /// without copying (as `torch.Tensor.view` decides).
    pub fn reshape(&self, shape: &[usize]) -> Option<View> {
        if self.is_contiguous() {
            return Some(View {
                shape: shape.to_vec(),
                strides: contiguous_strides(shape),
                offset: self.offset,
            });
        }
        if self.numel() == 0 {
            return Some(View::contiguous(shape));
        }
        // Walk the old axes from the last, grouping them into chunks that are
        // contiguous among themselves; each chunk must be covered exactly by
        // a run of new axes, which get strides inside the chunk.
        let mut strides = vec![0; shape.len()];
        let mut new_axis = shape.len();
        let mut chunk_stride = *self.strides.last().unwrap_or(&1);
        let (mut chunk_numel, mut covered) = (1usize, 1usize);
        for d in (0..self.shape.len()).rev() {
            chunk_numel *= self.shape[d];
            let chunk_ends = d == 0
                || (self.shape[d - 1] != 1 && self.strides[d - 1] != chunk_numel * chunk_stride);
            if !chunk_ends {
                continue;
            }
            while new_axis > 0 && (covered < chunk_numel || shape[new_axis - 1] == 1) {
                new_axis -= 1;
                strides[new_axis] = covered * chunk_stride;
                covered *= shape[new_axis];
            }
            if covered != chunk_numel {
                return None;
            }
            if d > 0 {
                chunk_stride = self.strides[d - 1];
                chunk_numel = 1;
                covered = 1;
            }
        }
        if new_axis != 0 {
            return None;
        }
        Some(View {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Merges neighbouring axes that step through memory as one (same linear
    /// order, fewer axes): most views collapse to one or two axes.
    pub fn coalesced(&self) -> View {
        let mut shape: Vec<usize> = Vec::with_capacity(self.shape.len());
        let mut strides: Vec<usize> = Vec::with_capacity(self.shape.len());
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            if d == 1 {
                continue;
            }
            match (shape.last_mut(), strides.last_mut()) {
                (Some(ld), Some(ls)) if *ls == s * d => {
                    *ld *= d;
                    *ls = s;
                }
                _ => {
                    shape.push(d);
                    strides.push(s);
                }
            }
        }
        if shape.is_empty() || self.numel() == 0 {
            shape = vec![self.numel()];
            strides = vec![1];
        }
        View {
            shape,
            strides,
            offset: self.offset,
        }
    }

    /// Element offset of the logical index `linear`.
    pub fn offset_of(&self, mut linear: usize) -> usize {
        let mut off = self.offset;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            off += (linear % d) * s;
            linear /= d;
        }
        off
    }

    /// Calls `f(buffer_offset, stride, len, position)` for runs of the logical
    /// range `start..start + len` that are evenly strided along the last axis.
    pub fn for_each_run(
        &self,
        start: usize,
        len: usize,
        mut f: impl FnMut(usize, usize, usize, usize),
    ) {
        if len == 0 {
            return;
        }
        let rank = self.shape.len();
        if rank == 0 {
            f(self.offset, 0, len, 0);
            return;
        }
        if rank == 1 {
            f(
                self.offset + start * self.strides[0],
                self.strides[0],
                len,
                0,
            );
            return;
        }
        let last = rank - 1;
        // The odometer lives on the stack for the ranks views have in practice.
        let mut small = [0usize; 8];
        let mut large = Vec::new();
        let idx: &mut [usize] = if rank <= small.len() {
            &mut small[..rank]
        } else {
            large.resize(rank, 0);
            &mut large
        };
        let mut rem = start;
        for a in (0..rank).rev() {
            idx[a] = rem % self.shape[a];
            rem /= self.shape[a];
        }
        let mut off: usize = self.offset
            + idx
                .iter()
                .zip(&self.strides)
                .map(|(i, s)| i * s)
                .sum::<usize>();
        let mut pos = 0;
        while pos < len {
            let run = (self.shape[last] - idx[last]).min(len - pos);
            f(off, self.strides[last], run, pos);
            pos += run;
            if pos == len {
                break;
            }
            // Advance the odometer past the run.
            off += run * self.strides[last];
            idx[last] += run;
            let mut a = last;
            while idx[a] == self.shape[a] && a > 0 {
                off -= idx[a] * self.strides[a];
                idx[a] = 0;
                a -= 1;
                idx[a] += 1;
                off += self.strides[a];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(v: &View) -> Vec<usize> {
        let mut out = vec![0; v.numel()];
        v.for_each_run(0, v.numel(), |off, stride, len, pos| {
            for i in 0..len {
                out[pos + i] = off + i * stride;
            }
        });
        out
    }

    #[test]
    fn runs_match_offset_of() {
        let v = View::contiguous(&[2, 3, 4]).permute(&[2, 0, 1]).slice(
            &[1, 0, 1],
            &[2, 1, 1],
            &[2, 2, 2],
        );
        let expected: Vec<usize> = (0..v.numel()).map(|i| v.offset_of(i)).collect();
        assert_eq!(offsets(&v), expected);
        assert_eq!(offsets(&v.coalesced()), expected);
    }

    #[test]
    fn partial_runs_start_mid_axis() {
        let v = View::contiguous(&[3, 5]).permute(&[1, 0]);
        let mut seen = Vec::new();
        v.for_each_run(4, 6, |off, stride, len, pos| {
            for i in 0..len {
                seen.push((pos + i, off + i * stride));
            }
        });
        let expected: Vec<(usize, usize)> = (0..6).map(|i| (i, v.offset_of(4 + i))).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn reshape_of_transposed_view_needs_a_copy() {
        let t = View::contiguous(&[2, 3]).permute(&[1, 0]);
        assert!(t.reshape(&[6]).is_none());
        let r = t.reshape(&[3, 1, 2]).unwrap();
        let expected: Vec<usize> = (0..6).map(|i| t.offset_of(i)).collect();
        assert_eq!((0..6).map(|i| r.offset_of(i)).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn reshape_splits_and_merges_contiguous_runs() {
        let v = View::contiguous(&[4, 6]).slice(&[0, 0], &[1, 1], &[4, 3]);
        let r = v.reshape(&[2, 2, 3]).unwrap();
        let expected: Vec<usize> = (0..12).map(|i| v.offset_of(i)).collect();
        assert_eq!(
            (0..12).map(|i| r.offset_of(i)).collect::<Vec<_>>(),
            expected
        );
        assert!(v.reshape(&[12]).is_none());
    }

    #[test]
    fn expand_gives_zero_strides() {
        let v = View::contiguous(&[1, 3]).expand(&[2, 3]);
        assert_eq!(offsets(&v), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(
            View::contiguous(&[1]).expand(&[4]).coalesced().strides,
            vec![0]
        );
    }
}
