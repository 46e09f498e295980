//! Parity with PyTorch for every layer (outputs, input and parameter
//! gradients, batch-norm running statistics), loss, optimizer trajectory
//! and scheduler sequence, against `tests/reference/nn_reference.*`.
//!
//! Tolerances (`|got - want| <= atol + rtol |want|`), all F32: layers and
//! losses rtol 1e-5, atol 1e-6 (attention and transformer layers 2e-5,
//! 2e-6); optimizer parameters after each of 20 steps rtol 1e-5, atol 1e-6;
//! scheduler rates rtol 1e-12.

mod common;

use common::{mismatch, reference};
use ingot::nn::functional::{self as F, CrossEntropyOptions, Reduction};
use ingot::nn::{self, Module};
use ingot::optim::lr_scheduler::{self as sched, LrScheduler};
use ingot::optim::{self, Optimizer};
use ingot::{DType, Device, Result, Tensor};
use serde_json::Value;

fn dev() -> Device {
    Device::cpu()
}

fn u(v: &Value, k: &str) -> usize {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}")) as usize
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn flag(v: &Value, k: &str) -> bool {
    v[k].as_bool().unwrap_or(false)
}

/// The ingot module a layer case describes.
fn build_layer(spec: &Value) -> Result<Box<dyn Module>> {
    let d = &dev();
    Ok(match spec["type"].as_str().unwrap() {
        "Linear" => Box::new(nn::Linear::with_bias(
            u(spec, "in"),
            u(spec, "out"),
            flag(spec, "bias"),
            d,
        )?),
        "Conv2d" => {
            let c = nn::Conv2dConfig {
                stride: u(spec, "stride"),
                padding: u(spec, "padding"),
                dilation: u(spec, "dilation"),
                groups: u(spec, "groups"),
                bias: flag(spec, "bias"),
            };
            Box::new(nn::Conv2d::new(
                u(spec, "in"),
                u(spec, "out"),
                u(spec, "kernel"),
                c,
                d,
            )?)
        }
        "BatchNorm1d" => Box::new(nn::BatchNorm1d::new(u(spec, "features"), d)?),
        "BatchNorm2d" => Box::new(nn::BatchNorm2d::new(u(spec, "features"), d)?),
        "LayerNorm" => {
            let shape: Vec<usize> = spec["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            Box::new(nn::LayerNorm::new(&shape, d)?)
        }
        "GroupNorm" => Box::new(nn::GroupNorm::new(
            u(spec, "groups"),
            u(spec, "channels"),
            d,
        )?),
        "Embedding" => Box::new(nn::Embedding::new(u(spec, "num"), u(spec, "dim"), d)?),
        "MaxPool2d" => Box::new(nn::MaxPool2d::with_stride_padding(
            u(spec, "kernel"),
            u(spec, "stride"),
            u(spec, "padding"),
        )),
        "AvgPool2d" => Box::new(nn::AvgPool2d::with_stride_padding(
            u(spec, "kernel"),
            u(spec, "stride"),
            u(spec, "padding"),
        )),
        "AdaptiveAvgPool2d" => {
            let o = spec["out"].as_array().unwrap();
            Box::new(nn::AdaptiveAvgPool2d::new((
                o[0].as_u64().unwrap() as usize,
                o[1].as_u64().unwrap() as usize,
            )))
        }
        "Flatten" => Box::new(nn::Flatten::new()),
        "ReLU" => Box::new(nn::ReLU::new()),
        "LeakyReLU" => Box::new(nn::LeakyReLU::new(f(spec, "slope"))),
        "ELU" => Box::new(nn::ELU::new(f(spec, "alpha"))),
        "GELU" => Box::new(if flag(spec, "tanh") {
            nn::GELU::tanh()
        } else {
            nn::GELU::new()
        }),
        "SiLU" => Box::new(nn::SiLU::new()),
        "Sigmoid" => Box::new(nn::Sigmoid::new()),
        "Tanh" => Box::new(nn::Tanh::new()),
        "Softmax" => Box::new(nn::Softmax::new(spec["dim"].as_i64().unwrap() as isize)),
        "LogSoftmax" => Box::new(nn::LogSoftmax::new(spec["dim"].as_i64().unwrap() as isize)),
        "Dropout" => Box::new(nn::Dropout::new(f(spec, "p"))),
        "MultiheadAttention" => Box::new(nn::MultiheadAttention::new(
            u(spec, "embed"),
            u(spec, "heads"),
            flag(spec, "batch_first"),
            d,
        )?),
        "TransformerEncoderLayer" => Box::new(nn::TransformerEncoderLayer::new(
            u(spec, "d_model"),
            u(spec, "heads"),
            tel_config(spec),
            d,
        )?),
        "MLP" => Box::new(
            nn::Sequential::new()
                .add(nn::Linear::new(6, 8, d)?)
                .add(nn::ReLU::new())
                .add(nn::Linear::new(8, 3, d)?),
        ),
        other => panic!("no ingot layer for {other}"),
    })
}

fn tel_config(spec: &Value) -> nn::TransformerEncoderLayerConfig {
    nn::TransformerEncoderLayerConfig {
        dim_feedforward: u(spec, "ff"),
        dropout: 0.0,
        activation: if flag(spec, "gelu") {
            nn::Activation::Gelu
        } else {
            nn::Activation::Relu
        },
        batch_first: true,
        norm_first: flag(spec, "norm_first"),
        ..Default::default()
    }
}

fn check_layer(case: &Value) -> Vec<String> {
    let r = reference();
    let name = case["name"].as_str().unwrap();
    let spec = &case["spec"];
    let (rtol, atol) = match spec["type"].as_str().unwrap() {
        "MultiheadAttention" | "TransformerEncoderLayer" => (2e-5, 2e-6),
        _ => (1e-5, 1e-6),
    };
    let x = r.get(name, "x");
    let x = if x.dtype().is_float() {
        x.detach().requires_grad_(true)
    } else {
        x
    };
    let sd = r.state(name, "sd");
    // Attention with weights or masks, and causal transformer layers, need
    // their own entry points; everything else is `Module::forward`.
    let (module, out, weights): (Box<dyn Module>, Tensor, Option<Tensor>) =
        match spec["type"].as_str().unwrap() {
            "MultiheadAttention" if flag(spec, "batch_first") => {
                let mha =
                    nn::MultiheadAttention::new(u(spec, "embed"), u(spec, "heads"), true, &dev())
                        .unwrap();
                mha.load_state_dict(&sd, true).unwrap();
                let masks = flag(spec, "masks");
                let (am, kpm) = (
                    masks.then(|| r.get(name, "attn_mask")),
                    masks.then(|| r.get(name, "key_padding_mask")),
                );
                let (out, w) = mha
                    .attention(&x, &x, &x, am.as_ref(), kpm.as_ref(), true)
                    .unwrap();
                (Box::new(mha), out, w)
            }
            "TransformerEncoderLayer" => {
                let tel = nn::TransformerEncoderLayer::new(
                    u(spec, "d_model"),
                    u(spec, "heads"),
                    tel_config(spec),
                    &dev(),
                )
                .unwrap();
                tel.load_state_dict(&sd, true).unwrap();
                let out = tel
                    .forward_with_mask(&x, None, flag(spec, "causal"))
                    .unwrap();
                (Box::new(tel), out, None)
            }
            _ => {
                let m = build_layer(spec).unwrap();
                m.load_state_dict(&sd, true).unwrap();
                if !flag(case, "train") {
                    m.eval();
                }
                let out = m.forward(&x).unwrap();
                (m, out, None)
            }
        };
    let mut problems = check_outputs(name, module.as_ref(), &x, &out, weights, rtol, atol);
    // State after the forward (batch-norm running statistics).
    let now = module.state_dict();
    for (k, want) in r.state(name, "after").iter() {
        match now.get(k) {
            Some(got) => {
                if let Some(m) = mismatch(got, want, rtol, atol) {
                    problems.push(format!("{name}: state {k} {m}"));
                }
            }
            None => problems.push(format!("{name}: no state {k}")),
        }
    }
    problems
}

/// Compares the output, the attention weights (if any) and the gradients of
/// `sum(out * cot)` with respect to the input and every parameter.
fn check_outputs(
    name: &str,
    module: &dyn Module,
    x: &Tensor,
    out: &Tensor,
    weights: Option<Tensor>,
    rtol: f64,
    atol: f64,
) -> Vec<String> {
    let r = reference();
    let mut problems = Vec::new();
    if let Some(m) = mismatch(out, &r.get(name, "y"), rtol, atol) {
        problems.push(format!("{name}: output {m}"));
    }
    if let (Some(w), Some(want)) = (weights, r.try_get(name, "attn_weights"))
        && let Some(m) = mismatch(&w, &want, rtol, atol)
    {
        problems.push(format!("{name}: attention weights {m}"));
    }
    out.mul(&r.get(name, "cot"))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    if let Some(want) = r.try_get(name, "grad/x") {
        match x.grad() {
            Some(g) => {
                if let Some(m) = mismatch(&g, &want, rtol, atol) {
                    problems.push(format!("{name}: input gradient {m}"));
                }
            }
            None => problems.push(format!("{name}: no input gradient")),
        }
    }
    for (k, p) in module.named_parameters() {
        let want = r.get(name, &format!("grad/{k}"));
        match p.grad() {
            Some(g) => {
                if let Some(m) = mismatch(&g, &want, rtol, atol) {
                    problems.push(format!("{name}: gradient of {k} {m}"));
                }
            }
            None => problems.push(format!("{name}: no gradient for {k}")),
        }
    }
    problems
}

#[test]
fn every_layer_matches_pytorch() {
    let cases = reference().cases_of("layer");
    assert!(
        cases.len() >= 35,
        "expected every layer case, got {}",
        cases.len()
    );
    let problems: Vec<String> = cases.into_iter().flat_map(check_layer).collect();
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn reduction(spec: &Value) -> Reduction {
    match spec["reduction"].as_str().unwrap_or("mean") {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        "batchmean" => Reduction::BatchMean,
        other => panic!("reduction {other}"),
    }
}

fn run_loss(name: &str, spec: &Value, x: &Tensor, t: &Tensor) -> Result<Tensor> {
    let r = reference();
    let weight = flag(spec, "weight").then(|| r.get(name, "weight"));
    let red = reduction(spec);
    match spec["loss"].as_str().unwrap() {
        "cross_entropy" | "nll_loss" => {
            let o = CrossEntropyOptions {
                weight,
                ignore_index: spec["ignore_index"].as_i64().unwrap_or(-100),
                reduction: red,
                label_smoothing: spec["label_smoothing"].as_f64().unwrap_or(0.0),
            };
            if spec["loss"] == "nll_loss" {
                F::nll_loss(x, t, &o)
            } else {
                F::cross_entropy(x, t, &o)
            }
        }
        "mse_loss" => F::mse_loss(x, t, red),
        "l1_loss" => F::l1_loss(x, t, red),
        "smooth_l1_loss" => F::smooth_l1_loss(x, t, red, f(spec, "beta")),
        "huber_loss" => F::huber_loss(x, t, red, f(spec, "delta")),
        "binary_cross_entropy" => F::binary_cross_entropy(x, t, weight.as_ref(), red),
        "binary_cross_entropy_with_logits" => {
            let pw = flag(spec, "pos_weight").then(|| r.get(name, "pos_weight"));
            F::binary_cross_entropy_with_logits(x, t, weight.as_ref(), pw.as_ref(), red)
        }
        "kl_div" => F::kl_div(x, t, red, flag(spec, "log_target")),
        other => panic!("loss {other}"),
    }
}

#[test]
fn every_loss_and_option_matches_pytorch() {
    let r = reference();
    let cases = r.cases_of("loss");
    assert!(
        cases.len() >= 22,
        "expected every loss case, got {}",
        cases.len()
    );
    let mut problems = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let x = r.get(name, "x").requires_grad_(true);
        let t = r.get(name, "target");
        let y = run_loss(name, &case["spec"], &x, &t).unwrap();
        if let Some(m) = mismatch(&y, &r.get(name, "y"), 1e-5, 1e-6) {
            problems.push(format!("{name}: value {m}"));
        }
        y.mul(&r.get(name, "cot"))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        if let Some(m) = mismatch(&x.grad().unwrap(), &r.get(name, "grad/x"), 1e-5, 1e-6) {
            problems.push(format!("{name}: gradient {m}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn optim_model() -> nn::Sequential {
    let d = &dev();
    nn::Sequential::new()
        .add(nn::Linear::new(5, 4, d).unwrap())
        .add(nn::Tanh::new())
        .add(nn::Linear::new(4, 3, d).unwrap())
}

fn build_optimizer(spec: &Value, model: &nn::Sequential) -> Result<Box<dyn Optimizer>> {
    let params = model.parameters();
    let wd = spec["weight_decay"].as_f64();
    Ok(match spec["opt"].as_str().unwrap() {
        "sgd" => Box::new(optim::Sgd::new(
            params,
            optim::SgdConfig {
                lr: f(spec, "lr"),
                momentum: spec["momentum"].as_f64().unwrap_or(0.0),
                dampening: spec["dampening"].as_f64().unwrap_or(0.0),
                weight_decay: wd.unwrap_or(0.0),
                nesterov: flag(spec, "nesterov"),
            },
        )?),
        "adam" | "adamw" => {
            let base = if spec["opt"] == "adamw" {
                optim::AdamConfig::adamw_default()
            } else {
                optim::AdamConfig::default()
            };
            let betas = spec["betas"]
                .as_array()
                .map(|b| (b[0].as_f64().unwrap(), b[1].as_f64().unwrap()))
                .unwrap_or(base.betas);
            let c = optim::AdamConfig {
                lr: f(spec, "lr"),
                betas,
                weight_decay: wd.unwrap_or(base.weight_decay),
                amsgrad: flag(spec, "amsgrad"),
                ..base
            };
            if spec["opt"] == "adamw" {
                Box::new(optim::AdamW::new(params, c)?)
            } else {
                Box::new(optim::Adam::new(params, c)?)
            }
        }
        "rmsprop" => Box::new(optim::RmsProp::new(
            params,
            optim::RmsPropConfig {
                lr: f(spec, "lr"),
                alpha: spec["alpha"].as_f64().unwrap_or(0.99),
                momentum: spec["momentum"].as_f64().unwrap_or(0.0),
                centered: flag(spec, "centered"),
                weight_decay: wd.unwrap_or(0.0),
                ..Default::default()
            },
        )?),
        "adagrad" => Box::new(optim::Adagrad::new(
            params,
            optim::AdagradConfig {
                lr: f(spec, "lr"),
                lr_decay: f(spec, "lr_decay"),
                weight_decay: wd.unwrap_or(0.0),
                initial_accumulator_value: f(spec, "initial_accumulator_value"),
                ..Default::default()
            },
        )?),
        "sgd_groups" => {
            let first = model.get(0).unwrap().parameters();
            let second = model.get(2).unwrap().parameters();
            Box::new(optim::Sgd::with_groups(vec![
                optim::ParamGroup {
                    params: first,
                    config: optim::SgdConfig {
                        lr: 0.1,
                        ..Default::default()
                    },
                },
                optim::ParamGroup {
                    params: second,
                    config: optim::SgdConfig {
                        lr: 0.01,
                        momentum: 0.9,
                        ..Default::default()
                    },
                },
            ])?)
        }
        other => panic!("optimizer {other}"),
    })
}

#[test]
fn every_optimizer_follows_pytorchs_trajectory() {
    let r = reference();
    let cases = r.cases_of("optim");
    assert!(
        cases.len() >= 11,
        "expected every optimizer case, got {}",
        cases.len()
    );
    let mut problems = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let model = optim_model();
        model.load_state_dict(&r.state(name, "init"), true).unwrap();
        let mut opt = build_optimizer(&case["spec"], &model).unwrap();
        let (x, y) = (r.get(name, "x"), r.get(name, "y"));
        for step in 0..20 {
            opt.zero_grad();
            F::mse_loss(&model.forward(&x).unwrap(), &y, Reduction::Mean)
                .unwrap()
                .backward()
                .unwrap();
            opt.step().unwrap();
            let want = r.state(name, &format!("step{step}"));
            for (k, got) in model.state_dict().iter() {
                if let Some(m) = mismatch(got, want.get(k).unwrap(), 1e-5, 1e-6) {
                    problems.push(format!("{name}: step {step} {k} {m}"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn build_scheduler(spec: &Value, opt: &mut dyn Optimizer) -> Result<Box<dyn LrScheduler>> {
    Ok(match spec["sched"].as_str().unwrap() {
        "step" => Box::new(sched::StepLR::new(
            opt,
            u(spec, "step_size"),
            f(spec, "gamma"),
        )?),
        "multistep" => {
            let m = spec["milestones"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            Box::new(sched::MultiStepLR::new(opt, m, f(spec, "gamma"))?)
        }
        "exponential" => Box::new(sched::ExponentialLR::new(opt, f(spec, "gamma"))?),
        "cosine" => Box::new(sched::CosineAnnealingLR::new(
            opt,
            u(spec, "t_max"),
            f(spec, "eta_min"),
        )?),
        "linear" => Box::new(sched::LinearLR::new(
            opt,
            f(spec, "start"),
            f(spec, "end"),
            u(spec, "total"),
        )?),
        "onecycle" => {
            let c = sched::OneCycleConfig {
                three_phase: flag(spec, "three_phase"),
                anneal_strategy: if flag(spec, "linear") {
                    sched::AnnealStrategy::Linear
                } else {
                    sched::AnnealStrategy::Cos
                },
                ..Default::default()
            };
            Box::new(sched::OneCycleLR::new(
                opt,
                f(spec, "max_lr"),
                u(spec, "total"),
                c,
            )?)
        }
        "plateau" => {
            let c = sched::PlateauConfig {
                mode: if spec["mode"] == "max" {
                    sched::PlateauMode::Max
                } else {
                    sched::PlateauMode::Min
                },
                threshold_mode: if spec["threshold_mode"] == "abs" {
                    sched::ThresholdMode::Abs
                } else {
                    sched::ThresholdMode::Rel
                },
                patience: u(spec, "patience"),
                factor: f(spec, "factor"),
                threshold: f(spec, "threshold"),
                cooldown: spec["cooldown"].as_u64().unwrap_or(0) as usize,
                min_lr: spec["min_lr"].as_f64().unwrap_or(0.0),
                ..Default::default()
            };
            Box::new(sched::ReduceLROnPlateau::new(opt, c)?)
        }
        "sequential" => {
            let warmup = sched::LinearLR::new(opt, 0.1, 1.0, 5)?;
            let cosine = sched::CosineAnnealingLR::new(opt, 15, 0.0)?;
            Box::new(sched::SequentialLR::new(
                opt,
                vec![Box::new(warmup), Box::new(cosine)],
                vec![5],
            )?)
        }
        other => panic!("scheduler {other}"),
    })
}

#[test]
fn every_scheduler_matches_pytorchs_sequence() {
    let r = reference();
    let cases = r.cases_of("sched");
    assert!(
        cases.len() >= 10,
        "expected every scheduler case, got {}",
        cases.len()
    );
    let mut problems = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let spec = &case["spec"];
        let p = nn::Parameter::new("p", Tensor::zeros(&[1], DType::F32, &dev()).unwrap());
        let mut opt: Box<dyn Optimizer> = if spec["opt"] == "adam" {
            Box::new(
                optim::Adam::new(
                    vec![p],
                    optim::AdamConfig {
                        lr: 0.1,
                        ..Default::default()
                    },
                )
                .unwrap(),
            )
        } else {
            Box::new(
                optim::Sgd::new(
                    vec![p],
                    optim::SgdConfig {
                        lr: 0.1,
                        momentum: 0.9,
                        ..Default::default()
                    },
                )
                .unwrap(),
            )
        };
        let mut s = build_scheduler(spec, opt.as_mut()).unwrap();
        let want_lrs: Vec<f64> = case["lrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want_moms: Vec<Option<f64>> = case["momentums"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_f64)
            .collect();
        let metrics: Option<Vec<f64>> = case["metrics"]
            .as_array()
            .map(|m| m.iter().map(|v| v.as_f64().unwrap()).collect());
        let (mut lrs, mut moms) = (vec![opt.lr()], vec![opt.group_momentum(0)]);
        for i in 0..want_lrs.len() - 1 {
            match &metrics {
                Some(m) => s.step_with_metric(opt.as_mut(), m[i]).unwrap(),
                None => s.step(opt.as_mut()).unwrap(),
            }
            lrs.push(opt.lr());
            moms.push(opt.group_momentum(0));
        }
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-3);
        if lrs.iter().zip(&want_lrs).any(|(a, b)| !close(*a, *b)) {
            problems.push(format!("{name}: rates {lrs:?}\n  torch {want_lrs:?}"));
        }
        if spec["sched"] == "onecycle"
            && moms
                .iter()
                .zip(&want_moms)
                .any(|(a, b)| !close(a.unwrap(), b.unwrap()))
        {
            problems.push(format!("{name}: momentum {moms:?}\n  torch {want_moms:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
