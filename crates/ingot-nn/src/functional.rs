//! Stateless functions (`torch.nn.functional`): activations, `linear`,
//! `dropout`, and the losses, with PyTorch's options and reductions.

use ingot_core::{DType, Error, Result, Tensor};

/// How a loss combines its elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// One value per element.
    None,
    /// The mean (weighted, for losses with class weights).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// The sum divided by the batch size (`kl_div` only).
    BatchMean,
}

fn reduce(loss: Tensor, reduction: Reduction, op: &'static str) -> Result<Tensor> {
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Mean => loss.mean_all(),
        Reduction::Sum => loss.sum_all(),
        Reduction::BatchMean => Err(Error::InvalidArgument {
            op,
            msg: "reduction BatchMean is only for kl_div".into(),
        }),
    }
}

fn same_shape(op: &'static str, input: &Tensor, target: &Tensor) -> Result<()> {
    if input.shape() != target.shape() {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {:?} and target {:?} must have the same shape",
                input.shape(),
                target.shape()
            ),
        });
    }
    Ok(())
}

/// `x W^T + b` for `weight` `[out, in]`.
///
/// ```
/// use ingot::nn::functional as F;
/// use ingot::{DType, Device, Tensor};
/// let dev = Device::cpu();
/// let y = F::linear(&Tensor::ones(&[2, 3], DType::F32, &dev)?, &Tensor::ones(&[4, 3], DType::F32, &dev)?, None)?;
/// assert_eq!(y.to_vec::<f32>()?, vec![3.0; 8]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&weight.t()?)?;
    match bias {
        Some(b) => y.add(b),
        None => Ok(y),
    }
}

/// Zeroes elements with probability `p` and scales the rest by
/// `1 / (1 - p)` when `training`; otherwise returns `x`.
///
/// ```
/// use ingot::nn::functional as F;
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[4], DType::F32, &Device::cpu())?;
/// assert!(F::dropout(&x, 0.5, false)?.same_node(&x));
/// assert_eq!(F::dropout(&x, 1.0, true)?.to_vec::<f32>()?, vec![0.0; 4]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn dropout(x: &Tensor, p: f64, training: bool) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::InvalidArgument {
            op: "dropout",
            msg: format!("probability {p} is not in [0, 1]"),
        });
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p == 1.0 {
        return x.zeros_like();
    }
    let keep = Tensor::rand(x.shape(), x.dtype(), x.device())?.ge(&x.full_like(p)?)?;
    x.mul(&keep.to_dtype(x.dtype())?)?
        .mul_scalar(1.0 / (1.0 - p))
}

/// `x * sigmoid(x)`.
///
/// ```
/// use ingot::nn::functional as F;
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
/// assert_eq!(F::silu(&x)?.item::<f32>()?, 0.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn silu(x: &Tensor) -> Result<Tensor> {
    x.mul(&x.sigmoid()?)
}

/// GELU's tanh approximation: `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
///
/// ```
/// use ingot::nn::functional as F;
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
/// assert_eq!(F::gelu_tanh(&x)?.item::<f32>()?, 0.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn gelu_tanh(x: &Tensor) -> Result<Tensor> {
    let inner = x
        .add(&x.mul(x)?.mul(x)?.mul_scalar(0.044715)?)?
        .mul_scalar((2.0 / std::f64::consts::PI).sqrt())?;
    x.mul_scalar(0.5)?.mul(&inner.tanh()?.add_scalar(1.0)?)
}

/// `x` where positive, else `negative_slope * x`.
///
/// ```
/// use ingot::nn::functional as F;
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![-1.0f32], &[1], &Device::cpu())?;
/// assert_eq!(F::leaky_relu(&x, 0.5)?.item::<f32>()?, -0.5);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn leaky_relu(x: &Tensor, negative_slope: f64) -> Result<Tensor> {
    Tensor::where_cond(&x.gt(&x.zeros_like()?)?, x, &x.mul_scalar(negative_slope)?)
}

/// `x` where positive, else `alpha * (exp(x) - 1)`.
///
/// ```
/// use ingot::nn::functional as F;
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![-1.0f64], &[1], &Device::cpu())?;
/// assert!((F::elu(&x, 1.0)?.item::<f64>()? - ((-1f64).exp() - 1.0)).abs() < 1e-15);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn elu(x: &Tensor, alpha: f64) -> Result<Tensor> {
    let negative = x
        .clamp_max(0.0)?
        .exp()?
        .sub_scalar(1.0)?
        .mul_scalar(alpha)?;
    Tensor::where_cond(&x.gt(&x.zeros_like()?)?, x, &negative)
}

/// Options of [`cross_entropy`] and [`nll_loss`]; `Default` is PyTorch's
/// (no weights, `ignore_index = -100`, mean, no label smoothing).
///
/// ```
/// use ingot::nn::functional::{CrossEntropyOptions, Reduction};
/// let o = CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
/// assert_eq!((o.ignore_index, o.reduction), (-100, Reduction::Mean));
/// ```
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions {
    /// Per-class weights, `[C]`.
    pub weight: Option<Tensor>,
    /// Targets equal to this contribute nothing (class-index targets only).
    pub ignore_index: i64,
    pub reduction: Reduction,
    /// Mixes the target with the uniform distribution, in `[0, 1]`.
    pub label_smoothing: f64,
}

impl Default for CrossEntropyOptions {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
        }
    }
}

/// The class weights shaped to broadcast along dim 1 of an `[N, C, ...]` input.
fn class_weight(weight: &Tensor, input: &Tensor, op: &'static str) -> Result<Tensor> {
    let c = input.shape()[1];
    if weight.shape() != [c] {
        return Err(Error::Shape {
            op,
            msg: format!("weight must have shape [{c}], got {:?}", weight.shape()),
        });
    }
    let mut shape = vec![1isize; input.dim()];
    shape[1] = c as isize;
    weight.to_dtype(input.dtype())?.reshape(&shape)
}

/// Puts a `[C]` input in batch form `[1, C]` with target `[1]`.
fn batched(input: &Tensor, target: &Tensor) -> Result<(Tensor, Tensor, bool)> {
    if input.dim() == 1 {
        let t = if target.dtype() == DType::I64 && target.dim() == 0 {
            target.reshape(&[1])?
        } else {
            target.unsqueeze(0)?
        };
        Ok((input.unsqueeze(0)?, t, true))
    } else {
        Ok((input.clone(), target.clone(), false))
    }
}

/// Negative log-likelihood of log-probabilities `input` (`[N, C]` or
/// `[N, C, d...]`) at class indices `target` (`I64`, `[N]` or `[N, d...]`).
/// With weights, the mean divides by the total weight of the counted
/// targets, as in PyTorch.
///
/// ```
/// use ingot::nn::functional::{self as F, CrossEntropyOptions};
/// use ingot::{Device, Tensor};
/// let dev = Device::cpu();
/// let logp = Tensor::from_vec(vec![-0.5f32, -1.0, -2.0, -0.1], &[2, 2], &dev)?;
/// let y = Tensor::from_vec(vec![0i64, 1], &[2], &dev)?;
/// let loss = F::nll_loss(&logp, &y, &CrossEntropyOptions::default())?;
/// assert!((loss.item::<f32>()? - 0.3).abs() < 1e-6);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn nll_loss(input: &Tensor, target: &Tensor, options: &CrossEntropyOptions) -> Result<Tensor> {
    nll_loss_as("nll_loss", input, target, options)
}

/// [`nll_loss`] on behalf of `op` (cross entropy), which a target out of
/// range is reported as.
fn nll_loss_as(
    op: &'static str,
    input: &Tensor,
    target: &Tensor,
    options: &CrossEntropyOptions,
) -> Result<Tensor> {
    let (input, target, unbatched) = batched(input, target)?;
    if target.dtype() != DType::I64 {
        return Err(Error::DType {
            op,
            msg: format!("target must be int64 class indices, got {}", target.dtype()),
        });
    }
    let mut expected = input.shape().to_vec();
    expected.remove(1);
    if input.dim() < 2 || target.shape() != expected.as_slice() {
        return Err(Error::Shape {
            op,
            msg: format!(
                "input {:?} needs target of shape {expected:?}, got {:?}",
                input.shape(),
                target.shape()
            ),
        });
    }
    let ignored = target.eq(&target.full_like(options.ignore_index as f64)?)?;
    let safe = Tensor::where_cond(&ignored, &target.zeros_like()?, &target)?.unsqueeze(1)?;
    let picked = input.gather_as(op, 1, &safe)?.squeeze(1)?;
    let keep = ignored.logical_not()?.to_dtype(input.dtype())?;
    let w = match &options.weight {
        Some(weight) => class_weight(weight, &input, op)?
            .expand(input.shape())?
            .gather_as(op, 1, &safe)?
            .squeeze(1)?
            .mul(&keep)?,
        None => keep,
    };
    let losses = picked.mul(&w)?.neg()?;
    let out = match options.reduction {
        Reduction::Mean => losses.sum_all()?.div(&w.sum_all()?),
        other => reduce(losses, other, op),
    }?;
    if unbatched && options.reduction == Reduction::None {
        out.squeeze(0)
    } else {
        Ok(out)
    }
}

/// Cross entropy of unnormalized scores `input` (`[N, C]`, `[N, C, d...]` or
/// `[C]`) against class indices (`I64`) or class probabilities (a float
/// tensor shaped like `input`), with weights, `ignore_index`, label smoothing
/// and reduction as in `torch.nn.functional.cross_entropy`.
///
/// ```
/// use ingot::nn::functional::{self as F, CrossEntropyOptions};
/// use ingot::{DType, Device, Tensor};
/// let dev = Device::cpu();
/// let logits = Tensor::zeros(&[3, 4], DType::F32, &dev)?;
/// let y = Tensor::from_vec(vec![0i64, 3, 1], &[3], &dev)?;
/// let loss = F::cross_entropy(&logits, &y, &CrossEntropyOptions::default())?;
/// assert!((loss.item::<f32>()? - 4f32.ln()).abs() < 1e-6);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    options: &CrossEntropyOptions,
) -> Result<Tensor> {
    if !(0.0..=1.0).contains(&options.label_smoothing) {
        return Err(Error::InvalidArgument {
            op: "cross_entropy",
            msg: format!(
                "label_smoothing {} is not in [0, 1]",
                options.label_smoothing
            ),
        });
    }
    let (x, t, unbatched) = batched(input, target)?;
    if x.dim() < 2 {
        return Err(Error::Shape {
            op: "cross_entropy",
            msg: format!(
                "input must be [C], [N, C] or [N, C, ...], got {:?}",
                input.shape()
            ),
        });
    }
    let logp = x.log_softmax(1)?;
    let c = x.shape()[1] as f64;
    let eps = options.label_smoothing;
    let out = if t.dtype().is_float() {
        same_shape("cross_entropy", &x, &t)?;
        let t = if eps > 0.0 {
            t.mul_scalar(1.0 - eps)?.add_scalar(eps / c)?
        } else {
            t.to_dtype(x.dtype())?
        };
        let mut per_class = logp.mul(&t)?;
        if let Some(w) = &options.weight {
            per_class = per_class.mul(&class_weight(w, &x, "cross_entropy")?)?;
        }
        let losses = per_class.sum(&[1], false)?.neg()?;
        match options.reduction {
            // The mean is over the batch (and positions), not the weights.
            Reduction::Mean => losses.mean_all(),
            other => reduce(losses, other, "cross_entropy"),
        }?
    } else {
        let nll = nll_loss_as("cross_entropy", &logp, &t, options)?;
        if eps == 0.0 {
            nll
        } else {
            let ignored = t.eq(&t.full_like(options.ignore_index as f64)?)?;
            let weighted = match &options.weight {
                Some(w) => logp.mul(&class_weight(w, &x, "cross_entropy")?)?,
                None => logp.clone(),
            };
            let smooth = Tensor::where_cond(
                &ignored,
                &ignored.zeros_like()?.to_dtype(x.dtype())?,
                &weighted.sum(&[1], false)?.neg()?,
            )?;
            let smooth = match options.reduction {
                Reduction::None => smooth,
                Reduction::Sum => smooth.sum_all()?,
                Reduction::Mean => {
                    let keep = ignored.logical_not()?.to_dtype(x.dtype())?;
                    let denom = match &options.weight {
                        Some(w) => {
                            let safe = Tensor::where_cond(&ignored, &t.zeros_like()?, &t)?
                                .reshape(&[-1])?;
                            w.to_dtype(x.dtype())?
                                .index_select_as("cross_entropy", 0, &safe)?
                                .mul(&keep.reshape(&[-1])?)?
                                .sum_all()?
                        }
                        None => keep.sum_all()?,
                    };
                    smooth.sum_all()?.div(&denom)?
                }
                Reduction::BatchMean => {
                    return reduce(smooth, Reduction::BatchMean, "cross_entropy");
                }
            };
            let smooth = if unbatched && options.reduction == Reduction::None {
                smooth.squeeze(0)?
            } else {
                smooth
            };
            nll.mul_scalar(1.0 - eps)?
                .add(&smooth.mul_scalar(eps / c)?)?
        }
    };
    if unbatched && options.reduction == Reduction::None && out.dim() > 0 && t.dtype().is_float() {
        out.squeeze(0)
    } else {
        Ok(out)
    }
}

/// Mean squared error.
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let a = Tensor::from_vec(vec![1.0f32, 3.0], &[2], &Device::cpu())?;
/// let b = Tensor::from_vec(vec![0.0f32, 0.0], &[2], &Device::cpu())?;
/// assert_eq!(F::mse_loss(&a, &b, Reduction::Mean)?.item::<f32>()?, 5.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("mse_loss", input, target)?;
    let d = input.sub(target)?;
    reduce(d.mul(&d)?, reduction, "mse_loss")
}

/// Mean absolute error.
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let a = Tensor::from_vec(vec![1.0f32, -3.0], &[2], &Device::cpu())?;
/// let b = Tensor::from_vec(vec![0.0f32, 0.0], &[2], &Device::cpu())?;
/// assert_eq!(F::l1_loss(&a, &b, Reduction::Sum)?.item::<f32>()?, 4.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("l1_loss", input, target)?;
    reduce(input.sub(target)?.abs()?, reduction, "l1_loss")
}

/// Smooth L1: `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta`
/// (`beta = 0` is L1).
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let a = Tensor::from_vec(vec![0.5f64, 3.0], &[2], &Device::cpu())?;
/// let b = Tensor::from_vec(vec![0.0f64, 0.0], &[2], &Device::cpu())?;
/// assert_eq!(F::smooth_l1_loss(&a, &b, Reduction::None, 1.0)?.to_vec::<f64>()?, vec![0.125, 2.5]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn smooth_l1_loss(
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
    beta: f64,
) -> Result<Tensor> {
    same_shape("smooth_l1_loss", input, target)?;
    if beta == 0.0 {
        return l1_loss(input, target, reduction);
    }
    let d = input.sub(target)?.abs()?;
    let quadratic = d.mul(&d)?.mul_scalar(0.5 / beta)?;
    let linear = d.sub_scalar(0.5 * beta)?;
    reduce(
        Tensor::where_cond(&d.lt(&d.full_like(beta)?)?, &quadratic, &linear)?,
        reduction,
        "smooth_l1_loss",
    )
}

/// Huber: `0.5 d^2` where `|d| < delta`, else `delta (|d| - 0.5 delta)`.
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let a = Tensor::from_vec(vec![0.5f64, 3.0], &[2], &Device::cpu())?;
/// let b = Tensor::from_vec(vec![0.0f64, 0.0], &[2], &Device::cpu())?;
/// assert_eq!(F::huber_loss(&a, &b, Reduction::None, 2.0)?.to_vec::<f64>()?, vec![0.125, 4.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn huber_loss(
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
    delta: f64,
) -> Result<Tensor> {
    same_shape("huber_loss", input, target)?;
    let d = input.sub(target)?.abs()?;
    let quadratic = d.mul(&d)?.mul_scalar(0.5)?;
    let linear = d.sub_scalar(0.5 * delta)?.mul_scalar(delta)?;
    reduce(
        Tensor::where_cond(&d.lt(&d.full_like(delta)?)?, &quadratic, &linear)?,
        reduction,
        "huber_loss",
    )
}

/// Binary cross entropy of probabilities `input` against `target` in
/// `[0, 1]`, with optional per-element `weight`; logs are clamped at -100 as
/// in PyTorch.
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let p = Tensor::from_vec(vec![0.5f32], &[1], &Device::cpu())?;
/// let y = Tensor::from_vec(vec![1.0f32], &[1], &Device::cpu())?;
/// assert!((F::binary_cross_entropy(&p, &y, None, Reduction::Mean)?.item::<f32>()? - 2f32.ln()).abs() < 1e-6);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    same_shape("binary_cross_entropy", input, target)?;
    // As PyTorch: an input that is no probability is an error, not NaN.
    let input = &input.check_range("binary_cross_entropy", 0.0, 1.0)?;
    let log_p = input.log()?.clamp_min(-100.0)?;
    let log_q = input.neg()?.add_scalar(1.0)?.log()?.clamp_min(-100.0)?;
    let mut loss = target
        .mul(&log_p)?
        .add(&target.neg()?.add_scalar(1.0)?.mul(&log_q)?)?
        .neg()?;
    if let Some(w) = weight {
        loss = loss.mul(w)?;
    }
    reduce(loss, reduction, "binary_cross_entropy")
}

/// Binary cross entropy of logits, computed stably, with optional `weight`
/// and `pos_weight` (per class, broadcast along the last dimension).
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![0.0f32, 100.0], &[2], &Device::cpu())?;
/// let y = Tensor::from_vec(vec![1.0f32, 1.0], &[2], &Device::cpu())?;
/// let l = F::binary_cross_entropy_with_logits(&x, &y, None, None, Reduction::None)?.to_vec::<f32>()?;
/// assert!((l[0] - 2f32.ln()).abs() < 1e-6 && l[1] == 0.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    same_shape("binary_cross_entropy_with_logits", input, target)?;
    // log(1 + exp(-|x|)) + max(-x, 0) = log(1 + exp(-x)), without overflow.
    let softplus_neg = input
        .abs()?
        .neg()?
        .exp()?
        .add_scalar(1.0)?
        .log()?
        .add(&input.neg()?.relu()?)?;
    let scaled = match pos_weight {
        Some(pw) => target
            .mul(&pw.sub_scalar(1.0)?)?
            .add_scalar(1.0)?
            .mul(&softplus_neg)?,
        None => softplus_neg,
    };
    let mut loss = target.neg()?.add_scalar(1.0)?.mul(input)?.add(&scaled)?;
    if let Some(w) = weight {
        loss = loss.mul(w)?;
    }
    reduce(loss, reduction, "binary_cross_entropy_with_logits")
}

/// Kullback-Leibler divergence of log-probabilities `input` from `target`
/// (probabilities, or log-probabilities with `log_target`); elements with a
/// zero target count 0. `Reduction::BatchMean` divides the sum by the batch
/// size (the mathematically right mean).
///
/// ```
/// use ingot::nn::functional::{self as F, Reduction};
/// # use ingot::{Device, Tensor};
/// let p = Tensor::from_vec(vec![0.5f64, 0.5], &[1, 2], &Device::cpu())?;
/// assert_eq!(F::kl_div(&p.log()?, &p, Reduction::BatchMean, false)?.item::<f64>()?, 0.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn kl_div(
    input: &Tensor,
    target: &Tensor,
    reduction: Reduction,
    log_target: bool,
) -> Result<Tensor> {
    same_shape("kl_div", input, target)?;
    let pointwise = if log_target {
        target.exp()?.mul(&target.sub(input)?)?
    } else {
        let zero = target.eq(&target.zeros_like()?)?;
        let safe = Tensor::where_cond(&zero, &target.ones_like()?, target)?;
        let xlogx = Tensor::where_cond(&zero, &target.zeros_like()?, &target.mul(&safe.log()?)?)?;
        xlogx.sub(&target.mul(input)?)?
    };
    match reduction {
        Reduction::BatchMean => {
            let n = input.shape().first().copied().unwrap_or(1).max(1);
            pointwise.sum_all()?.div_scalar(n as f64)
        }
        other => reduce(pointwise, other, "kl_div"),
    }
}
