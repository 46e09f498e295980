//! Loss modules: the functional losses with their options kept in a struct,
//! named as in `torch.nn`.
#![allow(clippy::upper_case_acronyms)]

use ingot_core::{Result, Tensor};

use crate::functional::{self as F, CrossEntropyOptions, Reduction};

/// A loss: a scalar (or, with `Reduction::None`, per-element) value from a
/// prediction and a target.
///
/// ```
/// use ingot::nn::{Loss, MSELoss};
/// # use ingot::{DType, Device, Tensor};
/// let loss: Box<dyn Loss> = Box::new(MSELoss::default());
/// let x = Tensor::ones(&[2], DType::F32, &Device::cpu())?;
/// assert_eq!(loss.forward(&x, &x)?.item::<f32>()?, 0.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub trait Loss: Send + Sync {
    /// The loss of `input` against `target`.
    fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor>;
}

/// [`F::cross_entropy`] as a module.
///
/// ```
/// use ingot::nn::{CrossEntropyLoss, Loss};
/// # use ingot::{DType, Device, Tensor};
/// let loss = CrossEntropyLoss { label_smoothing: 0.1, ..Default::default() };
/// let logits = Tensor::zeros(&[2, 5], DType::F32, &Device::cpu())?;
/// let y = Tensor::from_vec(vec![1i64, 4], &[2], &Device::cpu())?;
/// assert!((loss.forward(&logits, &y)?.item::<f32>()? - 5f32.ln()).abs() < 1e-5);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct CrossEntropyLoss {
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
    pub label_smoothing: f64,
}

impl Default for CrossEntropyLoss {
    fn default() -> Self {
        let o = CrossEntropyOptions::default();
        CrossEntropyLoss {
            weight: o.weight,
            ignore_index: o.ignore_index,
            reduction: o.reduction,
            label_smoothing: o.label_smoothing,
        }
    }
}

impl CrossEntropyLoss {
    fn options(&self) -> CrossEntropyOptions {
        CrossEntropyOptions {
            weight: self.weight.clone(),
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            label_smoothing: self.label_smoothing,
        }
    }
}

impl Loss for CrossEntropyLoss {
    fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        F::cross_entropy(input, target, &self.options())
    }
}

/// [`F::nll_loss`] as a module.
///
/// ```
/// use ingot::nn::{Loss, NLLLoss};
/// # use ingot::{DType, Device, Tensor};
/// let logp = Tensor::full(&[1, 2], -0.5, DType::F32, &Device::cpu())?;
/// let y = Tensor::from_vec(vec![1i64], &[1], &Device::cpu())?;
/// assert_eq!(NLLLoss::default().forward(&logp, &y)?.item::<f32>()?, 0.5);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct NLLLoss {
    pub weight: Option<Tensor>,
    pub ignore_index: i64,
    pub reduction: Reduction,
}

impl Default for NLLLoss {
    fn default() -> Self {
        NLLLoss {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
        }
    }
}

impl Loss for NLLLoss {
    fn forward(&self, input: &Tensor, target: &Tensor) -> Result<Tensor> {
        let o = CrossEntropyOptions {
            weight: self.weight.clone(),
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            label_smoothing: 0.0,
        };
        F::nll_loss(input, target, &o)
    }
}

macro_rules! simple_loss {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ty = $default:expr),* } => |$s:ident, $i:ident, $t:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            pub reduction: Reduction,
            $(pub $field: $ty,)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { reduction: Reduction::Mean, $($field: $default,)* }
            }
        }

        impl Loss for $name {
            fn forward(&self, $i: &Tensor, $t: &Tensor) -> Result<Tensor> {
                let $s = self;
                $body
            }
        }
    };
}

simple_loss!(
    /// [`F::mse_loss`] as a module.
    ///
    /// ```
    /// use ingot::nn::{Loss, MSELoss};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::full(&[2], 3.0, DType::F32, &Device::cpu())?;
    /// assert_eq!(MSELoss::default().forward(&x, &x.zeros_like()?)?.item::<f32>()?, 9.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    MSELoss {} => |s, i, t| F::mse_loss(i, t, s.reduction)
);
simple_loss!(
    /// [`F::l1_loss`] as a module.
    ///
    /// ```
    /// use ingot::nn::{L1Loss, Loss};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::full(&[2], -3.0, DType::F32, &Device::cpu())?;
    /// assert_eq!(L1Loss::default().forward(&x, &x.zeros_like()?)?.item::<f32>()?, 3.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    L1Loss {} => |s, i, t| F::l1_loss(i, t, s.reduction)
);
simple_loss!(
    /// [`F::smooth_l1_loss`] as a module (`beta` 1 by default).
    ///
    /// ```
    /// use ingot::nn::{Loss, SmoothL1Loss};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::full(&[1], 0.5, DType::F32, &Device::cpu())?;
    /// assert_eq!(SmoothL1Loss::default().forward(&x, &x.zeros_like()?)?.item::<f32>()?, 0.125);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    SmoothL1Loss { beta: f64 = 1.0 } => |s, i, t| F::smooth_l1_loss(i, t, s.reduction, s.beta)
);
simple_loss!(
    /// [`F::huber_loss`] as a module (`delta` 1 by default).
    ///
    /// ```
    /// use ingot::nn::{HuberLoss, Loss};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::full(&[1], 3.0, DType::F32, &Device::cpu())?;
    /// assert_eq!(HuberLoss::default().forward(&x, &x.zeros_like()?)?.item::<f32>()?, 2.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    HuberLoss { delta: f64 = 1.0 } => |s, i, t| F::huber_loss(i, t, s.reduction, s.delta)
);
simple_loss!(
    /// [`F::binary_cross_entropy`] as a module.
    ///
    /// ```
    /// use ingot::nn::{BCELoss, Loss};
    /// # use ingot::{DType, Device, Tensor};
    /// let p = Tensor::full(&[1], 0.5, DType::F32, &Device::cpu())?;
    /// assert!((BCELoss::default().forward(&p, &p.ones_like()?)?.item::<f32>()? - 2f32.ln()).abs() < 1e-6);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    BCELoss { weight: Option<Tensor> = None } => |s, i, t| F::binary_cross_entropy(i, t, s.weight.as_ref(), s.reduction)
);
simple_loss!(
    /// [`F::binary_cross_entropy_with_logits`] as a module.
    ///
    /// ```
    /// use ingot::nn::{BCEWithLogitsLoss, Loss};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::zeros(&[1], DType::F32, &Device::cpu())?;
    /// assert!((BCEWithLogitsLoss::default().forward(&x, &x.ones_like()?)?.item::<f32>()? - 2f32.ln()).abs() < 1e-6);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    BCEWithLogitsLoss { weight: Option<Tensor> = None, pos_weight: Option<Tensor> = None } =>
        |s, i, t| F::binary_cross_entropy_with_logits(i, t, s.weight.as_ref(), s.pos_weight.as_ref(), s.reduction)
);
simple_loss!(
    /// [`F::kl_div`] as a module (`log_target` false by default).
    ///
    /// ```
    /// use ingot::nn::{functional::Reduction, KLDivLoss, Loss};
    /// # use ingot::{DType, Device, Tensor};
    /// let p = Tensor::full(&[1, 2], 0.5, DType::F64, &Device::cpu())?;
    /// let loss = KLDivLoss { reduction: Reduction::BatchMean, ..Default::default() };
    /// assert_eq!(loss.forward(&p.log()?, &p)?.item::<f64>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    KLDivLoss { log_target: bool = false } => |s, i, t| F::kl_div(i, t, s.reduction, s.log_target)
);
