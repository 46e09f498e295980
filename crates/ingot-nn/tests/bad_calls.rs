//! Calls that PyTorch rejects (or handles specially) are errors here too,
//! never silently wrong: tied weights, optimizers over nothing or over a
//! parameter twice, learning rates and groups that do not exist, layers of
//! impossible sizes.

use ingot::data::{Normalize, Sample, SampleRng, Target, Transform};
use ingot::nn::{self, Conv2d, Conv2dConfig, Linear, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use ingot::{DType, Device, Error, Result, Tensor};

/// `b(a(x))` where `b`'s weight is `a`'s: one parameter under two keys.
struct Tied {
    a: Linear,
    b: Linear,
}

impl Tied {
    fn new(dev: &Device) -> Tied {
        let a = Linear::with_bias(3, 3, false, dev).unwrap();
        let mut b = Linear::with_bias(3, 3, false, dev).unwrap();
        b.weight = a.weight.clone();
        Tied { a, b }
    }
}

impl Module for Tied {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.b.forward(&self.a.forward(x)?)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("a".into(), &self.a as &dyn Module), ("b".into(), &self.b)]
    }
    fn type_name(&self) -> String {
        "Tied".into()
    }
}

#[test]
fn tied_weights_are_one_parameter_updated_once_per_step() {
    let dev = Device::cpu();
    ingot::manual_seed(1);
    let m = Tied::new(&dev);
    let names: Vec<String> = m.named_parameters().into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, vec!["a.weight"]);
    assert_eq!(m.num_parameters(), 9);
    // The state dict keeps both keys, and loads back strictly.
    assert_eq!(m.state_dict().keys(), vec!["a.weight", "b.weight"]);
    m.load_state_dict(&m.state_dict(), true).unwrap();

    let mut opt = Sgd::new(
        m.parameters(),
        SgdConfig {
            lr: 0.1,
            ..Default::default()
        },
    )
    .unwrap();
    let x = Tensor::randn(&[4, 3], DType::F32, &dev).unwrap();
    let before = m.a.weight.tensor().to_vec::<f32>().unwrap();
    opt.zero_grad();
    m.forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let grad = m.a.weight.grad().unwrap().to_vec::<f32>().unwrap();
    opt.step().unwrap();
    let after = m.a.weight.tensor().to_vec::<f32>().unwrap();
    for ((w0, g), w1) in before.iter().zip(&grad).zip(&after) {
        assert!((w0 - 0.1 * g - w1).abs() < 1e-6, "{w0} - 0.1 * {g} != {w1}");
    }
    assert!(m.b.weight.same_slot(&m.a.weight));
}

#[test]
fn optimizers_reject_nothing_to_train_and_a_parameter_given_twice() {
    let dev = Device::cpu();
    let err = Adam::new(vec![], AdamConfig::default()).err().unwrap();
    assert!(err.to_string().contains("empty parameter list"), "{err}");
    let l = Linear::new(2, 2, &dev).unwrap();
    let mut twice = l.parameters();
    twice.push(l.weight.clone());
    let err = Sgd::new(twice, SgdConfig::default()).err().unwrap();
    assert!(
        err.to_string().contains("\"weight\" is given twice"),
        "{err}"
    );
}

#[test]
fn groups_and_learning_rates_that_do_not_exist_are_errors() {
    let dev = Device::cpu();
    let l = Linear::new(2, 2, &dev).unwrap();
    let mut opt = Sgd::new(l.parameters(), SgdConfig::default()).unwrap();
    let err = opt.group_lr(5).unwrap_err().to_string();
    assert!(
        err.contains("parameter group 5 does not exist: the optimizer has 1"),
        "{err}"
    );
    assert!(opt.set_group_lr(5, 0.1).is_err());
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = opt.set_lr(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
    assert_eq!(
        opt.lr(),
        SgdConfig::default().lr,
        "a rejected rate changes nothing"
    );
    opt.set_lr(0.5).unwrap();
    assert_eq!(opt.group_lr(0).unwrap(), 0.5);
}

#[test]
fn layers_of_impossible_sizes_are_errors_not_panics() {
    let dev = Device::cpu();
    let conv = |k, c: Conv2dConfig| Conv2d::new(1, 2, k, c, &dev).err();
    assert!(conv(0, Conv2dConfig::default()).is_some());
    let no_stride = Conv2dConfig {
        stride: 0,
        ..Default::default()
    };
    assert!(conv(3, no_stride).is_some());
    let x = Tensor::ones(&[1, 1, 4, 4], DType::F32, &dev).unwrap();
    let w = Tensor::ones(&[2, 1, 0, 3], DType::F32, &dev).unwrap();
    assert!(x.conv2d_with(&w, None, (1, 1), (0, 0), (1, 1), 1).is_err());
    for (i, o) in [(usize::MAX, 2), (2, usize::MAX), (1 << 40, 1 << 40)] {
        match Linear::new(i, o, &dev) {
            Err(Error::Shape { msg, .. }) => assert!(msg.contains("too large"), "{msg}"),
            Err(other) => panic!("Linear({i}, {o}): {other}"),
            Ok(_) => panic!("Linear({i}, {o}) was built"),
        }
    }
    assert!(nn::Embedding::new(usize::MAX, 4, &dev).is_err());
}

#[test]
fn normalize_with_a_zero_std_is_an_error() {
    let n = Normalize::new(vec![0.5], vec![0.0]);
    let s = Sample::new(vec![0.25; 4], vec![1, 2, 2], Target::Class(0));
    let err = n.apply(s, &mut SampleRng::new(0, 0, 0)).unwrap_err();
    assert!(err.to_string().contains("std 0 of channel 0"), "{err}");
}

#[test]
fn indices_out_of_range_name_the_function_the_user_called() {
    use ingot::nn::functional::{self as F, CrossEntropyOptions};
    let dev = Device::cpu();
    let ten = Tensor::from_vec(vec![10i64], &[1], &dev).unwrap();
    let table = Tensor::ones(&[10, 3], DType::F32, &dev).unwrap();
    let emb = nn::Embedding::new(10, 3, &dev).unwrap();
    let logits = Tensor::ones(&[1, 10], DType::F32, &dev).unwrap();
    let ce = |o: CrossEntropyOptions| F::cross_entropy(&logits, &ten, &o).unwrap().item::<f32>();
    let cases: Vec<(&str, Result<f32>)> = vec![
        (
            "index_select",
            table
                .index_select(0, &ten)
                .unwrap()
                .sum_all()
                .unwrap()
                .item::<f32>(),
        ),
        (
            "embedding",
            emb.forward(&ten).unwrap().sum_all().unwrap().item::<f32>(),
        ),
        ("cross_entropy", ce(CrossEntropyOptions::default())),
        (
            "cross_entropy",
            ce(CrossEntropyOptions {
                label_smoothing: 0.1,
                ..Default::default()
            }),
        ),
        (
            "nll_loss",
            F::nll_loss(&logits, &ten, &CrossEntropyOptions::default())
                .unwrap()
                .item::<f32>(),
        ),
    ];
    for (op, result) in cases {
        let err = result.unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{op}: index 10 is out of bounds for dimension {} with size 10",
                if op == "index_select" || op == "embedding" {
                    0
                } else {
                    1
                }
            ),
            "{op}"
        );
    }
}

#[test]
fn binary_cross_entropy_of_a_non_probability_is_an_error() {
    use ingot::nn::functional::{self as F, Reduction};
    let dev = Device::cpu();
    let y = Tensor::from_vec(vec![1.0f32, 0.0], &[2], &dev).unwrap();
    for bad in [1.5f32, -0.25, f32::NAN] {
        let x = Tensor::from_vec(vec![0.5f32, bad], &[2], &dev).unwrap();
        let err = F::binary_cross_entropy(&x, &y, None, Reduction::Mean)
            .unwrap()
            .item::<f32>()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "binary_cross_entropy: all elements of input should be between 0 and 1"
            ),
            "{err}"
        );
    }
    // Inside the range it computes, and its gradient flows through the check.
    let x = Tensor::from_vec(vec![0.5f32, 0.25], &[2], &dev)
        .unwrap()
        .requires_grad_(true);
    let loss = F::binary_cross_entropy(&x, &y, None, Reduction::Sum).unwrap();
    loss.backward().unwrap();
    let g = x.grad().unwrap().to_vec::<f32>().unwrap();
    assert!(
        (g[0] + 2.0).abs() < 1e-6 && (g[1] - 1.0 / 0.75).abs() < 1e-6,
        "{g:?}"
    );
}
