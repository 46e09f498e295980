//! `Linear`, `Identity` and `Flatten`.

use ingot_core::{Device, Result, Tensor};

use super::{default_weight_and_bias, py_bool};

use crate::{Module, Parameter};

/// `y = x W^T + b` (`torch.nn.Linear`): `weight` is `[out, in]`, `bias`
/// `[out]`, both drawn from `U(-1/sqrt(in), 1/sqrt(in))` like PyTorch.
///
/// ```
/// use ingot::nn::{Linear, Module};
/// use ingot::{DType, Device, Tensor};
/// let layer = Linear::new(4, 3, &Device::cpu())?;
/// let y = layer.forward(&Tensor::ones(&[2, 4], DType::F32, &Device::cpu())?)?;
/// assert_eq!(y.shape(), &[2, 3]);
/// assert_eq!(layer.state_dict().keys(), vec!["weight", "bias"]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Linear {
    pub weight: Parameter,
    pub bias: Option<Parameter>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// A layer with a bias.
    ///
    /// ```
    /// let l = ingot::nn::Linear::new(784, 256, &ingot::Device::cpu())?;
    /// assert_eq!(l.weight.shape(), vec![256, 784]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(in_features: usize, out_features: usize, device: &Device) -> Result<Linear> {
        Linear::with_bias(in_features, out_features, true, device)
    }

    /// A layer with or without a bias.
    ///
    /// ```
    /// let l = ingot::nn::Linear::with_bias(4, 2, false, &ingot::Device::cpu())?;
    /// assert!(l.bias.is_none());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_bias(
        in_features: usize,
        out_features: usize,
        bias: bool,
        device: &Device,
    ) -> Result<Linear> {
        let (weight, bias) = default_weight_and_bias(&[out_features, in_features], bias, device)?;
        Ok(Linear {
            weight,
            bias,
            in_features,
            out_features,
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::functional::linear(
            x,
            &self.weight.tensor(),
            self.bias.as_ref().map(|b| b.tensor()).as_ref(),
        )
    }
    fn own_parameters(&self) -> Vec<Parameter> {
        std::iter::once(self.weight.clone())
            .chain(self.bias.clone())
            .collect()
    }
    fn type_name(&self) -> String {
        "Linear".into()
    }
    fn extra_repr(&self) -> String {
        format!(
            "in_features={}, out_features={}, bias={}",
            self.in_features,
            self.out_features,
            py_bool(self.bias.is_some())
        )
    }
}

/// Returns its input (`torch.nn.Identity`).
///
/// ```
/// use ingot::nn::{Identity, Module};
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[2], DType::F32, &Device::cpu())?;
/// assert!(Identity::new().forward(&x)?.same_node(&x));
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Default)]
pub struct Identity;

impl Identity {
    /// The identity module.
    ///
    /// ```
    /// let _ = ingot::nn::Identity::new();
    /// ```
    pub fn new() -> Self {
        Identity
    }
}

impl Module for Identity {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clone())
    }
    fn type_name(&self) -> String {
        "Identity".into()
    }
}

/// Flattens dimensions `start_dim..=end_dim` (default `1..=-1`, keeping the
/// batch), like `torch.nn.Flatten`.
///
/// ```
/// use ingot::nn::{Flatten, Module};
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[2, 3, 4], DType::F32, &Device::cpu())?;
/// assert_eq!(Flatten::new().forward(&x)?.shape(), &[2, 12]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Flatten {
    start_dim: isize,
    end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Flatten {
    /// Flattens all but the first dimension.
    ///
    /// ```
    /// let _ = ingot::nn::Flatten::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Flattens `start_dim..=end_dim`.
    ///
    /// ```
    /// use ingot::nn::{Flatten, Module};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::ones(&[2, 3, 4], DType::F32, &Device::cpu())?;
    /// assert_eq!(Flatten::with_dims(0, 1).forward(&x)?.shape(), &[6, 4]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_dims(start_dim: isize, end_dim: isize) -> Self {
        Flatten { start_dim, end_dim }
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(self.start_dim, self.end_dim)
    }
    fn type_name(&self) -> String {
        "Flatten".into()
    }
    fn extra_repr(&self) -> String {
        format!("start_dim={}, end_dim={}", self.start_dim, self.end_dim)
    }
}
