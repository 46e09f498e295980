//! RMSprop (`torch.optim.RMSprop`).

use ingot_core::{Result, Tensor};

use super::{Engine, ParamGroup, Rule, check, decayed, delegate_optimizer};
use crate::Parameter;

/// Options of [`RmsProp`]; `Default` is PyTorch's (lr 1e-2, alpha 0.99,
/// eps 1e-8, no weight decay, no momentum, not centered).
///
/// ```
/// let c = ingot::optim::RmsPropConfig::default();
/// assert_eq!((c.lr, c.alpha, c.eps), (1e-2, 0.99, 1e-8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub centered: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }
}

/// RMSprop: divides by a running root mean square of the gradients
/// (centered: of their variance), with optional momentum.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::optim::{Optimizer, RmsProp, RmsPropConfig};
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::ones(&[1], DType::F32, &Device::cpu())?);
/// let mut opt = RmsProp::new(vec![p.clone()], RmsPropConfig::default())?;
/// p.tensor().sum_all()?.backward()?;
/// opt.step()?;
/// assert!(p.tensor().item::<f32>()? < 1.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct RmsProp {
    engine: Engine<RmsPropRule>,
}

impl RmsProp {
    /// One group of parameters with `config`.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{RmsProp, RmsPropConfig}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// assert!(RmsProp::new(m.parameters(), RmsPropConfig { alpha: -1.0, ..Default::default() }).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(params: Vec<Parameter>, config: RmsPropConfig) -> Result<RmsProp> {
        RmsProp::with_groups(vec![ParamGroup { params, config }])
    }

    /// Several groups, each with its own options.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{ParamGroup, RmsProp, RmsPropConfig}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// let _ = RmsProp::with_groups(vec![ParamGroup { params: m.parameters(), config: RmsPropConfig::default() }])?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_groups(groups: Vec<ParamGroup<RmsPropConfig>>) -> Result<RmsProp> {
        for g in &groups {
            let c = &g.config;
            for (name, v) in [
                ("lr", c.lr),
                ("alpha", c.alpha),
                ("eps", c.eps),
                ("weight_decay", c.weight_decay),
                ("momentum", c.momentum),
            ] {
                check("RMSprop", name, v)?;
            }
        }
        Ok(RmsProp {
            engine: Engine::new(groups)?,
        })
    }
}

delegate_optimizer!(RmsProp);

pub(crate) struct RmsPropRule;

impl Rule for RmsPropRule {
    type Config = RmsPropConfig;

    fn state_init(c: &RmsPropConfig) -> Vec<(&'static str, f64)> {
        let mut s = vec![("square_avg", 0.0)];
        if c.momentum > 0.0 {
            s.push(("momentum_buffer", 0.0));
        }
        if c.centered {
            s.push(("grad_avg", 0.0));
        }
        s
    }

    fn scalars(c: &RmsPropConfig, _step: u64) -> Vec<f64> {
        vec![c.lr, c.momentum]
    }

    fn update(
        c: &RmsPropConfig,
        p: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (lr, momentum) = (&s[0], &s[1]);
        let g = decayed(g, p, c.weight_decay)?;
        let sq = state[0]
            .mul_scalar(c.alpha)?
            .add(&g.mul(&g)?.mul_scalar(1.0 - c.alpha)?)?;
        let mut new_state = vec![sq.clone()];
        let grad_avg_slot = if c.momentum > 0.0 { 2 } else { 1 };
        let avg = if c.centered {
            let ga = state[grad_avg_slot]
                .add(&g.sub(&state[grad_avg_slot])?.mul_scalar(1.0 - c.alpha)?)?;
            let avg = sq.sub(&ga.mul(&ga)?)?.sqrt()?;
            new_state.push(ga);
            avg
        } else {
            sq.sqrt()?
        };
        let avg = avg.add_scalar(c.eps)?;
        let new_p = if c.momentum > 0.0 {
            let buf = state[1].mul(momentum)?.add(&g.div(&avg)?)?;
            new_state.insert(1, buf.clone());
            p.sub(&buf.mul(lr)?)?
        } else {
            p.sub(&g.div(&avg)?.mul(lr)?)?
        };
        Ok((new_p, new_state))
    }

    fn lr(c: &RmsPropConfig) -> f64 {
        c.lr
    }
    fn set_lr(c: &mut RmsPropConfig, lr: f64) {
        c.lr = lr;
    }
    fn momentum(c: &RmsPropConfig) -> Option<f64> {
        Some(c.momentum)
    }
    fn set_momentum(c: &mut RmsPropConfig, momentum: f64) {
        c.momentum = momentum;
    }
}
