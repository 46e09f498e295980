//! Exchanging weights with PyTorch through safetensors state dicts.
//!
//! - An MLP and a CNN with batch norm saved by PyTorch load into the
//!   equivalent ingot models and give PyTorch's outputs (eval and train mode).
//! - ingot writes `tests/reference/ingot_export.safetensors` (with
//!   `INGOT_WRITE_EXPORT=1`); `gen_nn_reference.py --check-export` loads it
//!   into the PyTorch models with strict loading and compares outputs. Without
//!   the variable, the test checks that ingot still writes exactly the
//!   committed file, so what PyTorch verified stays true.

mod common;

use common::{mismatch, reference, reference_dir};
use ingot::nn::{self, Module, StateDict};
use ingot::{DType, Device, Error, Tensor};

fn mlp(dev: &Device) -> nn::Sequential {
    nn::Sequential::new()
        .add(nn::Linear::new(20, 16, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::Linear::new(16, 5, dev).unwrap())
}

fn cnn(dev: &Device) -> nn::Sequential {
    let pad1 = nn::Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    nn::Sequential::new()
        .add(nn::Conv2d::new(1, 4, 3, pad1, dev).unwrap())
        .add(nn::BatchNorm2d::new(4, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(nn::Conv2d::new(4, 8, 3, Default::default(), dev).unwrap())
        .add(nn::BatchNorm2d::new(8, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::AdaptiveAvgPool2d::new((1, 1)))
        .add(nn::Flatten::new())
        .add(nn::Linear::new(8, 3, dev).unwrap())
}

#[test]
fn pytorch_saved_models_load_and_give_pytorchs_outputs() {
    let dev = Device::cpu();
    let r = reference();
    let m = mlp(&dev);
    m.load_state_dict(
        &StateDict::load_safetensors(reference_dir().join("torch_mlp.safetensors"), &dev).unwrap(),
        true,
    )
    .unwrap();
    // Each output against PyTorch's, to 1e-5 relative and 1e-6 absolute.
    let matches = |got: &Tensor, entry: &str, key: &str| {
        assert_eq!(
            mismatch(got, &r.get(entry, key), 1e-5, 1e-6),
            None,
            "{entry} {key}"
        );
    };
    matches(
        &m.forward(&r.get("torch_mlp", "x")).unwrap(),
        "torch_mlp",
        "y",
    );

    let c = cnn(&dev);
    let sd =
        StateDict::load_safetensors(reference_dir().join("torch_cnn.safetensors"), &dev).unwrap();
    assert_eq!(sd.get("1.num_batches_tracked").unwrap().dtype(), DType::I64);
    c.load_state_dict(&sd, true).unwrap();
    let x = r.get("torch_cnn", "x");
    c.eval();
    matches(&c.forward(&x).unwrap(), "torch_cnn", "y_eval");
    c.train();
    matches(&c.forward(&x).unwrap(), "torch_cnn", "y_train");
}

/// Seeded ingot models and their outputs, keyed as
/// `gen_nn_reference.py --check-export` expects.
fn export() -> StateDict {
    let dev = Device::cpu();
    ingot::manual_seed(2026);
    let mut out = StateDict::new();
    for (name, model, x) in [
        (
            "mlp",
            mlp(&dev),
            Tensor::randn(&[3, 20], DType::F32, &dev).unwrap(),
        ),
        (
            "cnn",
            cnn(&dev),
            Tensor::randn(&[2, 1, 10, 10], DType::F32, &dev).unwrap(),
        ),
    ] {
        model.train();
        // Non-trivial running statistics: a training-mode pass.
        model
            .forward(
                &Tensor::randn(x.shape(), DType::F32, &dev)
                    .unwrap()
                    .mul_scalar(2.0)
                    .unwrap(),
            )
            .unwrap();
        model.eval();
        let y = model.forward(&x).unwrap();
        for (k, t) in model.state_dict().iter() {
            out.insert(format!("{name}.{k}"), t.clone());
        }
        out.insert(format!("io.{name}.x"), x);
        out.insert(format!("io.{name}.y"), y);
    }
    out
}

#[test]
fn ingot_saved_files_are_what_pytorch_verified() {
    let path = reference_dir().join("ingot_export.safetensors");
    let fresh = export();
    if std::env::var("INGOT_WRITE_EXPORT").is_ok_and(|v| v == "1") {
        fresh.save_safetensors(&path).unwrap();
        eprintln!(
            "wrote {}; check it with gen_nn_reference.py --check-export",
            path.display()
        );
    }
    let committed = StateDict::load_safetensors(&path, &Device::cpu()).unwrap();
    assert_eq!(committed.keys(), fresh.keys());
    for (k, t) in fresh.iter() {
        let c = committed.get(k).unwrap();
        assert_eq!(c.dtype(), t.dtype(), "{k}");
        assert_eq!(
            mismatch(t, c, 1e-6, 1e-7),
            None,
            "{k} changed since PyTorch checked the export"
        );
    }
}

#[test]
fn strict_loading_reports_every_problem_at_once_and_changes_nothing() {
    let dev = Device::cpu();
    let model = mlp(&dev);
    let before = model
        .state_dict()
        .get("0.weight")
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    let mut sd = model.state_dict();
    sd.remove("2.bias");
    sd.insert(
        "extra.weight",
        Tensor::zeros(&[1], DType::F32, &dev).unwrap(),
    );
    sd.insert(
        "0.weight",
        Tensor::ones(&[16, 20], DType::F32, &dev).unwrap(),
    );
    sd.insert(
        "2.weight",
        Tensor::zeros(&[4, 16], DType::F32, &dev).unwrap(),
    );
    let err = model.load_state_dict(&sd, true).unwrap_err().to_string();
    for needle in [
        "missing keys: 2.bias",
        "unexpected keys: extra.weight",
        "2.weight: checkpoint [4, 16], model [5, 16]",
    ] {
        assert!(err.contains(needle), "{err}");
    }
    assert_eq!(
        model
            .state_dict()
            .get("0.weight")
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        before,
        "a failed load changed the model"
    );
    // Non-strict loading ignores missing and unexpected keys, not shapes.
    assert!(model.load_state_dict(&sd, false).is_err());
    sd.remove("2.weight");
    model.load_state_dict(&sd, false).unwrap();
    assert_eq!(
        model
            .state_dict()
            .get("0.weight")
            .unwrap()
            .to_vec::<f32>()
            .unwrap(),
        vec![1.0; 320]
    );
}

#[test]
fn half_precision_and_integer_tensors_load_and_convert() {
    let dev = Device::cpu();
    let dir = std::env::temp_dir().join(format!("ingot-nn-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mixed.safetensors");
    let bn = nn::BatchNorm1d::new(3, &dev).unwrap();
    let mut sd = StateDict::new();
    sd.insert(
        "weight",
        Tensor::from_vec(vec![1.5f32, 2.0, 2.5], &[3], &dev)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap(),
    );
    sd.insert(
        "bias",
        Tensor::from_vec(vec![0.5f32, 0.25, 0.0], &[3], &dev)
            .unwrap()
            .to_dtype(DType::BF16)
            .unwrap(),
    );
    sd.insert(
        "running_mean",
        Tensor::zeros(&[3], DType::F64, &dev).unwrap(),
    );
    sd.insert("running_var", Tensor::ones(&[3], DType::F64, &dev).unwrap());
    sd.insert(
        "num_batches_tracked",
        Tensor::from_vec(vec![42i64], &[], &dev).unwrap(),
    );
    sd.save_safetensors(&path).unwrap();
    let loaded = StateDict::load_safetensors(&path, &dev).unwrap();
    assert_eq!(loaded.get("weight").unwrap().dtype(), DType::F16);
    assert_eq!(loaded.get("bias").unwrap().dtype(), DType::BF16);
    bn.load_state_dict(&loaded, true).unwrap();
    let now = bn.state_dict();
    assert_eq!(
        now.get("weight").unwrap().dtype(),
        DType::F32,
        "values convert to the module's dtype"
    );
    assert_eq!(
        now.get("weight").unwrap().to_vec::<f32>().unwrap(),
        vec![1.5, 2.0, 2.5]
    );
    assert_eq!(
        now.get("bias").unwrap().to_vec::<f32>().unwrap(),
        vec![0.5, 0.25, 0.0]
    );
    assert_eq!(
        now.get("num_batches_tracked")
            .unwrap()
            .item::<i64>()
            .unwrap(),
        42
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_checkpoints_give_errors_naming_the_file() {
    let dev = Device::cpu();
    let dir = std::env::temp_dir().join(format!("ingot-nn-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    mlp(&dev).state_dict().save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    match StateDict::load_safetensors(&path, &dev) {
        Err(Error::File { path: p, msg }) => {
            assert_eq!(p, path);
            assert!(msg.contains("truncated"), "{msg}");
        }
        other => panic!("expected a file error, got {other:?}"),
    }
    match StateDict::load_safetensors(dir.join("missing.safetensors"), &dev) {
        Err(Error::Io { path: p, .. }) => assert!(p.ends_with("missing.safetensors")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // Saving over an existing file replaces it whole.
    mlp(&dev).state_dict().save_safetensors(&path).unwrap();
    assert!(StateDict::load_safetensors(&path, &dev).is_ok());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary files left behind"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn models_print_like_pytorch_with_parameter_counts() {
    let dev = Device::cpu();
    let text = nn::repr(&cnn(&dev));
    let expected = "Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1))
  (5): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (6): ReLU()
  (7): AdaptiveAvgPool2d(output_size=(1, 1))
  (8): Flatten(start_dim=1, end_dim=-1)
  (9): Linear(in_features=8, out_features=3, bias=True)
)
Total parameters: 387"; // 40 + 8 + 296 + 16 + 27
    assert_eq!(text, expected);
}
