//! Matrix multiplication, convolution and pooling, as MPSGraph documents
//! them, with `NCHW` data and `OIHW` weights:
//!
//! - `matrixMultiplicationWithPrimaryTensor:secondaryTensor:`: the last two
//!   axes multiply, leading axes broadcast
//!   (<https://developer.apple.com/documentation/metalperformanceshadersgraph/mpsgraph/matrixmultiplication(primary:secondary:name:)>);
//! - `convolution2DWithSourceTensor:weightsTensor:descriptor:` and its data
//!   and weights gradients: cross-correlation with the descriptor's strides,
//!   dilation rates, explicit paddings and groups
//!   (<https://developer.apple.com/documentation/metalperformanceshadersgraph/mpsgraphconvolution2dopdescriptor>);
//! - `maxPooling2D` / `avgPooling2D` and their gradients with a
//!   `MPSGraphPooling2DOpDescriptor`: padding never wins a maximum;
//!   `includeZeroPadToAverage` divides by the whole window, otherwise by
//!   the elements inside the source. Apple does not document which of tied
//!   maxima receives the gradient; the simulator gives it to the first (the
//!   IR's rule), which the tests on a Mac check against the GPU.

use ingot_core::Result;

use super::value::{Data, Value, broadcast_index, sim_error};
use crate::program::{Convolution2DDescriptor, MpsType, Pooling2DDescriptor};

fn floats_out(out: &MpsType, v: Vec<f64>) -> Value {
    Value::normalized(
        out.clone(),
        Data::F(v.into_iter().map(|x| x as f32).collect()),
    )
}

/// `matrixMultiplicationWithPrimaryTensor:secondaryTensor:`.
pub fn matmul(a: &Value, b: &Value, out: &MpsType) -> Result<Value> {
    let (x, y) = (
        a.floats("matrixMultiplication")?,
        b.floats("matrixMultiplication")?,
    );
    let r = out.shape.len();
    if r < 2 || a.ty.shape.len() < 2 || b.ty.shape.len() < 2 {
        return Err(sim_error(
            "matrixMultiplication needs tensors of rank 2 or more",
        ));
    }
    let (m, n) = (out.shape[r - 2], out.shape[r - 1]);
    let k = a.ty.shape[a.ty.shape.len() - 1];
    let batch = &out.shape[..r - 2];
    let ia = broadcast_index(&a.ty.shape[..a.ty.shape.len() - 2], batch);
    let ib = broadcast_index(&b.ty.shape[..b.ty.shape.len() - 2], batch);
    let mut result = vec![0.0f64; out.numel()];
    for (bi, (&pa, &pb)) in ia.iter().zip(&ib).enumerate() {
        let (xa, yb) = (&x[pa * m * k..], &y[pb * k * n..]);
        for i in 0..m {
            for j in 0..n {
                result[(bi * m + i) * n + j] = (0..k)
                    .map(|t| xa[i * k + t] as f64 * yb[t * n + j] as f64)
                    .sum();
            }
        }
    }
    Ok(floats_out(out, result))
}

/// Calls `f(out_index, source_index, weight_index)` for every product of a
/// 2-D convolution with source `[N, C, H, W]`, weights `[O, C/g, kh, kw]`
/// and result `[N, O, oh, ow]` (products with padding are skipped).
fn conv_products(
    source: &[usize],
    weights: &[usize],
    out: &[usize],
    d: &Convolution2DDescriptor,
    mut f: impl FnMut(usize, usize, usize),
) {
    let (n, c, h, w) = (source[0], source[1], source[2], source[3]);
    let (o, cg, kh, kw) = (weights[0], weights[1], weights[2], weights[3]);
    let (oh, ow) = (out[2], out[3]);
    let og = o / d.groups.max(1);
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og.max(1);
            for y in 0..oh {
                for x in 0..ow {
                    let oi = ((b * o + oc) * oh + y) * ow + x;
                    for ci in 0..cg {
                        let ch = g * cg + ci;
                        for ky in 0..kh {
                            let iy = (y * d.stride_in_y + ky * d.dilation_rate_in_y)
                                .checked_sub(d.padding_top)
                                .filter(|&v| v < h);
                            let Some(iy) = iy else { continue };
                            for kx in 0..kw {
                                let ix = (x * d.stride_in_x + kx * d.dilation_rate_in_x)
                                    .checked_sub(d.padding_left)
                                    .filter(|&v| v < w);
                                let Some(ix) = ix else { continue };
                                let si = ((b * c + ch) * h + iy) * w + ix;
                                let wi = ((oc * cg + ci) * kh + ky) * kw + kx;
                                f(oi, si, wi);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `convolution2DWithSourceTensor:weightsTensor:descriptor:`.
pub fn convolution(
    source: &Value,
    weights: &Value,
    d: &Convolution2DDescriptor,
    out: &MpsType,
) -> Result<Value> {
    let (s, w) = (
        source.floats("convolution2D")?,
        weights.floats("convolution2D")?,
    );
    let mut acc = vec![0.0f64; out.numel()];
    conv_products(
        &source.ty.shape,
        &weights.ty.shape,
        &out.shape,
        d,
        |oi, si, wi| acc[oi] += s[si] as f64 * w[wi] as f64,
    );
    Ok(floats_out(out, acc))
}

/// `convolution2DDataGradientWithIncomingGradientTensor:weightsTensor:outputShape:...`.
pub fn convolution_data_gradient(
    gradient: &Value,
    weights: &Value,
    d: &Convolution2DDescriptor,
    out: &MpsType,
) -> Result<Value> {
    let (g, w) = (
        gradient.floats("convolution2DDataGradient")?,
        weights.floats("convolution2DDataGradient")?,
    );
    let mut acc = vec![0.0f64; out.numel()];
    conv_products(
        &out.shape,
        &weights.ty.shape,
        &gradient.ty.shape,
        d,
        |oi, si, wi| acc[si] += g[oi] as f64 * w[wi] as f64,
    );
    Ok(floats_out(out, acc))
}

/// `convolution2DWeightsGradientWithIncomingGradientTensor:sourceTensor:outputShape:...`.
pub fn convolution_weights_gradient(
    gradient: &Value,
    source: &Value,
    d: &Convolution2DDescriptor,
    out: &MpsType,
) -> Result<Value> {
    let (g, s) = (
        gradient.floats("convolution2DWeightsGradient")?,
        source.floats("convolution2DWeightsGradient")?,
    );
    let mut acc = vec![0.0f64; out.numel()];
    conv_products(
        &source.ty.shape,
        &out.shape,
        &gradient.ty.shape,
        d,
        |oi, si, wi| acc[wi] += g[oi] as f64 * s[si] as f64,
    );
    Ok(floats_out(out, acc))
}

/// Calls `f(out_index, window)` for each pooling window of a source
/// `[N, C, H, W]` and result `[N, C, oh, ow]`; `window` lists the source
/// indices inside the source and how many kernel positions fell on padding.
fn pool_windows(
    source: &[usize],
    out: &[usize],
    d: &Pooling2DDescriptor,
    mut f: impl FnMut(usize, &[usize], usize),
) {
    let (n, c, h, w) = (source[0], source[1], source[2], source[3]);
    let (oh, ow) = (out[2], out[3]);
    let mut window = Vec::with_capacity(d.kernel_height * d.kernel_width);
    for plane in 0..n * c {
        for y in 0..oh {
            for x in 0..ow {
                window.clear();
                let mut padded = 0;
                for ky in 0..d.kernel_height {
                    for kx in 0..d.kernel_width {
                        let iy = (y * d.stride_in_y + ky)
                            .checked_sub(d.padding_top)
                            .filter(|&v| v < h);
                        let ix = (x * d.stride_in_x + kx)
                            .checked_sub(d.padding_left)
                            .filter(|&v| v < w);
                        match (iy, ix) {
                            (Some(iy), Some(ix)) => window.push((plane * h + iy) * w + ix),
                            _ => padded += 1,
                        }
                    }
                }
                f((plane * oh + y) * ow + x, &window, padded);
            }
        }
    }
}

/// The first maximum of `window` in `v` (NaN wins).
fn first_max(v: &[f32], window: &[usize]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for &i in window {
        best = match best {
            None => Some(i),
            Some(b) if v[b].is_nan() => Some(b),
            Some(_) if v[i].is_nan() => Some(i),
            Some(b) if v[i] > v[b] => Some(i),
            keep => keep,
        };
    }
    best
}

/// `maxPooling2DWithSourceTensor:descriptor:`.
pub fn max_pool(source: &Value, d: &Pooling2DDescriptor, out: &MpsType) -> Result<Value> {
    let s = source.floats("maxPooling2D")?;
    let mut acc = vec![f64::NEG_INFINITY; out.numel()];
    pool_windows(&source.ty.shape, &out.shape, d, |oi, window, _| {
        if let Some(i) = first_max(s, window) {
            acc[oi] = s[i] as f64;
        }
    });
    Ok(floats_out(out, acc))
}

/// `maxPooling2DGradientWithGradientTensor:sourceTensor:descriptor:`.
pub fn max_pool_gradient(
    gradient: &Value,
    source: &Value,
    d: &Pooling2DDescriptor,
) -> Result<Value> {
    let (g, s) = (
        gradient.floats("maxPooling2DGradient")?,
        source.floats("maxPooling2DGradient")?,
    );
    let mut acc = vec![0.0f64; source.ty.numel()];
    pool_windows(&source.ty.shape, &gradient.ty.shape, d, |oi, window, _| {
        if let Some(i) = first_max(s, window) {
            acc[i] += g[oi] as f64;
        }
    });
    Ok(floats_out(&source.ty, acc))
}

fn divisor(d: &Pooling2DDescriptor, inside: usize, padded: usize) -> f64 {
    if d.include_zero_pad_to_average {
        (inside + padded) as f64
    } else {
        inside.max(1) as f64
    }
}

/// `avgPooling2DWithSourceTensor:descriptor:`.
pub fn avg_pool(source: &Value, d: &Pooling2DDescriptor, out: &MpsType) -> Result<Value> {
    let s = source.floats("avgPooling2D")?;
    let mut acc = vec![0.0f64; out.numel()];
    pool_windows(&source.ty.shape, &out.shape, d, |oi, window, padded| {
        let sum: f64 = window.iter().map(|&i| s[i] as f64).sum();
        acc[oi] = sum / divisor(d, window.len(), padded);
    });
    Ok(floats_out(out, acc))
}

/// `avgPooling2DGradientWithGradientTensor:sourceTensor:descriptor:`.
pub fn avg_pool_gradient(
    gradient: &Value,
    source: &MpsType,
    d: &Pooling2DDescriptor,
) -> Result<Value> {
    let g = gradient.floats("avgPooling2DGradient")?;
    let mut acc = vec![0.0f64; source.numel()];
    pool_windows(
        &source.shape,
        &gradient.ty.shape,
        d,
        |oi, window, padded| {
            let share = g[oi] as f64 / divisor(d, window.len(), padded);
            for &i in window {
                acc[i] += share;
            }
        },
    );
    Ok(floats_out(source, acc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_padded_convolution_sums_the_right_neighbours() {
        let x = Value::f32s(&[1, 1, 2, 2], vec![1., 2., 3., 4.]);
        let w = Value::f32s(&[1, 1, 3, 3], vec![1.; 9]);
        let d = Convolution2DDescriptor {
            stride_in_x: 1,
            stride_in_y: 1,
            dilation_rate_in_x: 1,
            dilation_rate_in_y: 1,
            padding_left: 1,
            padding_right: 1,
            padding_top: 1,
            padding_bottom: 1,
            groups: 1,
        };
        let out = convolution(&x, &w, &d, &Value::f32s(&[1, 1, 2, 2], vec![]).ty).unwrap();
        assert_eq!(out.data, Data::F(vec![10.; 4]));
    }

    #[test]
    fn pooling_ignores_padding_for_max_and_counts_it_for_average() {
        let x = Value::f32s(&[1, 1, 2, 2], vec![-1., -2., -3., -4.]);
        let d = Pooling2DDescriptor {
            kernel_width: 2,
            kernel_height: 2,
            stride_in_x: 2,
            stride_in_y: 2,
            padding_left: 1,
            padding_right: 1,
            padding_top: 1,
            padding_bottom: 1,
            include_zero_pad_to_average: true,
        };
        let ty = Value::f32s(&[1, 1, 2, 2], vec![]).ty;
        assert_eq!(
            max_pool(&x, &d, &ty).unwrap().data,
            Data::F(vec![-1., -2., -3., -4.])
        );
        assert_eq!(
            avg_pool(&x, &d, &ty).unwrap().data,
            Data::F(vec![-0.25, -0.5, -0.75, -1.])
        );
        let g =
            max_pool_gradient(&Value::f32s(&[1, 1, 2, 2], vec![1., 2., 3., 4.]), &x, &d).unwrap();
        assert_eq!(g.data, Data::F(vec![1., 2., 3., 4.]));
    }
}
