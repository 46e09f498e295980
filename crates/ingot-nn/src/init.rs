//! Parameter initialization, as `torch.nn.init`: each function draws new
//! values (from ingot's global generator) and stores them in the parameter.

use ingot_core::{Error, Result, Tensor};

use crate::Parameter;

/// Which fan Kaiming initialization scales by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FanMode {
    /// Preserve the variance of activations in the forward pass.
    #[default]
    FanIn,
    /// Preserve the variance of gradients in the backward pass.
    FanOut,
}

/// The nonlinearity a gain is computed for (`torch.nn.init.calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    Linear,
    Sigmoid,
    Tanh,
    Relu,
    /// With the given negative slope.
    LeakyRelu(f64),
    Selu,
}

/// The recommended gain for a nonlinearity.
///
/// ```
/// use ingot::nn::init::{calculate_gain, Nonlinearity};
/// assert_eq!(calculate_gain(Nonlinearity::Relu), 2f64.sqrt());
/// assert_eq!(calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
/// ```
pub fn calculate_gain(nonlinearity: Nonlinearity) -> f64 {
    match nonlinearity {
        Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
        Nonlinearity::Tanh => 5.0 / 3.0,
        Nonlinearity::Relu => 2f64.sqrt(),
        Nonlinearity::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        Nonlinearity::Selu => 0.75,
    }
}

/// `(fan_in, fan_out)` of a weight shape: `[out, in, k...]` counts
/// `in * prod(k)` and `out * prod(k)`.
///
/// ```
/// assert_eq!(ingot::nn::init::fan_in_and_fan_out(&[16, 3, 5, 5]).unwrap(), (75, 400));
/// ```
pub fn fan_in_and_fan_out(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(Error::InvalidArgument {
            op: "init",
            msg: format!(
                "fan in and fan out need a tensor of at least 2 dimensions, got shape {shape:?}"
            ),
        });
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[1] * receptive, shape[0] * receptive))
}

fn replace(p: &Parameter, value: Tensor) -> Result<()> {
    p.set(value);
    Ok(())
}

/// A tensor shaped like `p` drawn from `U(low, high)`.
fn uniform_like(p: &Parameter, low: f64, high: f64) -> Result<Tensor> {
    Tensor::rand(&p.shape(), p.dtype(), &p.device())?
        .mul_scalar(high - low)?
        .add_scalar(low)
}

/// Fills with draws from `U(low, high)`.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[100], DType::F32, &Device::cpu())?);
/// init::uniform_(&p, -2.0, -1.0)?;
/// assert!(p.tensor().to_vec::<f32>()?.iter().all(|&x| (-2.0..-1.0).contains(&x)));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn uniform_(p: &Parameter, low: f64, high: f64) -> Result<()> {
    replace(p, uniform_like(p, low, high)?)
}

/// Fills with draws from `N(mean, std²)`.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[10000], DType::F64, &Device::cpu())?);
/// init::normal_(&p, 5.0, 0.1)?;
/// assert!((p.tensor().mean_all()?.item::<f64>()? - 5.0).abs() < 0.01);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn normal_(p: &Parameter, mean: f64, std: f64) -> Result<()> {
    replace(
        p,
        Tensor::randn(&p.shape(), p.dtype(), &p.device())?
            .mul_scalar(std)?
            .add_scalar(mean)?,
    )
}

/// Fills with `value`.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
/// init::constant_(&p, 0.5)?;
/// assert_eq!(p.tensor().to_vec::<f32>()?, vec![0.5, 0.5]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn constant_(p: &Parameter, value: f64) -> Result<()> {
    replace(p, Tensor::full(&p.shape(), value, p.dtype(), &p.device())?)
}

/// Fills with zeros.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
/// init::zeros_(&p)?;
/// assert_eq!(p.tensor().to_vec::<f32>()?, vec![0.0, 0.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn zeros_(p: &Parameter) -> Result<()> {
    constant_(p, 0.0)
}

/// Fills with ones.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
/// init::ones_(&p)?;
/// assert_eq!(p.tensor().to_vec::<f32>()?, vec![1.0, 1.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn ones_(p: &Parameter) -> Result<()> {
    constant_(p, 1.0)
}

/// Glorot uniform: `U(-a, a)` with `a = gain * sqrt(6 / (fan_in + fan_out))`.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[30, 20], DType::F32, &Device::cpu())?);
/// init::xavier_uniform_(&p, 1.0)?;
/// let bound = (6.0f32 / 50.0).sqrt();
/// assert!(p.tensor().to_vec::<f32>()?.iter().all(|x| x.abs() <= bound));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn xavier_uniform_(p: &Parameter, gain: f64) -> Result<()> {
    let (fan_in, fan_out) = fan_in_and_fan_out(&p.shape())?;
    let a = gain * (6.0 / (fan_in + fan_out) as f64).sqrt();
    uniform_(p, -a, a)
}

/// Glorot normal: `N(0, std²)` with `std = gain * sqrt(2 / (fan_in + fan_out))`.
///
/// ```
/// # use ingot::{nn::{init, Parameter}, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[200, 200], DType::F64, &Device::cpu())?);
/// init::xavier_normal_(&p, 1.0)?;
/// let std = p.tensor().std(&[], true, false)?.item::<f64>()?;
/// assert!((std - 0.0707).abs() < 0.002); // sqrt(2 / 400)
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn xavier_normal_(p: &Parameter, gain: f64) -> Result<()> {
    let (fan_in, fan_out) = fan_in_and_fan_out(&p.shape())?;
    normal_(p, 0.0, gain * (2.0 / (fan_in + fan_out) as f64).sqrt())
}

fn kaiming_std(p: &Parameter, a: f64, mode: FanMode, nonlinearity: Nonlinearity) -> Result<f64> {
    let (fan_in, fan_out) = fan_in_and_fan_out(&p.shape())?;
    let fan = match mode {
        FanMode::FanIn => fan_in,
        FanMode::FanOut => fan_out,
    };
    let gain = match nonlinearity {
        Nonlinearity::LeakyRelu(_) => calculate_gain(Nonlinearity::LeakyRelu(a)),
        other => calculate_gain(other),
    };
    Ok(gain / (fan.max(1) as f64).sqrt())
}

/// He uniform: `U(-b, b)` with `b = gain * sqrt(3 / fan)`. For
/// `Nonlinearity::LeakyRelu`, `a` is the negative slope (as in PyTorch, where
/// `nn.Linear` uses `a = sqrt(5)`).
///
/// ```
/// use ingot::nn::init::{self, FanMode, Nonlinearity};
/// # use ingot::{nn::Parameter, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[8, 16], DType::F32, &Device::cpu())?);
/// init::kaiming_uniform_(&p, 5f64.sqrt(), FanMode::FanIn, Nonlinearity::LeakyRelu(0.0))?;
/// assert!(p.tensor().to_vec::<f32>()?.iter().all(|x| x.abs() <= 0.25));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn kaiming_uniform_(
    p: &Parameter,
    a: f64,
    mode: FanMode,
    nonlinearity: Nonlinearity,
) -> Result<()> {
    let bound = 3f64.sqrt() * kaiming_std(p, a, mode, nonlinearity)?;
    uniform_(p, -bound, bound)
}

/// He normal: `N(0, std²)` with `std = gain / sqrt(fan)`.
///
/// ```
/// use ingot::nn::init::{self, FanMode, Nonlinearity};
/// # use ingot::{nn::Parameter, DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[256, 128], DType::F64, &Device::cpu())?);
/// init::kaiming_normal_(&p, 0.0, FanMode::FanIn, Nonlinearity::Relu)?;
/// let std = p.tensor().std(&[], true, false)?.item::<f64>()?;
/// assert!((std - 0.125).abs() < 0.005);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn kaiming_normal_(
    p: &Parameter,
    a: f64,
    mode: FanMode,
    nonlinearity: Nonlinearity,
) -> Result<()> {
    normal_(p, 0.0, kaiming_std(p, a, mode, nonlinearity)?)
}
