//! `Dropout`.

use ingot_core::{Result, Tensor};

use crate::{Mode, Module, functional};

/// Zeroes each element with probability `p` in training mode and scales the
/// rest by `1 / (1 - p)`; the identity in eval mode (`torch.nn.Dropout`).
/// Masks come from ingot's Philox generator.
///
/// ```
/// use ingot::nn::{Dropout, Module};
/// use ingot::{DType, Device, Tensor};
/// let d = Dropout::new(0.5);
/// let x = Tensor::ones(&[1000], DType::F32, &Device::cpu())?;
/// let kept = d.forward(&x)?.to_vec::<f32>()?;
/// assert!(kept.iter().all(|&v| v == 0.0 || v == 2.0));
/// d.eval();
/// assert!(d.forward(&x)?.same_node(&x));
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Dropout {
    p: f64,
    mode: Mode,
}

impl Dropout {
    /// Dropout with probability `p`.
    ///
    /// ```
    /// let _ = ingot::nn::Dropout::new(0.1);
    /// ```
    pub fn new(p: f64) -> Self {
        Dropout {
            p,
            mode: Mode::default(),
        }
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        functional::dropout(x, self.p, self.mode.is_training())
    }
    fn type_name(&self) -> String {
        "Dropout".into()
    }
    fn extra_repr(&self) -> String {
        format!("p={:?}, inplace=False", self.p)
    }
    fn mode(&self) -> Option<&Mode> {
        Some(&self.mode)
    }
}
