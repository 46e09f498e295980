//! Stochastic gradient descent with momentum (`torch.optim.SGD`).

use ingot_core::{Error, Result, Tensor};

use super::{Engine, ParamGroup, Rule, check, decayed, delegate_optimizer};
use crate::Parameter;

/// Options of [`Sgd`]; `Default` is PyTorch's (lr 1e-3, no momentum,
/// dampening, weight decay or Nesterov).
///
/// ```
/// let c = ingot::optim::SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() };
/// assert_eq!((c.dampening, c.nesterov), (0.0, false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

/// SGD: `p -= lr * g`, with optional momentum (the first step's buffer is
/// the gradient itself), dampening, Nesterov momentum and weight decay.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::optim::{Optimizer, Sgd, SgdConfig};
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
/// let mut opt = Sgd::new(vec![p.clone()], SgdConfig { lr: 0.5, ..Default::default() })?;
/// p.tensor().sum_all()?.backward()?;
/// opt.step()?;
/// assert_eq!(p.tensor().to_vec::<f32>()?, vec![0.5, 0.5]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Sgd {
    engine: Engine<SgdRule>,
}

impl Sgd {
    /// One group of parameters with `config`.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// assert!(Sgd::new(m.parameters(), SgdConfig { nesterov: true, ..Default::default() }).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(params: Vec<Parameter>, config: SgdConfig) -> Result<Sgd> {
        Sgd::with_groups(vec![ParamGroup { params, config }])
    }

    /// Several groups, each with its own options.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, ParamGroup, Sgd, SgdConfig}};
    /// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
    /// let opt = Sgd::with_groups(vec![ParamGroup { params: m.parameters(), config: SgdConfig::default() }])?;
    /// assert_eq!(opt.group_count(), 1);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_groups(groups: Vec<ParamGroup<SgdConfig>>) -> Result<Sgd> {
        for g in &groups {
            let c = &g.config;
            check("SGD", "lr", c.lr)?;
            check("SGD", "momentum", c.momentum)?;
            check("SGD", "weight_decay", c.weight_decay)?;
            if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
                return Err(Error::InvalidArgument {
                    op: "SGD",
                    msg: "Nesterov momentum requires a momentum and zero dampening".into(),
                });
            }
        }
        Ok(Sgd {
            engine: Engine::new(groups)?,
        })
    }
}

delegate_optimizer!(Sgd);

pub(crate) struct SgdRule;

impl Rule for SgdRule {
    type Config = SgdConfig;

    fn state_init(c: &SgdConfig) -> Vec<(&'static str, f64)> {
        if c.momentum != 0.0 {
            vec![("momentum_buffer", 0.0)]
        } else {
            vec![]
        }
    }

    /// `[lr, 1 on the first step else 0]`.
    fn scalars(c: &SgdConfig, step: u64) -> Vec<f64> {
        vec![c.lr, if step == 1 { 1.0 } else { 0.0 }]
    }

    fn update(
        c: &SgdConfig,
        p: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (lr, first) = (&s[0], &s[1]);
        let mut g = decayed(g, p, c.weight_decay)?;
        let mut new_state = Vec::new();
        if c.momentum != 0.0 {
            // First step: the buffer is the gradient; later:
            // buf * momentum + g * (1 - dampening). Selecting with a 0/1
            // input keeps one graph for every step.
            let later = state[0]
                .mul_scalar(c.momentum)?
                .add(&g.mul_scalar(1.0 - c.dampening)?)?;
            let buf = first
                .mul(&g)?
                .add(&first.neg()?.add_scalar(1.0)?.mul(&later)?)?;
            g = if c.nesterov {
                g.add(&buf.mul_scalar(c.momentum)?)?
            } else {
                buf.clone()
            };
            new_state.push(buf);
        }
        Ok((p.sub(&g.mul(lr)?)?, new_state))
    }

    fn lr(c: &SgdConfig) -> f64 {
        c.lr
    }
    fn set_lr(c: &mut SgdConfig, lr: f64) {
        c.lr = lr;
    }
    fn momentum(c: &SgdConfig) -> Option<f64> {
        Some(c.momentum)
    }
    fn set_momentum(c: &mut SgdConfig, momentum: f64) {
        c.momentum = momentum;
    }
}
