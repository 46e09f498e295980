//! 2-D max and average pooling and their gradients, one (image, channel)
//! plane per task.

use rayon::prelude::*;

use super::{FloatKernel, KernelFloat};
use crate::Result;
use crate::ir::Pool2dParams;

/// One plane's window geometry.
#[derive(Clone, Copy)]
struct Planes {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Planes {
    /// The input rows and columns of window `(oy, ox)`, clipped to the
    /// input, and the window's size including padding.
    fn window(
        &self,
        p: &Pool2dParams,
        oy: usize,
        ox: usize,
    ) -> (std::ops::Range<usize>, std::ops::Range<usize>, usize) {
        let span = |o: usize, axis: usize, size: usize| {
            let start = (o * p.stride[axis]) as isize - p.padding[axis] as isize;
            let end = (start + p.kernel[axis] as isize).min((size + p.padding[axis]) as isize);
            let padded = (end - start) as usize;
            (
                start.max(0) as usize..end.min(size as isize).max(0) as usize,
                padded,
            )
        };
        let (rows, ph) = span(oy, 0, self.h);
        let (cols, pw) = span(ox, 1, self.w);
        (rows, cols, ph * pw)
    }
}

fn planes(input: &[usize], output: &[usize]) -> Planes {
    Planes {
        h: input[2],
        w: input[3],
        oh: output[2],
        ow: output[3],
    }
}

/// Index (in the plane) of the window's first maximum; NaN wins.
fn argmax<T: KernelFloat>(
    x: &[T],
    g: &Planes,
    p: &Pool2dParams,
    oy: usize,
    ox: usize,
) -> Option<usize> {
    let (rows, cols, _) = g.window(p, oy, ox);
    let mut best: Option<(usize, T)> = None;
    for iy in rows {
        for ix in cols.clone() {
            let v = x[iy * g.w + ix];
            match best {
                Some((_, b)) if !(v > b || v.is_nan()) || b.is_nan() => {}
                _ => best = Some((iy * g.w + ix, v)),
            }
        }
    }
    best.map(|(i, _)| i)
}

pub(crate) struct MaxForward {
    pub p: Pool2dParams,
}

impl FloatKernel for MaxForward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let g = planes(shapes[0], out_shape);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_out == 0 {
            return Ok(());
        }
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(pl, dst)| {
                let x = &args[0][pl * plane_in..][..plane_in];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        dst[oy * g.ow + ox] =
                            argmax(x, &g, &self.p, oy, ox).map_or(T::neg_infinity(), |i| x[i]);
                    }
                }
            });
        Ok(())
    }
}

pub(crate) struct MaxBackward {
    pub p: Pool2dParams,
}

impl FloatKernel for MaxBackward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let (grad, x) = (args[0], args[1]);
        let g = planes(out_shape, shapes[0]);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_in == 0 {
            return Ok(());
        }
        out.par_chunks_mut(plane_in)
            .enumerate()
            .for_each(|(pl, dx)| {
                dx.fill(T::zero());
                let xs = &x[pl * plane_in..][..plane_in];
                let gs = &grad[pl * plane_out..][..plane_out];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        if let Some(i) = argmax(xs, &g, &self.p, oy, ox) {
                            dx[i] += gs[oy * g.ow + ox];
                        }
                    }
                }
            });
        Ok(())
    }
}

pub(crate) struct AvgForward {
    pub p: Pool2dParams,
}

impl FloatKernel for AvgForward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let g = planes(shapes[0], out_shape);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_out == 0 {
            return Ok(());
        }
        out.par_chunks_mut(plane_out)
            .enumerate()
            .for_each(|(pl, dst)| {
                let x = &args[0][pl * plane_in..][..plane_in];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let (rows, cols, padded) = g.window(&self.p, oy, ox);
                        let count = if self.p.count_include_pad {
                            padded
                        } else {
                            rows.len() * cols.len()
                        };
                        let mut sum = T::zero();
                        for iy in rows {
                            sum += x[iy * g.w + cols.start..iy * g.w + cols.end]
                                .iter()
                                .copied()
                                .sum::<T>();
                        }
                        dst[oy * g.ow + ox] = sum / T::from(count.max(1)).unwrap_or_else(T::one);
                    }
                }
            });
        Ok(())
    }
}

pub(crate) struct AvgBackward {
    pub p: Pool2dParams,
}

impl FloatKernel for AvgBackward {
    fn run<T: KernelFloat>(
        &self,
        args: &[&[T]],
        shapes: &[&[usize]],
        out_shape: &[usize],
        out: &mut [T],
    ) -> Result<()> {
        let g = planes(out_shape, shapes[0]);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        if plane_in == 0 {
            return Ok(());
        }
        out.par_chunks_mut(plane_in)
            .enumerate()
            .for_each(|(pl, dx)| {
                dx.fill(T::zero());
                let gs = &args[0][pl * plane_out..][..plane_out];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let (rows, cols, padded) = g.window(&self.p, oy, ox);
                        let count = if self.p.count_include_pad {
                            padded
                        } else {
                            rows.len() * cols.len()
                        };
                        let share =
                            gs[oy * g.ow + ox] / T::from(count.max(1)).unwrap_or_else(T::one);
                        for iy in rows {
                            for v in &mut dx[iy * g.w + cols.start..iy * g.w + cols.end] {
                                *v += share;
                            }
                        }
                    }
                }
            });
        Ok(())
    }
}
