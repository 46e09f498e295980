//! Ops over tensors large enough to take the CPU kernels' parallel, tiled
//! and batched paths, through the public API, against values computed here
//! one element at a time.

use half::f16;
use ingot::{DType, Device, Tensor};

fn randn(shape: &[usize]) -> (Tensor, Vec<f32>) {
    let t = Tensor::randn(shape, DType::F32, &Device::cpu()).unwrap();
    let v = t.to_vec::<f32>().unwrap();
    (t, v)
}

/// A transposed matrix wide enough to be copied tile by tile before an
/// elementwise op, and an NCHW batch moved to NHWC.
#[test]
fn elementwise_ops_over_large_transposes_read_the_right_elements() {
    let (x, v) = randn(&[300, 500]);
    let y = x
        .t()
        .unwrap()
        .mul_scalar(2.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    for i in 0..500 {
        for j in 0..300 {
            assert_eq!(y[i * 300 + j], 2.0 * v[j * 500 + i], "({i}, {j})");
        }
    }
    let (n, c, h, w) = (8, 32, 20, 20);
    let (x, v) = randn(&[n, c, h, w]);
    let y = x
        .permute(&[0, 2, 3, 1])
        .unwrap()
        .add_scalar(1.0)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    for (k, &got) in y.iter().enumerate() {
        let (b, p, ch) = (k / (h * w * c), k / c % (h * w), k % c);
        assert_eq!(got, v[(b * c + ch) * h * w + p] + 1.0, "element {k}");
    }
}

/// f32 -> f16 -> f32 and f32 -> bf16 -> f32 over a million values round
/// as `half` rounds each one.
#[test]
fn half_precision_round_trips_round_each_value() {
    let (x, v) = randn(&[1000, 1000]);
    let back = |dtype| {
        x.to_dtype(dtype)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    let want: Vec<f32> = v.iter().map(|&a| f16::from_f32(a).to_f32()).collect();
    assert_eq!(back(DType::F16), want);
    let want: Vec<f32> = v
        .iter()
        .map(|&a| half::bf16::from_f32(a).to_f32())
        .collect();
    assert_eq!(back(DType::BF16), want);
}

/// Padding the last two axes of a batch of images, unevenly.
#[test]
fn large_pads_place_every_element() {
    let (n, c, h, w) = (16, 8, 30, 30);
    let (x, v) = randn(&[n, c, h, w]);
    let y = x.pad(&[(2, 1), (1, 3)], -7.0).unwrap();
    assert_eq!(y.shape(), &[n, c, h + 4, w + 3]);
    let y = y.to_vec::<f32>().unwrap();
    let (oh, ow) = (h + 4, w + 3);
    for (k, &got) in y.iter().enumerate() {
        let (plane, r, col) = (k / (oh * ow), k / ow % oh, k % ow);
        let inside = (1..1 + h).contains(&r) && (2..2 + w).contains(&col);
        let want = if inside {
            v[plane * h * w + (r - 1) * w + col - 2]
        } else {
            -7.0
        };
        assert_eq!(got, want, "element {k}");
    }
}

/// Row maxima and their first positions over [700, 1000], one row holding
/// NaNs (it gives NaN at the first of them, as PyTorch does).
#[test]
fn row_maxima_and_argmax_over_many_rows() {
    let (rows, cols) = (700, 1000);
    let (_, mut v) = randn(&[rows, cols]);
    v[3 * cols + 500] = f32::NAN;
    v[3 * cols + 900] = f32::NAN;
    let x = Tensor::from_vec(v.clone(), &[rows, cols], &Device::cpu()).unwrap();
    let max = x.max(&[-1], false).unwrap().to_vec::<f32>().unwrap();
    let at = x.argmax(-1, false).unwrap().to_vec::<i64>().unwrap();
    for r in 0..rows {
        let row = &v[r * cols..][..cols];
        let want = row.iter().position(|x| x.is_nan()).unwrap_or_else(|| {
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            row.iter().position(|&x| x == m).unwrap()
        });
        assert_eq!(at[r], want as i64, "row {r}");
        assert!(
            max[r] == row[want] || (max[r].is_nan() && row[want].is_nan()),
            "row {r}"
        );
    }
}

/// A million standard normals and uniforms, drawn in batches over the
/// threads, have the right moments.
#[test]
fn large_draws_have_the_right_moments() {
    let dev = Device::cpu();
    let moments = |t: Tensor| {
        let v = t.to_vec::<f32>().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    };
    let (mean, var) = moments(Tensor::randn(&[1 << 20], DType::F32, &dev).unwrap());
    assert!(
        mean.abs() < 0.006 && (var - 1.0).abs() < 0.009,
        "normal: {mean}, {var}"
    );
    let (mean, var) = moments(Tensor::rand(&[1 << 20], DType::F32, &dev).unwrap());
    assert!(
        (mean - 0.5).abs() < 0.002 && (var - 1.0 / 12.0).abs() < 0.001,
        "uniform: {mean}, {var}"
    );
}

/// The same kernels on empty tensors: no values, no panic.
#[test]
fn empty_tensors_pass_through_the_same_kernels() {
    let dev = Device::cpu();
    let x = Tensor::zeros(&[0, 5], DType::F32, &dev).unwrap();
    assert_eq!(x.t().unwrap().to_vec::<f32>().unwrap(), Vec::<f32>::new());
    let y = x.t().unwrap().add_scalar(1.0).unwrap();
    assert_eq!(y.shape(), &[5, 0]);
    assert_eq!(y.to_vec::<f32>().unwrap(), Vec::<f32>::new());
    let h = x
        .to_dtype(DType::F16)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap();
    assert_eq!(h.to_vec::<f32>().unwrap(), Vec::<f32>::new());
    let p = x.pad(&[(1, 1)], 2.0).unwrap();
    assert_eq!(p.shape(), &[0, 7]);
    assert_eq!(p.to_vec::<f32>().unwrap(), Vec::<f32>::new());
    let q = x.t().unwrap().pad(&[(1, 0)], 2.0).unwrap();
    assert_eq!(q.to_vec::<f32>().unwrap(), vec![2.0; 5]);
    let m = x.t().unwrap().max(&[0], false).unwrap();
    assert_eq!(m.shape(), &[0]);
    let r = Tensor::randn(&[0, 3], DType::F32, &dev).unwrap();
    assert_eq!(r.to_vec::<f32>().unwrap(), Vec::<f32>::new());
}
