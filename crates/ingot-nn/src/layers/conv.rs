//! `Conv2d`.

use ingot_core::{Device, Error, Result, Tensor};

use super::default_weight_and_bias;
use crate::{Module, Parameter};

/// Options of [`Conv2d`] (square sizes); `Default` is PyTorch's: stride 1,
/// padding 0, dilation 1, groups 1, with bias.
///
/// ```
/// let c = ingot::nn::Conv2dConfig { padding: 1, ..Default::default() };
/// assert_eq!((c.stride, c.padding, c.groups, c.bias), (1, 1, 1, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
    pub bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
            bias: true,
        }
    }
}

/// 2-D convolution over `[N, C, H, W]` (`torch.nn.Conv2d`): `weight` is
/// `[out, in / groups, k, k]`, initialized like PyTorch.
///
/// ```
/// use ingot::nn::{Conv2d, Conv2dConfig, Module};
/// use ingot::{DType, Device, Tensor};
/// let conv = Conv2d::new(1, 16, 5, Conv2dConfig { padding: 2, ..Default::default() }, &Device::cpu())?;
/// let y = conv.forward(&Tensor::ones(&[2, 1, 28, 28], DType::F32, &Device::cpu())?)?;
/// assert_eq!(y.shape(), &[2, 16, 28, 28]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Conv2d {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A convolution with a `kernel x kernel` window.
    ///
    /// ```
    /// let c = ingot::nn::Conv2d::new(3, 8, 3, Default::default(), &ingot::Device::cpu())?;
    /// assert_eq!(c.weight.shape(), vec![8, 3, 3, 3]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        config: Conv2dConfig,
        device: &Device,
    ) -> Result<Conv2d> {
        let g = config.groups;
        let c = &config;
        if kernel == 0 || c.stride == 0 || c.dilation == 0 || in_channels == 0 || out_channels == 0
        {
            return Err(Error::InvalidArgument {
                op: "Conv2d",
                msg: format!(
                    "kernel_size {kernel}, stride {}, dilation {}, in_channels {in_channels} and out_channels {out_channels} must be positive",
                    c.stride, c.dilation
                ),
            });
        }
        if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
            return Err(Error::InvalidArgument {
                op: "Conv2d",
                msg: format!(
                    "in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {g}"
                ),
            });
        }
        let (weight, bias) = default_weight_and_bias(
            &[out_channels, in_channels / g, kernel, kernel],
            config.bias,
            device,
        )?;
        Ok(Conv2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel,
            config,
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let bias = self.bias.as_ref().map(Parameter::tensor);
        x.conv2d(
            &self.weight.tensor(),
            bias.as_ref(),
            c.stride,
            c.padding,
            c.dilation,
            c.groups,
        )
    }
    fn own_parameters(&self) -> Vec<Parameter> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }
    fn type_name(&self) -> String {
        "Conv2d".into()
    }
    fn extra_repr(&self) -> String {
        let c = &self.config;
        let k = self.kernel;
        let mut s = format!(
            "{}, {}, kernel_size=({k}, {k}), stride=({}, {})",
            self.in_channels, self.out_channels, c.stride, c.stride
        );
        if c.padding != 0 {
            s += &format!(", padding=({}, {})", c.padding, c.padding);
        }
        if c.dilation != 1 {
            s += &format!(", dilation=({}, {})", c.dilation, c.dilation);
        }
        if c.groups != 1 {
            s += &format!(", groups={}", c.groups);
        }
        if !c.bias {
            s += ", bias=False";
        }
        s
    }
}
