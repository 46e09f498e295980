//! Bad calls return the right `ingot::Error`, naming the op, and never panic.

use std::any::Any;
use std::sync::{Arc, Mutex};

use ingot::backend::{Backend, BackendBuffer, Buffer, Executable, MemoryStats};
use ingot::ir::{Graph, TensorType};
use ingot::{DType, Device, Error, HostData, Result, Tensor};

/// A second device: it stores uploads but runs no graphs. Enough to test
/// device checks and transfers.
#[derive(Debug)]
struct HostOnly;

#[derive(Debug)]
struct HostOnlyBuffer(Mutex<HostData>);

impl BackendBuffer for HostOnlyBuffer {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Backend for HostOnly {
    fn location(&self) -> String {
        "hostonly:0".into()
    }
    fn upload(&self, data: HostData) -> Result<Buffer> {
        Ok(Arc::new(HostOnlyBuffer(Mutex::new(data))))
    }
    fn download(&self, buffer: &Buffer, _ty: &TensorType) -> Result<HostData> {
        Ok(buffer
            .as_any()
            .downcast_ref::<HostOnlyBuffer>()
            .unwrap()
            .0
            .lock()
            .unwrap()
            .clone())
    }
    fn compile(&self, _graph: &Graph) -> Result<Arc<dyn Executable>> {
        Err(Error::Backend {
            backend: self.location(),
            msg: "runs no graphs".into(),
        })
    }
    fn memory(&self) -> MemoryStats {
        MemoryStats::default()
    }
    fn empty_cache(&self) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn f32s(shape: &[usize]) -> Tensor {
    Tensor::ones(shape, DType::F32, &Device::cpu()).unwrap()
}

fn i64s(v: Vec<i64>) -> Tensor {
    let n = v.len();
    Tensor::from_vec(v, &[n], &Device::cpu()).unwrap()
}

fn op_of(e: &Error) -> Option<&'static str> {
    match e {
        Error::Shape { op, .. }
        | Error::DimOutOfRange { op, .. }
        | Error::DType { op, .. }
        | Error::DeviceMismatch { op, .. }
        | Error::IndexOutOfBounds { op, .. }
        | Error::InvalidArgument { op, .. } => Some(op),
        _ => None,
    }
}

#[test]
fn bad_calls_return_the_expected_error() {
    let other = Device::new(Arc::new(HostOnly));
    let remote = Tensor::from_vec(vec![1.0f32; 6], &[2, 3], &other).unwrap();
    type Call = Box<dyn Fn() -> Result<Tensor>>;
    type Row = (&'static str, Call, fn(&Error) -> bool, &'static str);
    let table: Vec<Row> = vec![
        (
            "shapes that do not broadcast",
            Box::new(|| f32s(&[2, 3]).add(&f32s(&[4]))),
            |e| matches!(e, Error::Shape { .. }),
            "add",
        ),
        (
            "matmul inner sizes",
            Box::new(|| f32s(&[2, 3]).matmul(&f32s(&[4, 5]))),
            |e| matches!(e, Error::Shape { .. }),
            "matmul",
        ),
        (
            "reduction dim out of range",
            Box::new(|| f32s(&[2, 3]).sum(&[2], false)),
            |e| {
                matches!(
                    e,
                    Error::DimOutOfRange {
                        dim: 2,
                        rank: 2,
                        ..
                    }
                )
            },
            "sum",
        ),
        (
            "repeated reduction dim",
            Box::new(|| f32s(&[2, 3]).sum(&[1, -1], false)),
            |e| matches!(e, Error::InvalidArgument { .. }),
            "sum",
        ),
        (
            "reshape to the wrong size",
            Box::new(|| f32s(&[2, 3]).reshape(&[4, 2])),
            |e| matches!(e, Error::Shape { .. }),
            "reshape",
        ),
        (
            "two inferred dims",
            Box::new(|| f32s(&[2, 3]).reshape(&[-1, -1])),
            |e| matches!(e, Error::Shape { .. }),
            "reshape",
        ),
        (
            "permute with a repeat",
            Box::new(|| f32s(&[2, 3]).permute(&[0, 0])),
            |e| matches!(e, Error::InvalidArgument { .. }),
            "permute",
        ),
        (
            "expand a non-1 dim",
            Box::new(|| f32s(&[2, 3]).expand(&[4, 3])),
            |e| matches!(e, Error::Shape { .. }),
            "expand",
        ),
        (
            "narrow past the end",
            Box::new(|| f32s(&[2, 3]).narrow(1, 2, 2)),
            |e| matches!(e, Error::InvalidArgument { .. }),
            "narrow",
        ),
        (
            "cat of mismatched shapes",
            Box::new(|| Tensor::cat(&[&f32s(&[2, 3]), &f32s(&[3, 2])], 0)),
            |e| matches!(e, Error::Shape { .. }),
            "cat",
        ),
        (
            "mean of integers",
            Box::new(|| i64s(vec![1, 2]).mean(&[0], false)),
            |e| matches!(e, Error::DType { .. }),
            "mean",
        ),
        (
            "where with a float condition",
            Box::new(|| Tensor::where_cond(&f32s(&[2]), &f32s(&[2]), &f32s(&[2]))),
            |e| matches!(e, Error::DType { .. }),
            "where",
        ),
        (
            "gather with a float index",
            Box::new(|| f32s(&[2, 3]).gather(1, &f32s(&[2, 1]))),
            |e| matches!(e, Error::DType { .. }),
            "gather",
        ),
        (
            "conv2d channel mismatch",
            Box::new(|| f32s(&[1, 3, 8, 8]).conv2d(&f32s(&[4, 2, 3, 3]), None, 1, 0, 1, 1)),
            |e| matches!(e, Error::Shape { .. }),
            "conv2d",
        ),
        (
            "conv2d kernel larger than input",
            Box::new(|| f32s(&[1, 1, 2, 2]).conv2d(&f32s(&[1, 1, 3, 3]), None, 1, 0, 1, 1)),
            |e| matches!(e, Error::Shape { .. }),
            "conv2d",
        ),
        (
            "conv2d bias shape",
            Box::new(|| {
                f32s(&[1, 1, 4, 4]).conv2d(&f32s(&[2, 1, 3, 3]), Some(&f32s(&[3])), 1, 0, 1, 1)
            }),
            |e| matches!(e, Error::Shape { .. }),
            "conv2d",
        ),
        (
            "pooling a 3-D tensor",
            Box::new(|| f32s(&[1, 4, 4]).max_pool2d(2, 2, 0)),
            |e| matches!(e, Error::Shape { .. }),
            "max_pool2d",
        ),
        (
            "pool padding over half the kernel",
            Box::new(|| f32s(&[1, 1, 4, 4]).avg_pool2d(2, 2, 2)),
            |e| matches!(e, Error::InvalidArgument { .. }),
            "avg_pool2d",
        ),
        (
            "softmax of integers",
            Box::new(|| i64s(vec![1, 2]).softmax(0)),
            |e| matches!(e, Error::DType { .. }),
            "softmax",
        ),
        (
            "integer random numbers",
            Box::new(|| Tensor::rand(&[2], DType::I64, &Device::cpu())),
            |e| matches!(e, Error::DType { .. }),
            "rand",
        ),
        (
            "arange going the wrong way",
            Box::new(|| Tensor::arange(0.0, 5.0, -1.0, DType::F32, &Device::cpu())),
            |e| matches!(e, Error::InvalidArgument { .. }),
            "arange",
        ),
        (
            "from_vec with the wrong count",
            Box::new(|| Tensor::from_vec(vec![1.0f32; 5], &[2, 3], &Device::cpu())),
            |e| matches!(e, Error::Shape { .. }),
            "from_vec",
        ),
        (
            "operands on two devices",
            Box::new(move || f32s(&[2, 3]).add(&remote)),
            |e| matches!(e, Error::DeviceMismatch { .. }),
            "add",
        ),
        (
            "subtracting bools",
            Box::new(|| {
                Tensor::ones(&[2], DType::Bool, &Device::cpu())?.sub(&Tensor::ones(
                    &[2],
                    DType::Bool,
                    &Device::cpu(),
                )?)
            }),
            |e| matches!(e, Error::DType { .. }),
            "sub",
        ),
    ];
    for (what, call, expected, op) in table {
        match call() {
            Ok(t) => panic!(
                "{what}: expected an error, got a tensor of shape {:?}",
                t.shape()
            ),
            Err(e) => {
                assert!(expected(&e), "{what}: unexpected error {e:?}");
                assert_eq!(op_of(&e), Some(op), "{what}: error {e} names the wrong op");
            }
        }
    }
}

#[test]
fn out_of_range_indices_fail_at_evaluation_with_the_index() {
    let x = f32s(&[3, 2]);
    let t = x.index_select(0, &i64s(vec![0, 7])).unwrap();
    match t.to_vec::<f32>() {
        Err(Error::IndexOutOfBounds {
            index: 7, size: 3, ..
        }) => {}
        other => panic!("expected an index error, got {other:?}"),
    }
    let neg = x
        .gather(
            0,
            &Tensor::from_vec(vec![-1i64, 0], &[1, 2], &Device::cpu()).unwrap(),
        )
        .unwrap();
    assert!(matches!(
        neg.to_vec::<f32>(),
        Err(Error::IndexOutOfBounds { index: -1, .. })
    ));
}

#[test]
fn autograd_misuse_is_reported() {
    let dev = Device::cpu();
    let w = f32s(&[3]).requires_grad_(true);
    assert!(
        matches!(
            w.mul_scalar(2.0).unwrap().backward(),
            Err(Error::Autograd(_))
        ),
        "non-scalar backward"
    );
    assert!(
        matches!(f32s(&[1]).backward(), Err(Error::Autograd(_))),
        "no graph"
    );
    let loss = w.mul(&w).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    let again = loss.backward().unwrap_err();
    assert!(
        again.to_string().contains("retain_graph"),
        "second backward: {again}"
    );
    let item = Tensor::ones(&[2], DType::F32, &dev)
        .unwrap()
        .item::<f32>()
        .unwrap_err();
    assert!(matches!(item, Error::Shape { op: "item", .. }));
}

#[test]
fn tensors_move_between_devices_and_gradients_follow() {
    let other = Device::new(Arc::new(HostOnly));
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3], &Device::cpu())
        .unwrap()
        .requires_grad_(true);
    let y = x.mul_scalar(2.0).unwrap().to_device(&other).unwrap();
    assert_eq!(y.device(), &other);
    assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0]);
    let back = y.to_device(&Device::cpu()).unwrap();
    back.sum_all().unwrap().backward().unwrap();
    assert_eq!(
        x.grad().unwrap().to_vec::<f32>().unwrap(),
        vec![2.0, 2.0, 2.0]
    );
}

#[test]
fn messages_name_the_operands() {
    let e = f32s(&[2, 3]).add(&f32s(&[4])).unwrap_err().to_string();
    assert!(e.contains("[2, 3]") && e.contains("[4]"), "{e}");
    let e = f32s(&[2, 3])
        .matmul(&f32s(&[4, 5]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("matmul:") && e.contains("(3 vs 4)"), "{e}");
}
