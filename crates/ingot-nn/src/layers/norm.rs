//! Normalization layers: batch, layer and group norm.

use ingot_core::{DType, Device, Error, Result, Tensor, no_grad};

use super::py_bool;
use crate::{Buffer, Mode, Module, Parameter};

/// Options of batch normalization; `Default` is PyTorch's (eps 1e-5,
/// momentum 0.1, affine, tracking running statistics).
///
/// ```
/// let c = ingot::nn::BatchNormConfig::default();
/// assert_eq!((c.eps, c.momentum, c.affine), (1e-5, 0.1, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub eps: f64,
    pub momentum: f64,
    pub affine: bool,
    pub track_running_stats: bool,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-5,
            momentum: 0.1,
            affine: true,
            track_running_stats: true,
        }
    }
}

/// The state shared by `BatchNorm1d` and `BatchNorm2d`.
struct BatchNorm {
    weight: Option<Parameter>,
    bias: Option<Parameter>,
    running_mean: Option<Buffer>,
    running_var: Option<Buffer>,
    num_batches_tracked: Option<Buffer>,
    features: usize,
    config: BatchNormConfig,
    mode: Mode,
}

impl BatchNorm {
    fn new(features: usize, config: BatchNormConfig, device: &Device) -> Result<Self> {
        let (weight, bias) = if config.affine {
            (
                Some(Parameter::new(
                    "weight",
                    Tensor::ones(&[features], DType::F32, device)?,
                )),
                Some(Parameter::new(
                    "bias",
                    Tensor::zeros(&[features], DType::F32, device)?,
                )),
            )
        } else {
            (None, None)
        };
        let (running_mean, running_var, num_batches_tracked) = if config.track_running_stats {
            (
                Some(Buffer::new(
                    "running_mean",
                    Tensor::zeros(&[features], DType::F32, device)?,
                )),
                Some(Buffer::new(
                    "running_var",
                    Tensor::ones(&[features], DType::F32, device)?,
                )),
                Some(Buffer::new(
                    "num_batches_tracked",
                    Tensor::zeros(&[], DType::I64, device)?,
                )),
            )
        } else {
            (None, None, None)
        };
        Ok(BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            features,
            config,
            mode: Mode::default(),
        })
    }

    fn forward(&self, name: &'static str, x: &Tensor) -> Result<Tensor> {
        if x.dim() < 2 || x.shape()[1] != self.features {
            return Err(Error::Shape {
                op: name,
                msg: format!(
                    "expects input [N, {}, ...], got {:?}",
                    self.features,
                    x.shape()
                ),
            });
        }
        let dims: Vec<isize> = (0..x.dim() as isize).filter(|&d| d != 1).collect();
        let mut stats_shape = vec![1; x.dim()];
        stats_shape[1] = self.features;
        let per_channel =
            |t: &Tensor| t.reshape(&stats_shape.iter().map(|&d| d as isize).collect::<Vec<_>>());
        let use_batch = self.mode.is_training() || self.running_mean.is_none();
        let (mean, var) = if use_batch {
            let n = x.numel() / self.features.max(1);
            if self.mode.is_training() && n <= 1 {
                return Err(Error::Shape {
                    op: name,
                    msg: format!(
                        "expected more than 1 value per channel when training, got input of shape {:?}",
                        x.shape()
                    ),
                });
            }
            let mean = x.mean(&dims, true)?;
            let var = x.var(&dims, false, true)?;
            if self.mode.is_training() {
                self.update_running_stats(&mean, &var, n)?;
            }
            (mean, var)
        } else {
            let rm = self.running_mean.as_ref().map(Buffer::tensor);
            let rv = self.running_var.as_ref().map(Buffer::tensor);
            match (rm, rv) {
                (Some(m), Some(v)) => (
                    per_channel(&m.to_dtype(x.dtype())?)?,
                    per_channel(&v.to_dtype(x.dtype())?)?,
                ),
                _ => unreachable!("running statistics exist when tracked"),
            }
        };
        let mut y = x
            .sub(&mean)?
            .mul(&var.add_scalar(self.config.eps)?.rsqrt()?)?;
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            y = y
                .mul(&per_channel(&w.tensor())?)?
                .add(&per_channel(&b.tensor())?)?;
        }
        Ok(y)
    }

    /// Running statistics move towards the batch's (unbiased variance).
    fn update_running_stats(&self, mean: &Tensor, var: &Tensor, n: usize) -> Result<()> {
        let (Some(rm), Some(rv), Some(nbt)) = (
            &self.running_mean,
            &self.running_var,
            &self.num_batches_tracked,
        ) else {
            return Ok(());
        };
        let m = self.config.momentum;
        no_grad(|| {
            let flat = |t: &Tensor| t.detach().reshape(&[-1])?.to_dtype(rm.tensor().dtype());
            let unbiased = flat(var)?.mul_scalar(n as f64 / (n as f64 - 1.0))?;
            rm.set(
                rm.tensor()
                    .mul_scalar(1.0 - m)?
                    .add(&flat(mean)?.mul_scalar(m)?)?,
            );
            rv.set(
                rv.tensor()
                    .mul_scalar(1.0 - m)?
                    .add(&unbiased.mul_scalar(m)?)?,
            );
            nbt.set(nbt.tensor().add_scalar(1.0)?);
            Ok(())
        })
    }

    fn parameters(&self) -> Vec<Parameter> {
        self.weight.iter().chain(&self.bias).cloned().collect()
    }

    fn buffers(&self) -> Vec<Buffer> {
        self.running_mean
            .iter()
            .chain(&self.running_var)
            .chain(&self.num_batches_tracked)
            .cloned()
            .collect()
    }

    fn extra_repr(&self) -> String {
        format!(
            "{}, eps={}, momentum={}, affine={}, track_running_stats={}",
            self.features,
            py_float(self.config.eps),
            py_float(self.config.momentum),
            py_bool(self.config.affine),
            py_bool(self.config.track_running_stats)
        )
    }
}

/// Python's repr of a float (`1e-05`, `0.1`).
fn py_float(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-4 {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        format!("{v:?}")
    }
}

macro_rules! batch_norm {
    ($name:ident, $label:literal, $doc:literal, $shape:expr) => {
        #[doc = $doc]
        pub struct $name(BatchNorm);

        impl $name {
            /// A layer over `features` channels with PyTorch's defaults.
            ///
            /// ```
            #[doc = concat!("let bn = ingot::nn::", stringify!($name), "::new(4, &ingot::Device::cpu())?;")]
            /// assert_eq!(bn.num_features(), 4);
            /// # Ok::<(), ingot::Error>(())
            /// ```
            pub fn new(features: usize, device: &Device) -> Result<Self> {
                Self::with_config(features, BatchNormConfig::default(), device)
            }

            /// A layer with explicit options.
            ///
            /// ```
            /// use ingot::nn::BatchNormConfig;
            #[doc = concat!("let bn = ingot::nn::", stringify!($name), "::with_config(4, BatchNormConfig { momentum: 0.01, ..Default::default() }, &ingot::Device::cpu())?;")]
            /// # Ok::<(), ingot::Error>(())
            /// ```
            pub fn with_config(features: usize, config: BatchNormConfig, device: &Device) -> Result<Self> {
                Ok($name(BatchNorm::new(features, config, device)?))
            }

            /// Number of channels.
            ///
            /// ```
            #[doc = concat!("assert_eq!(ingot::nn::", stringify!($name), "::new(3, &ingot::Device::cpu())?.num_features(), 3);")]
            /// # Ok::<(), ingot::Error>(())
            /// ```
            pub fn num_features(&self) -> usize {
                self.0.features
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                let ranks: &[usize] = &$shape;
                if !ranks.contains(&x.dim()) {
                    return Err(Error::Shape { op: $label, msg: format!("expects an input of rank {ranks:?}, got shape {:?}", x.shape()) });
                }
                self.0.forward($label, x)
            }
            fn own_parameters(&self) -> Vec<Parameter> {
                self.0.parameters()
            }
            fn own_buffers(&self) -> Vec<Buffer> {
                self.0.buffers()
            }
            fn type_name(&self) -> String {
                $label.into()
            }
            fn extra_repr(&self) -> String {
                self.0.extra_repr()
            }
            fn mode(&self) -> Option<&Mode> {
                Some(&self.0.mode)
            }
        }
    };
}

batch_norm!(
    BatchNorm1d,
    "BatchNorm1d",
    "Batch normalization over `[N, C]` or `[N, C, L]` (`torch.nn.BatchNorm1d`): batch statistics and running-statistics updates in training mode, running statistics in eval mode.\n\n```\nuse ingot::nn::{BatchNorm1d, Module};\nuse ingot::{DType, Device, Tensor};\nlet bn = BatchNorm1d::new(3, &Device::cpu())?;\nlet y = bn.forward(&Tensor::randn(&[8, 3], DType::F32, &Device::cpu())?)?;\nassert_eq!(y.shape(), &[8, 3]);\n# Ok::<(), ingot::Error>(())\n```",
    [2, 3]
);
batch_norm!(
    BatchNorm2d,
    "BatchNorm2d",
    "Batch normalization over `[N, C, H, W]` (`torch.nn.BatchNorm2d`), with `weight`, `bias`, `running_mean`, `running_var` and `num_batches_tracked` (an `I64` buffer) in the state dict.\n\n```\nuse ingot::nn::{BatchNorm2d, Module};\nuse ingot::{DType, Device, Tensor};\nlet bn = BatchNorm2d::new(3, &Device::cpu())?;\nbn.forward(&Tensor::randn(&[4, 3, 2, 2], DType::F32, &Device::cpu())?)?;\nassert_eq!(bn.state_dict().get(\"num_batches_tracked\").unwrap().item::<i64>()?, 1);\n# Ok::<(), ingot::Error>(())\n```",
    [4]
);

/// Layer normalization over the trailing `normalized_shape` dimensions
/// (`torch.nn.LayerNorm`, eps 1e-5, elementwise affine).
///
/// ```
/// use ingot::nn::{LayerNorm, Module};
/// use ingot::{DType, Device, Tensor};
/// let ln = LayerNorm::new(&[4], &Device::cpu())?;
/// let y = ln.forward(&Tensor::randn(&[2, 4], DType::F64, &Device::cpu())?.to_dtype(DType::F32)?)?;
/// let m = y.mean(&[-1], false)?.to_vec::<f32>()?;
/// assert!(m.iter().all(|v| v.abs() < 1e-5));
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct LayerNorm {
    pub weight: Option<Parameter>,
    pub bias: Option<Parameter>,
    normalized_shape: Vec<usize>,
    eps: f64,
}

impl LayerNorm {
    /// Normalization over `normalized_shape`, with learnable weight and bias.
    ///
    /// ```
    /// let ln = ingot::nn::LayerNorm::new(&[8], &ingot::Device::cpu())?;
    /// assert_eq!(ln.weight.as_ref().unwrap().shape(), vec![8]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(normalized_shape: &[usize], device: &Device) -> Result<Self> {
        Self::with_options(normalized_shape, 1e-5, true, device)
    }

    /// With an explicit `eps` and choice of elementwise affine.
    ///
    /// ```
    /// let ln = ingot::nn::LayerNorm::with_options(&[8], 1e-6, false, &ingot::Device::cpu())?;
    /// assert!(ln.weight.is_none());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_options(
        normalized_shape: &[usize],
        eps: f64,
        elementwise_affine: bool,
        device: &Device,
    ) -> Result<Self> {
        let (weight, bias) = if elementwise_affine {
            (
                Some(Parameter::new(
                    "weight",
                    Tensor::ones(normalized_shape, DType::F32, device)?,
                )),
                Some(Parameter::new(
                    "bias",
                    Tensor::zeros(normalized_shape, DType::F32, device)?,
                )),
            )
        } else {
            (None, None)
        };
        Ok(LayerNorm {
            weight,
            bias,
            normalized_shape: normalized_shape.to_vec(),
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let k = self.normalized_shape.len();
        if x.dim() < k || x.shape()[x.dim() - k..] != self.normalized_shape[..] {
            return Err(Error::Shape {
                op: "LayerNorm",
                msg: format!(
                    "input {:?} does not end with the normalized shape {:?}",
                    x.shape(),
                    self.normalized_shape
                ),
            });
        }
        let dims: Vec<isize> = (x.dim() - k..x.dim()).map(|d| d as isize).collect();
        let mean = x.mean(&dims, true)?;
        let var = x.var(&dims, false, true)?;
        let mut y = x.sub(&mean)?.mul(&var.add_scalar(self.eps)?.rsqrt()?)?;
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            y = y.mul(&w.tensor())?.add(&b.tensor())?;
        }
        Ok(y)
    }
    fn own_parameters(&self) -> Vec<Parameter> {
        self.weight.iter().chain(&self.bias).cloned().collect()
    }
    fn type_name(&self) -> String {
        "LayerNorm".into()
    }
    fn extra_repr(&self) -> String {
        let shape: Vec<String> = self
            .normalized_shape
            .iter()
            .map(|d| d.to_string())
            .collect();
        let trailing = if shape.len() == 1 { "," } else { "" };
        format!(
            "({}{trailing}), eps={}, elementwise_affine={}",
            shape.join(", "),
            py_float(self.eps),
            py_bool(self.weight.is_some())
        )
    }
}

/// Group normalization (`torch.nn.GroupNorm`): channels split into groups,
/// each normalized over its channels and positions; per-channel affine.
///
/// ```
/// use ingot::nn::{GroupNorm, Module};
/// use ingot::{DType, Device, Tensor};
/// let gn = GroupNorm::new(2, 4, &Device::cpu())?;
/// let y = gn.forward(&Tensor::randn(&[3, 4, 5, 5], DType::F32, &Device::cpu())?)?;
/// assert_eq!(y.shape(), &[3, 4, 5, 5]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct GroupNorm {
    pub weight: Option<Parameter>,
    pub bias: Option<Parameter>,
    groups: usize,
    channels: usize,
    eps: f64,
}

impl GroupNorm {
    /// `groups` groups over `channels` channels (eps 1e-5, affine).
    ///
    /// ```
    /// assert!(ingot::nn::GroupNorm::new(3, 4, &ingot::Device::cpu()).is_err());
    /// ```
    pub fn new(groups: usize, channels: usize, device: &Device) -> Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            return Err(Error::InvalidArgument {
                op: "GroupNorm",
                msg: format!("num_channels {channels} must be divisible by num_groups {groups}"),
            });
        }
        Ok(GroupNorm {
            weight: Some(Parameter::new(
                "weight",
                Tensor::ones(&[channels], DType::F32, device)?,
            )),
            bias: Some(Parameter::new(
                "bias",
                Tensor::zeros(&[channels], DType::F32, device)?,
            )),
            groups,
            channels,
            eps: 1e-5,
        })
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.dim() < 2 || x.shape()[1] != self.channels {
            return Err(Error::Shape {
                op: "GroupNorm",
                msg: format!(
                    "expects input [N, {}, ...], got {:?}",
                    self.channels,
                    x.shape()
                ),
            });
        }
        let n = x.shape()[0] as isize;
        let grouped = x.reshape(&[n, self.groups as isize, -1])?;
        let mean = grouped.mean(&[-1], true)?;
        let var = grouped.var(&[-1], false, true)?;
        let y = grouped
            .sub(&mean)?
            .mul(&var.add_scalar(self.eps)?.rsqrt()?)?;
        let shape: Vec<isize> = x.shape().iter().map(|&d| d as isize).collect();
        let mut y = y.reshape(&shape)?;
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            let mut per_channel = vec![1isize; x.dim()];
            per_channel[1] = self.channels as isize;
            y = y
                .mul(&w.tensor().reshape(&per_channel)?)?
                .add(&b.tensor().reshape(&per_channel)?)?;
        }
        Ok(y)
    }
    fn own_parameters(&self) -> Vec<Parameter> {
        self.weight.iter().chain(&self.bias).cloned().collect()
    }
    fn type_name(&self) -> String {
        "GroupNorm".into()
    }
    fn extra_repr(&self) -> String {
        format!(
            "{}, {}, eps={}, affine=True",
            self.groups,
            self.channels,
            py_float(self.eps)
        )
    }
}
