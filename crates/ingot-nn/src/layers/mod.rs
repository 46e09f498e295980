//! The layers of `torch.nn`, with PyTorch's parameter names, layouts and
//! default initialization.

mod activation;
mod attention;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod norm;
mod pool;
mod sequential;

pub use activation::{ELU, GELU, LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Tanh};
pub use attention::{
    Activation, MultiheadAttention, TransformerEncoderLayer, TransformerEncoderLayerConfig,
};
pub use conv::{Conv2d, Conv2dConfig};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::{Flatten, Identity, Linear};
pub use norm::{BatchNorm1d, BatchNorm2d, BatchNormConfig, GroupNorm, LayerNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d};
pub use sequential::Sequential;

use ingot_core::{DType, Device, Result, Tensor};

use crate::Parameter;
use crate::init::{self, FanMode, Nonlinearity};

/// A `weight` of `weight_shape` (`[out, in, k...]`) and, if `bias`, a
/// `bias` of `out` values, initialized as PyTorch's `Linear` and `Conv2d`
/// do: kaiming-uniform with `a = sqrt(5)` for the weight, then
/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` for the bias.
fn default_weight_and_bias(
    weight_shape: &[usize],
    bias: bool,
    device: &Device,
) -> Result<(Parameter, Option<Parameter>)> {
    let weight = Parameter::new("weight", Tensor::zeros(weight_shape, DType::F32, device)?);
    init::kaiming_uniform_(
        &weight,
        5f64.sqrt(),
        FanMode::FanIn,
        Nonlinearity::LeakyRelu(0.0),
    )?;
    if !bias {
        return Ok((weight, None));
    }
    let (fan_in, _) = init::fan_in_and_fan_out(weight_shape)?;
    let b = Parameter::new(
        "bias",
        Tensor::zeros(&weight_shape[..1], DType::F32, device)?,
    );
    let bound = if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    };
    init::uniform_(&b, -bound, bound)?;
    Ok((weight, Some(b)))
}

/// Python's spelling of a bool, for reprs.
pub(crate) fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}
