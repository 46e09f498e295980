//! Training-loop behaviour: one compiled graph per batch shape, optimizer
//! state round trips, gradient clipping, dropout statistics and default
//! initialization. The tests take a lock and run one at a time, so that the
//! CPU device's compile counters see one test's graphs.

use std::sync::Mutex;

use ingot::nn::functional::{self as F, CrossEntropyOptions};
use ingot::nn::{self, Module};
use ingot::optim::lr_scheduler::{CosineAnnealingLR, LrScheduler};
use ingot::optim::{self, Optimizer};
use ingot::{DType, Device, Tensor};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn mlp(dev: &Device) -> nn::Sequential {
    nn::Sequential::new()
        .add(nn::Linear::new(20, 32, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::Linear::new(32, 4, dev).unwrap())
}

fn data(n: usize, dev: &Device) -> (Tensor, Tensor) {
    let x = Tensor::randn(&[n, 20], DType::F32, dev).unwrap();
    let teacher = Tensor::randn(&[20, 4], DType::F32, dev).unwrap();
    let y = x.matmul(&teacher).unwrap().argmax(1, false).unwrap();
    ingot::eval(&[&x, &y]).unwrap();
    (x, y)
}

#[test]
fn adam_with_a_cosine_schedule_compiles_one_graph_per_batch_shape() {
    let _guard = serial();
    let dev = Device::cpu();
    ingot::manual_seed(11);
    let (x, y) = data(100, &dev);
    let model = mlp(&dev);
    let mut opt = optim::Adam::new(
        model.parameters(),
        optim::AdamConfig {
            lr: 0.01,
            ..Default::default()
        },
    )
    .unwrap();
    let mut sched = CosineAnnealingLR::new(&mut opt, 40, 0.0).unwrap();
    // Batches of 32, 32, 32 and 4 (two distinct shapes), made ready the way
    // a data loader delivers them.
    let batches: Vec<(Tensor, Tensor)> = (0..100)
        .step_by(32)
        .map(|start| {
            let len = 32.min(100 - start);
            let (xb, yb) = (
                x.narrow(0, start, len).unwrap(),
                y.narrow(0, start, len).unwrap(),
            );
            ingot::eval(&[&xb, &yb]).unwrap();
            (xb, yb)
        })
        .collect();
    let before = dev.stats();
    let mut losses = Vec::new();
    for _epoch in 0..10 {
        for (xb, yb) in &batches {
            opt.zero_grad();
            let loss = F::cross_entropy(
                &model.forward(xb).unwrap(),
                yb,
                &CrossEntropyOptions::default(),
            )
            .unwrap();
            loss.backward().unwrap();
            opt.step().unwrap();
            sched.step(&mut opt).unwrap();
            losses.push(loss.item::<f32>().unwrap());
        }
    }
    let now = dev.stats();
    let compiled = now.graphs_compiled - before.graphs_compiled;
    let evals = now.evals - before.evals;
    assert_eq!(
        compiled, 2,
        "40 steps over 2 batch shapes with a changing learning rate"
    );
    assert_eq!(
        evals, 40,
        "one evaluation per step: the loss is computed in the step's graph"
    );
    assert!(
        losses[36..].iter().sum::<f32>() < 0.5 * losses[..4].iter().sum::<f32>(),
        "loss did not fall: {losses:?}"
    );
}

#[test]
fn resuming_from_an_optimizer_state_continues_the_same_trajectory() {
    let _guard = serial();
    let dev = Device::cpu();
    ingot::manual_seed(12);
    let (x, y) = data(16, &dev);
    let run = |model: &nn::Sequential, opt: &mut dyn Optimizer, steps: usize| {
        for _ in 0..steps {
            opt.zero_grad();
            F::cross_entropy(
                &model.forward(&x).unwrap(),
                &y,
                &CrossEntropyOptions::default(),
            )
            .unwrap()
            .backward()
            .unwrap();
            opt.step().unwrap();
        }
    };
    let config = optim::AdamConfig {
        lr: 0.02,
        amsgrad: true,
        ..Default::default()
    };
    let a = mlp(&dev);
    let b = mlp(&dev);
    b.load_state_dict(&a.state_dict(), true).unwrap();
    let mut opt_a = optim::Adam::new(a.parameters(), config).unwrap();
    run(&a, &mut opt_a, 10);

    let mut opt_b = optim::Adam::new(b.parameters(), config).unwrap();
    run(&b, &mut opt_b, 4);
    let (weights, state) = (b.state_dict(), opt_b.state_dict().unwrap());
    let c = mlp(&dev);
    c.load_state_dict(&weights, true).unwrap();
    let mut opt_c = optim::Adam::new(c.parameters(), config).unwrap();
    opt_c.load_state_dict(&state).unwrap();
    run(&c, &mut opt_c, 6);
    for (k, t) in a.state_dict().iter() {
        assert_eq!(
            t.to_vec::<f32>().unwrap(),
            c.state_dict().get(k).unwrap().to_vec::<f32>().unwrap(),
            "{k} differs after resuming"
        );
    }
}

#[test]
fn clip_grad_norm_scales_like_pytorch() {
    let _guard = serial();
    let dev = Device::cpu();
    let a = nn::Parameter::new("a", Tensor::zeros(&[2], DType::F64, &dev).unwrap());
    let b = nn::Parameter::new("b", Tensor::zeros(&[1], DType::F64, &dev).unwrap());
    a.set_grad(Some(
        Tensor::from_vec(vec![3.0f64, 4.0], &[2], &dev).unwrap(),
    ));
    b.set_grad(Some(Tensor::from_vec(vec![12.0f64], &[1], &dev).unwrap()));
    let norm = optim::clip_grad_norm(&[a.clone(), b.clone()], 6.5, 2.0, true).unwrap();
    assert_eq!(norm, 13.0);
    let coef = 6.5 / (13.0 + 1e-6);
    assert_eq!(
        a.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![3.0 * coef, 4.0 * coef]
    );
    // Below the limit nothing changes; the max norm is supported.
    let norm = optim::clip_grad_norm(&[a.clone(), b.clone()], 100.0, f64::INFINITY, false).unwrap();
    assert!((norm - 12.0 * coef).abs() < 1e-12);
    assert_eq!(
        b.grad().unwrap().to_vec::<f64>().unwrap(),
        vec![12.0 * coef]
    );
}

#[test]
fn dropout_masks_have_the_right_statistics() {
    let _guard = serial();
    let dev = Device::cpu();
    let p = 0.3;
    let d = nn::Dropout::new(p);
    let x = Tensor::ones(&[200_000], DType::F32, &dev).unwrap();
    let a = d.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let b = d.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let zeros = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
    assert!((zeros - p).abs() < 0.005, "dropped fraction {zeros}");
    let scale = 1.0 / (1.0 - p as f32);
    assert!(
        a.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6),
        "kept values are scaled by 1 / (1 - p)"
    );
    let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
    assert!(
        (mean - 1.0).abs() < 0.01,
        "the expectation is preserved: {mean}"
    );
    assert_ne!(a, b, "each call draws a new mask");
    let both = a
        .iter()
        .zip(&b)
        .filter(|(u, v)| **u == 0.0 && **v == 0.0)
        .count() as f64
        / a.len() as f64;
    assert!(
        (both - p * p).abs() < 0.005,
        "masks of two calls are independent: {both}"
    );
    d.eval();
    assert!(d.forward(&x).unwrap().same_node(&x));
}

fn moments(t: &Tensor) -> (f64, f64, f64) {
    let v = t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let max = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    (mean, var, max)
}

#[test]
fn default_initialization_matches_pytorchs_distributions() {
    let _guard = serial();
    let dev = Device::cpu();
    ingot::manual_seed(13);
    // Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    let l = nn::Linear::new(400, 300, &dev).unwrap();
    let (mean, var, max) = moments(&l.weight.tensor());
    let bound = 1.0 / 20.0;
    assert!(
        max <= bound && max > 0.99 * bound && mean.abs() < 1e-3,
        "{mean} {max}"
    );
    assert!(
        (var - bound * bound / 3.0).abs() < 0.02 * bound * bound / 3.0,
        "{var}"
    );
    assert!(moments(&l.bias.as_ref().unwrap().tensor()).2 <= bound);
    // Conv2d: fan_in = in / groups * k * k.
    let c = nn::Conv2d::new(16, 64, 3, Default::default(), &dev).unwrap();
    let (_, var, max) = moments(&c.weight.tensor());
    let bound = 1.0 / 12.0;
    assert!(max <= bound && max > 0.99 * bound);
    assert!(
        (var - bound * bound / 3.0).abs() < 0.03 * bound * bound / 3.0,
        "{var}"
    );
    // Embedding: N(0, 1).
    let (mean, var, _) = moments(&nn::Embedding::new(1000, 64, &dev).unwrap().weight.tensor());
    assert!(
        mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
        "{mean} {var}"
    );
    // MultiheadAttention: Xavier-uniform packed projection, zero biases.
    let mha = nn::MultiheadAttention::new(64, 4, true, &dev).unwrap();
    let xavier = (6.0f64 / (64.0 + 192.0)).sqrt();
    let (_, _, max) = moments(&mha.in_proj_weight.tensor());
    assert!(max <= xavier && max > 0.98 * xavier);
    assert_eq!(moments(&mha.in_proj_bias.tensor()).2, 0.0);
    // Norm layers: weight 1, bias 0.
    let bn = nn::BatchNorm2d::new(8, &dev).unwrap().state_dict();
    assert_eq!(
        bn.get("weight").unwrap().to_vec::<f32>().unwrap(),
        vec![1.0; 8]
    );
    assert_eq!(
        bn.get("running_var").unwrap().to_vec::<f32>().unwrap(),
        vec![1.0; 8]
    );
    assert_eq!(bn.get("num_batches_tracked").unwrap().dtype(), DType::I64);
}
