//! Adam and AdamW (`torch.optim.Adam`, `torch.optim.AdamW`).

use ingot_core::{Error, Result, Tensor};

use super::{Engine, ParamGroup, Rule, check, decayed, delegate_optimizer};
use crate::Parameter;

/// Options of [`Adam`] and [`AdamW`]. `Default` is PyTorch's Adam (lr 1e-3,
/// betas (0.9, 0.999), eps 1e-8, no weight decay, no AMSGrad);
/// [`AdamConfig::adamw_default`] has AdamW's weight decay of 1e-2.
///
/// ```
/// let c = ingot::optim::AdamConfig::default();
/// assert_eq!((c.lr, c.betas, c.eps), (1e-3, (0.9, 0.999), 1e-8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

impl AdamConfig {
    /// PyTorch's AdamW defaults (weight decay 1e-2).
    ///
    /// ```
    /// assert_eq!(ingot::optim::AdamConfig::adamw_default().weight_decay, 1e-2);
    /// ```
    pub fn adamw_default() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            ..Self::default()
        }
    }

    fn validate(&self, op: &'static str) -> Result<()> {
        check(op, "lr", self.lr)?;
        check(op, "eps", self.eps)?;
        check(op, "weight_decay", self.weight_decay)?;
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::InvalidArgument {
                    op,
                    msg: format!("invalid beta parameter at index {i}: {b}"),
                });
            }
        }
        Ok(())
    }
}

/// Adam: bias-corrected moment estimates; weight decay adds `wd * p` to the
/// gradient (L2). AMSGrad keeps the maximum second moment.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::optim::{Adam, AdamConfig, Optimizer};
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::ones(&[1], DType::F32, &Device::cpu())?);
/// let mut opt = Adam::new(vec![p.clone()], AdamConfig { lr: 0.1, ..Default::default() })?;
/// p.tensor().sum_all()?.backward()?;
/// opt.step()?;
/// // The first Adam step moves each weight by about lr.
/// assert!((p.tensor().item::<f32>()? - 0.9).abs() < 1e-5);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Adam {
    engine: Engine<AdamRule<false>>,
}

/// AdamW: Adam with decoupled weight decay (`p *= 1 - lr * wd` before the
/// update).
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::optim::{AdamConfig, AdamW, Optimizer};
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::ones(&[1], DType::F32, &Device::cpu())?);
/// let mut opt = AdamW::new(vec![p.clone()], AdamConfig::adamw_default())?;
/// p.tensor().sum_all()?.backward()?;
/// opt.step()?;
/// assert!(p.tensor().item::<f32>()? < 1.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct AdamW {
    engine: Engine<AdamRule<true>>,
}

impl Adam {
    /// One group of parameters with `config`.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Adam, AdamConfig}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// assert!(Adam::new(m.parameters(), AdamConfig { betas: (1.0, 0.9), ..Default::default() }).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(params: Vec<Parameter>, config: AdamConfig) -> Result<Adam> {
        Adam::with_groups(vec![ParamGroup { params, config }])
    }

    /// Several groups, each with its own options.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Adam, AdamConfig, ParamGroup}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// let _ = Adam::with_groups(vec![ParamGroup { params: m.parameters(), config: AdamConfig::default() }])?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_groups(groups: Vec<ParamGroup<AdamConfig>>) -> Result<Adam> {
        for g in &groups {
            g.config.validate("Adam")?;
        }
        Ok(Adam {
            engine: Engine::new(groups)?,
        })
    }
}

impl AdamW {
    /// One group of parameters with `config` (see [`AdamConfig::adamw_default`]).
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{AdamConfig, AdamW}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// let _ = AdamW::new(m.parameters(), AdamConfig::adamw_default())?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(params: Vec<Parameter>, config: AdamConfig) -> Result<AdamW> {
        AdamW::with_groups(vec![ParamGroup { params, config }])
    }

    /// Several groups, each with its own options.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{AdamConfig, AdamW, ParamGroup}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// let _ = AdamW::with_groups(vec![ParamGroup { params: m.parameters(), config: AdamConfig::adamw_default() }])?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_groups(groups: Vec<ParamGroup<AdamConfig>>) -> Result<AdamW> {
        for g in &groups {
            g.config.validate("AdamW")?;
        }
        Ok(AdamW {
            engine: Engine::new(groups)?,
        })
    }
}

delegate_optimizer!(Adam);
delegate_optimizer!(AdamW);

/// Adam's update; `DECOUPLED` selects AdamW's weight decay.
pub(crate) struct AdamRule<const DECOUPLED: bool>;

impl<const DECOUPLED: bool> Rule for AdamRule<DECOUPLED> {
    type Config = AdamConfig;

    fn state_init(c: &AdamConfig) -> Vec<(&'static str, f64)> {
        let mut s = vec![("exp_avg", 0.0), ("exp_avg_sq", 0.0)];
        if c.amsgrad {
            s.push(("max_exp_avg_sq", 0.0));
        }
        s
    }

    /// `[lr / bias_correction1, 1 - beta1, sqrt(bias_correction2), 1 - lr * wd]`.
    fn scalars(c: &AdamConfig, step: u64) -> Vec<f64> {
        let t = step as i32;
        let bc1 = 1.0 - c.betas.0.powi(t);
        let bc2 = 1.0 - c.betas.1.powi(t);
        vec![
            c.lr / bc1,
            1.0 - c.betas.0,
            bc2.sqrt(),
            1.0 - c.lr * c.weight_decay,
        ]
    }

    fn update(
        c: &AdamConfig,
        p: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (step_size, one_minus_beta1, bc2_sqrt, decay) = (&s[0], &s[1], &s[2], &s[3]);
        let (p, g) = if DECOUPLED {
            (
                if c.weight_decay != 0.0 {
                    p.mul(decay)?
                } else {
                    p.clone()
                },
                g.clone(),
            )
        } else {
            (p.clone(), decayed(g, p, c.weight_decay)?)
        };
        // exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq * beta2 + (1 - beta2) g^2
        let m = state[0].add(&g.sub(&state[0])?.mul(one_minus_beta1)?)?;
        let v = state[1]
            .mul_scalar(c.betas.1)?
            .add(&g.mul(&g)?.mul_scalar(1.0 - c.betas.1)?)?;
        let mut new_state = vec![m.clone(), v.clone()];
        let second = if c.amsgrad {
            let vmax = state[2].maximum(&v)?;
            new_state.push(vmax.clone());
            vmax
        } else {
            v
        };
        let denom = second.sqrt()?.div(bc2_sqrt)?.add_scalar(c.eps)?;
        Ok((p.sub(&m.div(&denom)?.mul(step_size)?)?, new_state))
    }

    fn lr(c: &AdamConfig) -> f64 {
        c.lr
    }
    fn set_lr(c: &mut AdamConfig, lr: f64) {
        c.lr = lr;
    }
    fn momentum(c: &AdamConfig) -> Option<f64> {
        Some(c.betas.0)
    }
    fn set_momentum(c: &mut AdamConfig, momentum: f64) {
        c.betas.0 = momentum;
    }
}
