//! Activation modules. The names are PyTorch's (`ReLU`, `GELU`, ...), kept
//! so that a PyTorch user finds them.
#![allow(clippy::upper_case_acronyms)]

use ingot_core::{Result, Tensor};

use crate::{Module, functional as F};

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name;

        impl $name {
            /// The activation module.
            ///
            /// ```
            #[doc = concat!("let _ = ingot::nn::", stringify!($name), "::new();")]
            /// ```
            pub fn new() -> Self {
                $name
            }
        }

        impl Module for $name {
            fn forward(&self, $x: &Tensor) -> Result<Tensor> {
                $body
            }
            fn type_name(&self) -> String {
                stringify!($name).into()
            }
        }
    };
}

activation!(
    /// `max(x, 0)`.
    ///
    /// ```
    /// use ingot::nn::{Module, ReLU};
    /// # use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![-1.0f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(ReLU::new().forward(&x)?.to_vec::<f32>()?, vec![0.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    ReLU,
    |x| x.relu()
);
activation!(
    /// `x * sigmoid(x)` (swish).
    ///
    /// ```
    /// use ingot::nn::{Module, SiLU};
    /// # use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(SiLU::new().forward(&x)?.item::<f32>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    SiLU,
    |x| F::silu(x)
);
activation!(
    /// The logistic function.
    ///
    /// ```
    /// use ingot::nn::{Module, Sigmoid};
    /// # use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(Sigmoid::new().forward(&x)?.item::<f32>()?, 0.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    Sigmoid,
    |x| x.sigmoid()
);
activation!(
    /// Hyperbolic tangent.
    ///
    /// ```
    /// use ingot::nn::{Module, Tanh};
    /// # use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(Tanh::new().forward(&x)?.item::<f32>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    Tanh,
    |x| x.tanh()
);

/// GELU; exact (erf) by default, or the tanh approximation
/// (`approximate='tanh'` in PyTorch).
///
/// ```
/// use ingot::nn::{GELU, Module};
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![1.0f64], &[1], &Device::cpu())?;
/// let exact = GELU::new().forward(&x)?.item::<f64>()?;
/// let approx = GELU::tanh().forward(&x)?.item::<f64>()?;
/// assert!((exact - 0.8413447460685429).abs() < 1e-12 && (exact - approx).abs() < 1e-3);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Default)]
pub struct GELU {
    tanh: bool,
}

impl GELU {
    /// The exact GELU.
    ///
    /// ```
    /// let _ = ingot::nn::GELU::new();
    /// ```
    pub fn new() -> Self {
        GELU { tanh: false }
    }

    /// The tanh approximation.
    ///
    /// ```
    /// let _ = ingot::nn::GELU::tanh();
    /// ```
    pub fn tanh() -> Self {
        GELU { tanh: true }
    }
}

impl Module for GELU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.tanh { F::gelu_tanh(x) } else { x.gelu() }
    }
    fn type_name(&self) -> String {
        "GELU".into()
    }
    fn extra_repr(&self) -> String {
        format!("approximate='{}'", if self.tanh { "tanh" } else { "none" })
    }
}

/// `x` for positive inputs, `negative_slope * x` otherwise (default 0.01).
///
/// ```
/// use ingot::nn::{LeakyReLU, Module};
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![-2.0f32, 3.0], &[2], &Device::cpu())?;
/// assert_eq!(LeakyReLU::new(0.1).forward(&x)?.to_vec::<f32>()?, vec![-0.2, 3.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct LeakyReLU {
    negative_slope: f64,
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU {
            negative_slope: 0.01,
        }
    }
}

impl LeakyReLU {
    /// With the given negative slope (`LeakyReLU::default()` has 0.01).
    ///
    /// ```
    /// let _ = ingot::nn::LeakyReLU::new(0.2);
    /// ```
    pub fn new(negative_slope: f64) -> Self {
        LeakyReLU { negative_slope }
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::leaky_relu(x, self.negative_slope)
    }
    fn type_name(&self) -> String {
        "LeakyReLU".into()
    }
    fn extra_repr(&self) -> String {
        format!("negative_slope={}", self.negative_slope)
    }
}

/// `x` for positive inputs, `alpha * (exp(x) - 1)` otherwise (default 1).
///
/// ```
/// use ingot::nn::{ELU, Module};
/// # use ingot::{Device, Tensor};
/// let x = Tensor::from_vec(vec![0.0f64, 2.0], &[2], &Device::cpu())?;
/// assert_eq!(ELU::default().forward(&x)?.to_vec::<f64>()?, vec![0.0, 2.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct ELU {
    alpha: f64,
}

impl Default for ELU {
    fn default() -> Self {
        ELU { alpha: 1.0 }
    }
}

impl ELU {
    /// With the given `alpha`.
    ///
    /// ```
    /// let _ = ingot::nn::ELU::new(0.5);
    /// ```
    pub fn new(alpha: f64) -> Self {
        ELU { alpha }
    }
}

impl Module for ELU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        F::elu(x, self.alpha)
    }
    fn type_name(&self) -> String {
        "ELU".into()
    }
    fn extra_repr(&self) -> String {
        format!("alpha={:?}", self.alpha)
    }
}

/// Softmax along `dim`.
///
/// ```
/// use ingot::nn::{Module, Softmax};
/// # use ingot::{DType, Device, Tensor};
/// let x = Tensor::zeros(&[2, 4], DType::F32, &Device::cpu())?;
/// assert_eq!(Softmax::new(1).forward(&x)?.to_vec::<f32>()?, vec![0.25; 8]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Softmax {
    dim: isize,
}

impl Softmax {
    /// Softmax along `dim`.
    ///
    /// ```
    /// let _ = ingot::nn::Softmax::new(-1);
    /// ```
    pub fn new(dim: isize) -> Self {
        Softmax { dim }
    }
}

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.softmax(self.dim)
    }
    fn type_name(&self) -> String {
        "Softmax".into()
    }
    fn extra_repr(&self) -> String {
        format!("dim={}", self.dim)
    }
}

/// Log-softmax along `dim`.
///
/// ```
/// use ingot::nn::{LogSoftmax, Module};
/// # use ingot::{DType, Device, Tensor};
/// let x = Tensor::zeros(&[1, 2], DType::F64, &Device::cpu())?;
/// let y = LogSoftmax::new(1).forward(&x)?.to_vec::<f64>()?;
/// assert!((y[0] + 2f64.ln()).abs() < 1e-12);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct LogSoftmax {
    dim: isize,
}

impl LogSoftmax {
    /// Log-softmax along `dim`.
    ///
    /// ```
    /// let _ = ingot::nn::LogSoftmax::new(-1);
    /// ```
    pub fn new(dim: isize) -> Self {
        LogSoftmax { dim }
    }
}

impl Module for LogSoftmax {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.log_softmax(self.dim)
    }
    fn type_name(&self) -> String {
        "LogSoftmax".into()
    }
    fn extra_repr(&self) -> String {
        format!("dim={}", self.dim)
    }
}
