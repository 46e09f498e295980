//! Constants (`full`, `zeros`, `ones`) that a graph only reads are planned
//! as one value seen through a broadcast view; every kind of kernel reading
//! them gives what it gives for the same values stored in a buffer.

use ingot::{DType, Device, Tensor};

/// `op` of the constant `value` of `shape`, and of the same values stored,
/// are equal.
fn same_as_stored(shape: &[usize], value: f32, op: impl Fn(&Tensor) -> Tensor, what: &str) {
    let d = Device::cpu();
    let constant = Tensor::full(shape, value as f64, DType::F32, &d).unwrap();
    let n = shape.iter().product();
    let stored = Tensor::from_vec(vec![value; n], shape, &d).unwrap();
    assert_eq!(
        op(&constant).to_vec::<f32>().unwrap(),
        op(&stored).to_vec::<f32>().unwrap(),
        "{what}"
    );
}

#[test]
fn kernels_read_constants_as_they_read_stored_values() {
    let d = Device::cpu();
    let x = Tensor::randn(&[64, 64], DType::F32, &d).unwrap();
    let img = Tensor::randn(&[2, 3, 8, 8], DType::F32, &d).unwrap();
    let w = Tensor::randn(&[4, 3, 3, 3], DType::F32, &d).unwrap();
    let idx = Tensor::arange(0.0, 64.0, 2.0, DType::I64, &d).unwrap();
    let m = [64, 64];
    same_as_stored(&m, 0.5, |c| c.matmul(&x).unwrap(), "const @ x");
    same_as_stored(&m, 0.5, |c| x.matmul(c).unwrap(), "x @ const");
    same_as_stored(&m, 0.5, |c| Tensor::cat(&[c, &x], 0).unwrap(), "cat");
    same_as_stored(&m, 0.5, |c| c.softmax(-1).unwrap(), "softmax");
    same_as_stored(&m, 0.5, |c| c.sum(&[0], false).unwrap(), "sum");
    same_as_stored(
        &m,
        0.5,
        |c| c.reshape(&[4096]).unwrap().add_scalar(1.0).unwrap(),
        "reshape",
    );
    same_as_stored(&m, 0.5, |c| c.pad(&[(1, 2)], 3.0).unwrap(), "pad");
    same_as_stored(
        &m,
        0.5,
        |c| c.index_select(0, &idx).unwrap(),
        "index_select",
    );
    let conv = |x: &Tensor, w: &Tensor| x.conv2d(w, None, 1, 1, 1, 1).unwrap();
    same_as_stored(
        &[4, 3, 3, 3],
        0.25,
        |c| conv(&img, c),
        "conv, constant filters",
    );
    same_as_stored(&[2, 3, 8, 8], 1.5, |c| conv(c, &w), "conv, constant image");
    same_as_stored(
        &[2, 3, 8, 8],
        1.5,
        |c| c.max_pool2d(2, 2, 0).unwrap(),
        "max pool",
    );
    // The gradient of x * constant is the constant.
    same_as_stored(
        &m,
        0.5,
        |c| {
            let x = Tensor::randn(&[64, 64], DType::F32, &d)
                .unwrap()
                .requires_grad_(true);
            x.mul(c).unwrap().sum_all().unwrap().backward().unwrap();
            x.grad().unwrap()
        },
        "grad of x * const",
    );
}
