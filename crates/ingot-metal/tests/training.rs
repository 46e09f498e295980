//! Gradients and whole training steps through the Metal lowering, against
//! the CPU backend: the same initial weights and data must give the same
//! losses and weights (F32; losses to `1e-4` relative, weights to
//! `1e-5 + 1e-4 |w|`), and a steady loop must compile each distinct graph
//! once.
//!
//! Each test runs on `simulated_device()`, and on `ingot::metal::device(0)`
//! where a Metal GPU exists (it says so when skipped).

use std::sync::Mutex;

use ingot::nn::functional::{CrossEntropyOptions, cross_entropy};
use ingot::nn::{self, Module};
use ingot::optim::{Adam, AdamConfig, AdamW, Optimizer};
use ingot::{DType, Device, Result, Tensor};

/// The global RNG (model init, `rand`) is process-wide, and these tests
/// depend on its exact draws.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The devices to compare with the CPU: the simulator, and the GPU if any.
fn devices(test: &str) -> Vec<Device> {
    let mut v = vec![ingot_metal::simulated_device()];
    match ingot_metal::device(0) {
        Ok(gpu) => v.push(gpu),
        Err(e) => eprintln!("{test}: SKIPPED on the Metal GPU: {e}"),
    }
    v
}

fn close(got: &[f32], want: &[f32], atol: f32, rtol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap()
}

/// `(name, f)`: scalar losses of one input whose gradients are compared.
type Loss = (&'static str, fn(&Tensor) -> Result<Tensor>);

fn losses() -> Vec<Loss> {
    vec![
        ("exp log sqrt", |x| {
            x.abs()?.add_scalar(0.5)?.sqrt()?.log()?.exp()?.sum_all()
        }),
        ("tanh sigmoid gelu relu", |x| {
            x.tanh()?
                .add(&x.sigmoid()?)?
                .add(&x.gelu()?)?
                .relu()?
                .mean_all()
        }),
        ("pow div recip", |x| {
            x.abs()?
                .add_scalar(1.0)?
                .powf(1.5)?
                .div(&x.exp()?)?
                .recip()?
                .sum_all()
        }),
        ("maximum minimum clamp", |x| {
            x.maximum(&x.t()?)?
                .minimum(&x.mul_scalar(0.5)?)?
                .clamp(-0.5, 0.7)?
                .sum_all()
        }),
        ("matmul", |x| x.matmul(&x.t()?)?.sin()?.sum_all()),
        ("softmax log_softmax", |x| {
            x.softmax(1)?.mul(&x.log_softmax(0)?)?.sum_all()
        }),
        ("reductions", |x| {
            x.max(&[1], false)?
                .sum_all()?
                .add(&x.var(&[0], true, false)?.sum_all()?)?
                .add(&x.logsumexp(&[1], false)?.mean_all()?)
        }),
        ("movement", |x| {
            let p = x.pad(&[(1, 0), (0, 2)], 0.5)?.narrow(1, 1, 4)?;
            Tensor::cat(&[&p, &x.t()?], 0)?
                .permute(&[1, 0])?
                .reshape(&[-1])?
                .cos()?
                .sum_all()
        }),
        ("gather index_select", |x| {
            let idx = Tensor::from_vec(vec![2i64, 0, 1, 3, 3, 1], &[6], x.device())?;
            let g = x.index_select(1, &idx)?;
            let idx2 = Tensor::from_vec(vec![0i64, 1, 2, 0], &[4, 1], x.device())?;
            g.mul(&g)?
                .sum_all()?
                .add(&x.gather(1, &idx2)?.exp()?.sum_all()?)
        }),
        ("conv2d pools", |x| {
            let img = x.reshape(&[1, 1, 4, 4])?;
            let w = img.narrow(2, 0, 2)?.narrow(3, 0, 2)?.neg()?;
            let y = img.conv2d(&w, None, 1, 1, 1, 1)?;
            y.max_pool2d(2, 1, 0)?.sum_all()?.add(
                &y.avg_pool2d(2, 2, 1)?
                    .pow(&y.avg_pool2d(2, 2, 1)?.sign()?.abs()?.add_scalar(1.0)?)?
                    .sum_all()?,
            )
        }),
    ]
}

/// Gradients of a 4×4 input through many ops; x values avoid ties.
#[test]
fn gradients_match_the_cpu() {
    let _g = serial();
    let data: Vec<f32> = (0..16).map(|i| ((i * 7 % 16) as f32 - 7.3) / 5.0).collect();
    for dev in devices("gradients_match_the_cpu") {
        for (name, f) in losses() {
            let grad = |d: &Device| -> Vec<f32> {
                let x = Tensor::from_vec(data.clone(), &[4, 4], d)
                    .unwrap()
                    .requires_grad_(true);
                f(&x).unwrap().backward().unwrap();
                values(&x.grad().expect("x has a gradient"))
            };
            close(
                &grad(&dev),
                &grad(&Device::cpu()),
                1e-5,
                1e-4,
                &format!("{name} on {}", dev.location()),
            );
        }
    }
}

/// `n` labels in `0..classes` and `[n, features]` inputs, the same on every device.
fn batch(n: usize, shape: &[usize], classes: i64, dev: &Device) -> (Tensor, Tensor) {
    let numel: usize = shape.iter().product::<usize>() * n;
    let x: Vec<f32> = (0..numel)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let y: Vec<i64> = (0..n as i64).map(|i| (i * 7 + 3) % classes).collect();
    let mut full = vec![n];
    full.extend_from_slice(shape);
    (
        Tensor::from_vec(x, &full, dev).unwrap(),
        Tensor::from_vec(y, &[n], dev).unwrap(),
    )
}

/// Trains `make()`'s model for `steps` on the CPU and on `dev` from the
/// same weights; returns each side's losses and final state.
fn train_both(
    dev: &Device,
    make: &dyn Fn(&Device) -> Result<nn::Sequential>,
    optimizer: &dyn Fn(Vec<nn::Parameter>) -> Result<Box<dyn Optimizer>>,
    input: &[usize],
    steps: usize,
) -> [(Vec<f32>, nn::StateDict); 2] {
    ingot::manual_seed(0);
    let cpu_model = make(&Device::cpu()).unwrap();
    let start = cpu_model.state_dict();
    let mut out = Vec::new();
    for d in [Device::cpu(), dev.clone()] {
        let model = make(&d).unwrap();
        model
            .load_state_dict(&start.to_device(&d).unwrap(), true)
            .unwrap();
        let mut opt = optimizer(model.parameters()).unwrap();
        let (x, y) = batch(8, input, 5, &d);
        let mut losses = Vec::new();
        for _ in 0..steps {
            opt.zero_grad();
            let loss = cross_entropy(
                &model.forward(&x).unwrap(),
                &y,
                &CrossEntropyOptions::default(),
            )
            .unwrap();
            loss.backward().unwrap();
            opt.step().unwrap();
            losses.push(loss.item::<f32>().unwrap());
        }
        out.push((losses, model.state_dict()));
    }
    let b = out.pop().unwrap();
    let a = out.pop().unwrap();
    [a, b]
}

fn compare(run: &[(Vec<f32>, nn::StateDict); 2], what: &str) {
    let [(cpu_losses, cpu_sd), (dev_losses, dev_sd)] = run;
    close(
        dev_losses,
        cpu_losses,
        1e-6,
        1e-4,
        &format!("{what} losses"),
    );
    assert!(
        cpu_losses.last() < cpu_losses.first(),
        "{what}: the loss falls: {cpu_losses:?}"
    );
    for key in cpu_sd.keys() {
        let (a, b) = (dev_sd.get(&key).unwrap(), cpu_sd.get(&key).unwrap());
        close(&values(a), &values(b), 1e-5, 1e-4, &format!("{what} {key}"));
    }
}

fn mlp(d: &Device) -> Result<nn::Sequential> {
    Ok(nn::Sequential::new()
        .add(nn::Linear::new(20, 32, d)?)
        .add(nn::ReLU::new())
        .add(nn::Linear::new(32, 5, d)?))
}

fn adam(p: Vec<nn::Parameter>) -> Result<Box<dyn Optimizer>> {
    Ok(Box::new(Adam::new(
        p,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    )?))
}

#[test]
fn an_mlp_with_adam_trains_as_on_the_cpu() {
    let _g = serial();
    for dev in devices("an_mlp_with_adam_trains_as_on_the_cpu") {
        let run = train_both(&dev, &mlp, &adam, &[20], 15);
        compare(&run, &format!("MLP on {}", dev.location()));
    }
}

fn cnn(d: &Device) -> Result<nn::Sequential> {
    // The first convolution has no bias: BatchNorm cancels it, so its
    // gradient is rounding noise that Adam would amplify differently on
    // each device.
    let conv = |cin, cout, padding, bias| {
        nn::Conv2d::new(
            cin,
            cout,
            3,
            nn::Conv2dConfig {
                padding,
                bias,
                ..Default::default()
            },
            d,
        )
    };
    Ok(nn::Sequential::new()
        .add(conv(1, 4, 1, false)?)
        .add(nn::BatchNorm2d::new(4, d)?)
        .add(nn::GELU::new())
        .add(nn::MaxPool2d::new(2))
        .add(conv(4, 6, 0, true)?)
        .add(nn::GELU::new())
        .add(nn::AvgPool2d::new(2))
        .add(nn::Flatten::new())
        .add(nn::Linear::new(12, 5, d)?))
}

fn adamw(p: Vec<nn::Parameter>) -> Result<Box<dyn Optimizer>> {
    Ok(Box::new(AdamW::new(
        p,
        AdamConfig {
            lr: 1e-2,
            ..Default::default()
        },
    )?))
}

#[test]
fn a_cnn_with_batchnorm_gelu_pooling_and_adamw_trains_as_on_the_cpu() {
    let _g = serial();
    for dev in devices("a_cnn_with_batchnorm_gelu_pooling_and_adamw_trains_as_on_the_cpu") {
        let run = train_both(&dev, &cnn, &adamw, &[1, 12, 8], 8);
        compare(&run, &format!("CNN on {}", dev.location()));
        assert!(
            run[1].1.get("1.running_var").is_some(),
            "BatchNorm statistics compared"
        );
    }
}

#[test]
fn initialization_draws_the_cpus_numbers() {
    let _g = serial();
    for dev in devices("initialization_draws_the_cpus_numbers") {
        let draw = |d: &Device| {
            ingot::manual_seed(42);
            let u = Tensor::rand(&[3, 50], DType::F32, d).unwrap();
            let n = Tensor::randn(&[7, 9], DType::F32, d).unwrap();
            (values(&u), values(&n))
        };
        let (cu, cn) = draw(&Device::cpu());
        let (du, dn) = draw(&dev);
        assert_eq!(du, cu, "uniform draws on {}", dev.location());
        close(
            &dn,
            &cn,
            1e-5,
            1e-5,
            &format!("normal draws on {}", dev.location()),
        );
    }
}

#[test]
fn a_50_step_loop_compiles_each_graph_once() {
    let _g = serial();
    for dev in devices("a_50_step_loop_compiles_each_graph_once") {
        ingot::manual_seed(1);
        let model = mlp(&dev).unwrap();
        let mut opt = adam(model.parameters()).unwrap();
        let (x, y) = batch(8, &[20], 5, &dev);
        ingot::eval(&[&x, &y]).unwrap();
        let before = ingot_metal::stats(&dev).unwrap();
        let hits_before = dev.stats().cache_hits;
        for _ in 0..50 {
            opt.zero_grad();
            let loss = cross_entropy(
                &model.forward(&x).unwrap(),
                &y,
                &CrossEntropyOptions::default(),
            )
            .unwrap();
            loss.backward().unwrap();
            opt.step().unwrap();
            loss.item::<f32>().unwrap();
        }
        let after = ingot_metal::stats(&dev).unwrap();
        let compiled = after.executables_compiled - before.executables_compiled;
        assert!(
            (1..=3).contains(&compiled),
            "{compiled} executables for one repeated step"
        );
        assert!(
            dev.stats().cache_hits - hits_before >= 47,
            "the other steps replay"
        );
        assert!(after.runs - before.runs >= 50);
        assert!(after.max_in_flight <= ingot_metal::MAX_IN_FLIGHT as u64);
        assert!(
            after.pool.reuses > before.pool.reuses,
            "buffers come back from the pool"
        );
    }
}
