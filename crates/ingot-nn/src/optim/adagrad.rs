//! Adagrad (`torch.optim.Adagrad`).

use ingot_core::{Result, Tensor};

use super::{Engine, ParamGroup, Rule, check, decayed, delegate_optimizer};
use crate::Parameter;

/// Options of [`Adagrad`]; `Default` is PyTorch's (lr 1e-2, no LR decay or
/// weight decay, accumulator starting at 0, eps 1e-10).
///
/// ```
/// let c = ingot::optim::AdagradConfig::default();
/// assert_eq!((c.lr, c.eps), (1e-2, 1e-10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

/// Adagrad: divides by the root of the sum of squared gradients so far.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::optim::{Adagrad, AdagradConfig, Optimizer};
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::ones(&[1], DType::F32, &Device::cpu())?);
/// let mut opt = Adagrad::new(vec![p.clone()], AdagradConfig { lr: 0.5, ..Default::default() })?;
/// p.tensor().sum_all()?.backward()?;
/// opt.step()?;
/// assert!((p.tensor().item::<f32>()? - 0.5).abs() < 1e-6);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Adagrad {
    engine: Engine<AdagradRule>,
}

impl Adagrad {
    /// One group of parameters with `config`.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Adagrad, AdagradConfig}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// assert!(Adagrad::new(m.parameters(), AdagradConfig { lr: -1.0, ..Default::default() }).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(params: Vec<Parameter>, config: AdagradConfig) -> Result<Adagrad> {
        Adagrad::with_groups(vec![ParamGroup { params, config }])
    }

    /// Several groups, each with its own options.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Adagrad, AdagradConfig, ParamGroup}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// let _ = Adagrad::with_groups(vec![ParamGroup { params: m.parameters(), config: AdagradConfig::default() }])?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_groups(groups: Vec<ParamGroup<AdagradConfig>>) -> Result<Adagrad> {
        for g in &groups {
            let c = &g.config;
            for (name, v) in [
                ("lr", c.lr),
                ("lr_decay", c.lr_decay),
                ("weight_decay", c.weight_decay),
                ("initial_accumulator_value", c.initial_accumulator_value),
                ("eps", c.eps),
            ] {
                check("Adagrad", name, v)?;
            }
        }
        Ok(Adagrad {
            engine: Engine::new(groups)?,
        })
    }
}

delegate_optimizer!(Adagrad);

pub(crate) struct AdagradRule;

impl Rule for AdagradRule {
    type Config = AdagradConfig;

    fn state_init(c: &AdagradConfig) -> Vec<(&'static str, f64)> {
        vec![("sum", c.initial_accumulator_value)]
    }

    /// `[lr / (1 + (step - 1) * lr_decay)]`.
    fn scalars(c: &AdagradConfig, step: u64) -> Vec<f64> {
        vec![c.lr / (1.0 + (step as f64 - 1.0) * c.lr_decay)]
    }

    fn update(
        c: &AdagradConfig,
        p: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let g = decayed(g, p, c.weight_decay)?;
        let sum = state[0].add(&g.mul(&g)?)?;
        let std = sum.sqrt()?.add_scalar(c.eps)?;
        Ok((p.sub(&g.div(&std)?.mul(&s[0])?)?, vec![sum]))
    }

    fn lr(c: &AdagradConfig) -> f64 {
        c.lr
    }
    fn set_lr(c: &mut AdagradConfig, lr: f64) {
        c.lr = lr;
    }
}
