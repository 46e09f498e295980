//! Constants (`full`, `zeros`, `ones`) that a graph only reads are planned
//! as one value seen through a broadcast view; every kind of kernel reading
//! them gives what it gives for the same values stored in a buffer.

use ingot::{DType, Device, Tensor};

#[test]
fn kernels_read_constants_as_they_read_stored_values() {
    let d = Device::cpu();
    let x = Tensor::randn(&[64, 64], DType::F32, &d).unwrap();
    let c = Tensor::full(&[64, 64], 0.5, DType::F32, &d).unwrap();
    let m = Tensor::from_vec(vec![0.5f32; 64 * 64], &[64, 64], &d).unwrap();
    let cmp = |a: Tensor, b: Tensor, what: &str| {
        let (a, b) = (a.to_vec::<f32>().unwrap(), b.to_vec::<f32>().unwrap());
        assert_eq!(a, b, "{what}");
    };
    cmp(c.matmul(&x).unwrap(), m.matmul(&x).unwrap(), "const @ x");
    cmp(x.matmul(&c).unwrap(), x.matmul(&m).unwrap(), "x @ const");
    let img = Tensor::randn(&[2, 3, 8, 8], DType::F32, &d).unwrap();
    let wc = Tensor::full(&[4, 3, 3, 3], 0.25, DType::F32, &d).unwrap();
    let wm = Tensor::from_vec(vec![0.25f32; 108], &[4, 3, 3, 3], &d).unwrap();
    cmp(
        img.conv2d(&wc, None, 1, 1, 1, 1).unwrap(),
        img.conv2d(&wm, None, 1, 1, 1, 1).unwrap(),
        "conv const w",
    );
    let ic = Tensor::full(&[2, 3, 8, 8], 1.5, DType::F32, &d).unwrap();
    let im = Tensor::from_vec(vec![1.5f32; 384], &[2, 3, 8, 8], &d).unwrap();
    cmp(
        ic.conv2d(&wm, None, 1, 1, 1, 1).unwrap(),
        im.conv2d(&wm, None, 1, 1, 1, 1).unwrap(),
        "conv const x",
    );
    cmp(
        ic.max_pool2d(2, 2, 0).unwrap(),
        im.max_pool2d(2, 2, 0).unwrap(),
        "maxpool const",
    );
    cmp(
        Tensor::cat(&[&c, &x], 0).unwrap(),
        Tensor::cat(&[&m, &x], 0).unwrap(),
        "cat",
    );
    cmp(c.softmax(-1).unwrap(), m.softmax(-1).unwrap(), "softmax");
    cmp(
        c.sum(&[0], false).unwrap(),
        m.sum(&[0], false).unwrap(),
        "sum",
    );
    cmp(
        c.reshape(&[4096]).unwrap().add_scalar(1.0).unwrap(),
        m.reshape(&[4096]).unwrap().add_scalar(1.0).unwrap(),
        "reshape",
    );
    cmp(
        c.pad(&[(1, 2)], 3.0).unwrap(),
        m.pad(&[(1, 2)], 3.0).unwrap(),
        "pad",
    );
    let idx = Tensor::arange(0.0, 64.0, 2.0, DType::I64, &d).unwrap();
    cmp(
        c.index_select(0, &idx).unwrap(),
        m.index_select(0, &idx).unwrap(),
        "index_select",
    );
    let xs = x.requires_grad_(true);
    let loss = xs.mul(&c).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    cmp(xs.grad().unwrap(), m.clone(), "grad of x * const");
}
