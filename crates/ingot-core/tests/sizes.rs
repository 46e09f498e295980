//! Sizes that overflow and allocations that cannot succeed are errors at
//! the call that made them, never a panic, an abort or a tensor of the
//! wrong size.

use ingot::{DType, Device, Error, Tensor};

fn cpu() -> Device {
    Device::cpu()
}

#[test]
fn shapes_whose_size_overflows_are_rejected_where_they_are_made() {
    let dev = cpu();
    let calls: Vec<(&str, ingot::Result<Tensor>)> = vec![
        (
            "zeros [2^62, 4]",
            Tensor::zeros(&[1 << 62, 4], DType::F32, &dev),
        ),
        (
            "zeros [MAX, 2]",
            Tensor::zeros(&[usize::MAX, 2], DType::F32, &dev),
        ),
        (
            "zeros [0, MAX, MAX]",
            Tensor::zeros(&[0, usize::MAX, usize::MAX], DType::U8, &dev),
        ),
        (
            "ones [2^61] f64",
            Tensor::ones(&[1 << 61], DType::F64, &dev),
        ),
        (
            "from_vec [2^63 + 1, 2]",
            Tensor::from_vec(vec![1f32, 2.], &[(1 << 63) + 1, 2], &dev),
        ),
        (
            "randn [MAX]",
            Tensor::randn(&[usize::MAX], DType::F32, &dev),
        ),
        (
            "rand [2^62, 2^2]",
            Tensor::rand(&[1 << 62, 4], DType::F16, &dev),
        ),
        (
            "arange 1e20",
            Tensor::arange(0., 1e20, 1., DType::F32, &dev),
        ),
        (
            "arange 1e30",
            Tensor::arange(0., 1e30, 1., DType::F32, &dev),
        ),
        ("eye 2^32", Tensor::eye(1 << 32, DType::F32, &dev)),
    ];
    for (what, result) in calls {
        match result {
            Err(Error::Shape { msg, .. }) => {
                assert!(
                    msg.contains("too large") || msg.contains("too many"),
                    "{what}: {msg}"
                )
            }
            Err(other) => panic!("{what}: unexpected error {other}"),
            Ok(t) => panic!("{what}: accepted with shape {:?}", t.shape()),
        }
    }
}

#[test]
fn ops_whose_result_size_overflows_are_rejected() {
    let dev = cpu();
    let x = Tensor::ones(&[2, 3], DType::F32, &dev).unwrap();
    let big = Tensor::ones(&[1 << 40], DType::F32, &dev).unwrap();
    let calls: Vec<(&str, ingot::Result<Tensor>)> = vec![
        ("pad (MAX, 1)", x.pad(&[(usize::MAX, 1)], 0.0)),
        ("pad (2^62, 0)", x.pad(&[(1 << 62, 0)], 0.0)),
        ("expand [2^62, 2, 3]", x.expand(&[1 << 62, 2, 3])),
        ("reshape [2^62, 2^62, 0]", x.reshape(&[1 << 62, 1 << 62, 0])),
        (
            "reshape [-1, 2^62, 2^62]",
            x.reshape(&[-1, 1 << 62, 1 << 62]),
        ),
        ("narrow MAX", x.narrow(1, 1, usize::MAX)),
        ("cat 2^40 x 2^23", Tensor::cat(&vec![&big; 1 << 23], 0)),
        (
            "outer product 2^40 x 2^40",
            big.unsqueeze(1).and_then(|a| a.mul(&big.unsqueeze(0)?)),
        ),
    ];
    for (what, result) in calls {
        match result {
            Err(Error::Shape { .. } | Error::InvalidArgument { .. }) => {}
            Err(other) => panic!("{what}: unexpected error {other}"),
            Ok(t) => panic!("{what}: accepted with shape {:?}", t.shape()),
        }
    }
}

#[test]
fn an_allocation_that_cannot_succeed_is_an_error_and_the_process_lives_on() {
    // 2^40 f32 values: 4 TiB, more than this machine's memory and swap. A
    // kernel that allocates its output asks for it and gets an error.
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").ok();
    if overcommit.as_deref().map(str::trim) == Some("1") {
        eprintln!(
            "SKIPPED an_allocation_that_cannot_succeed: vm.overcommit_memory is 1, so the system grants any allocation"
        );
        return;
    }
    let dev = cpu();
    let huge = Tensor::ones(&[1 << 40], DType::F32, &dev).unwrap();
    assert!(matches!(
        huge.to_vec::<f32>(),
        Err(Error::OutOfMemory { .. })
    ));
    let err = huge.add(&huge).unwrap().to_vec::<f32>().unwrap_err();
    match &err {
        Error::OutOfMemory {
            device,
            bytes,
            what,
        } => {
            assert_eq!(device, "cpu");
            assert_eq!(*bytes, 4 << 40);
            assert!(what.contains("[1099511627776] float32"), "{what}");
        }
        other => panic!("unexpected error {other}"),
    }
    // The device still works.
    let t = Tensor::ones(&[3], DType::F32, &dev).unwrap();
    assert_eq!(t.add(&t).unwrap().to_vec::<f32>().unwrap(), vec![2.0; 3]);
}
