//! Learning-rate schedulers (`torch.optim.lr_scheduler`), stepping an
//! optimizer's learning rates with PyTorch's formulas, so the sequences
//! match PyTorch's. A scheduler sets the rate at construction (its epoch 0)
//! and on every [`LrScheduler::step`]. Learning rates are graph inputs, so
//! changing them never recompiles a training step.

use ingot_core::{Error, Result};
use serde_json::{Value, json};

use super::Optimizer;

/// What every scheduler offers.
///
/// ```
/// use ingot::nn::{Linear, Module};
/// use ingot::optim::lr_scheduler::{LrScheduler, StepLR};
/// use ingot::optim::{Optimizer, Sgd, SgdConfig};
/// let m = Linear::new(2, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let mut sched = StepLR::new(&mut opt, 2, 0.5)?;
/// let mut lrs = vec![];
/// for _ in 0..4 {
///     sched.step(&mut opt)?;
///     lrs.push(opt.lr());
/// }
/// assert_eq!(lrs, vec![1.0, 0.5, 0.5, 0.25]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub trait LrScheduler: Send {
    /// Advances one epoch (or step) and sets the optimizer's rates.
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()>;
    /// Advances with a monitored metric; only [`ReduceLROnPlateau`] uses it,
    /// the others ignore the metric.
    fn step_with_metric(&mut self, opt: &mut dyn Optimizer, _metric: f64) -> Result<()> {
        self.step(opt)
    }
    /// The rates set by the last step, one per parameter group.
    fn last_lr(&self) -> Vec<f64>;
    /// Counters and rates, for checkpoints.
    fn state(&self) -> Value;
    /// Restores what [`LrScheduler::state`] returned.
    fn load_state(&mut self, state: &Value) -> Result<()>;
    /// Sets epoch `epoch`'s rates from the closed form (PyTorch's
    /// `scheduler.step(epoch)`), used by [`SequentialLR`] at its milestones.
    fn jump_to(&mut self, opt: &mut dyn Optimizer, epoch: i64) -> Result<()>;
    /// Goes back one epoch without touching the optimizer (how
    /// [`SequentialLR`] undoes its children's initial steps).
    fn undo_step(&mut self);
}

/// The counters every scheduler keeps.
#[derive(Clone, Debug)]
struct Base {
    base_lrs: Vec<f64>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl Base {
    fn new(opt: &mut dyn Optimizer) -> Base {
        let base_lrs = opt.initial_lrs();
        Base {
            last_lr: base_lrs.clone(),
            base_lrs,
            last_epoch: -1,
        }
    }

    fn current(opt: &dyn Optimizer) -> Result<Vec<f64>> {
        (0..opt.group_count()).map(|g| opt.group_lr(g)).collect()
    }

    fn apply(&mut self, opt: &mut dyn Optimizer, lrs: Vec<f64>) -> Result<()> {
        for (g, &lr) in lrs.iter().enumerate() {
            opt.set_group_lr(g, lr)?;
        }
        self.last_lr = lrs;
        Ok(())
    }

    fn state(&self) -> Value {
        json!({"base_lrs": self.base_lrs, "last_epoch": self.last_epoch, "last_lr": self.last_lr})
    }

    fn load(&mut self, v: &Value) -> Result<()> {
        let floats =
            |k: &str| -> Option<Vec<f64>> { v[k].as_array()?.iter().map(Value::as_f64).collect() };
        match (
            floats("base_lrs"),
            v["last_epoch"].as_i64(),
            floats("last_lr"),
        ) {
            (Some(b), Some(e), Some(l)) => {
                self.base_lrs = b;
                self.last_epoch = e;
                self.last_lr = l;
                Ok(())
            }
            _ => Err(Error::InvalidArgument {
                op: "lr_scheduler",
                msg: format!("not a scheduler state: {v}"),
            }),
        }
    }
}

/// A scheduler defined by PyTorch's recursive `get_lr` and, where PyTorch
/// has one, its closed form.
trait Schedule {
    fn base_mut(&mut self) -> &mut Base;
    /// Rates at `self.base().last_epoch`, from the current ones.
    fn get_lr(&self, current: &[f64]) -> Vec<f64>;
    /// Rates at `last_epoch` from the base rates alone.
    fn closed_form(&self) -> Option<Vec<f64>> {
        None
    }
    /// Extra state beyond [`Base`].
    fn extra_state(&self) -> Value {
        Value::Null
    }
    fn load_extra(&mut self, _v: &Value) -> Result<()> {
        Ok(())
    }
    /// Called after rates are set (OneCycleLR also sets momentum).
    fn after_step(&mut self, _opt: &mut dyn Optimizer) -> Result<()> {
        Ok(())
    }
    /// Rejects a step (OneCycleLR past its total).
    fn check_step(&self) -> Result<()> {
        Ok(())
    }
}

/// Every rate of `lrs` times `factor`.
fn scaled(lrs: &[f64], factor: f64) -> Vec<f64> {
    lrs.iter().map(|lr| lr * factor).collect()
}

fn step_schedule<S: Schedule>(s: &mut S, opt: &mut dyn Optimizer) -> Result<()> {
    s.base_mut().last_epoch += 1;
    s.check_step()?;
    let lrs = s.get_lr(&Base::current(opt)?);
    s.base_mut().apply(opt, lrs)?;
    s.after_step(opt)
}

macro_rules! scheduler {
    ($name:ident) => {
        impl LrScheduler for $name {
            fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
                step_schedule(self, opt)
            }
            fn last_lr(&self) -> Vec<f64> {
                self.base.last_lr.clone()
            }
            fn state(&self) -> Value {
                json!({"base": self.base.state(), "extra": self.extra_state()})
            }
            fn load_state(&mut self, state: &Value) -> Result<()> {
                self.base.load(&state["base"])?;
                self.load_extra(&state["extra"])
            }
            fn jump_to(&mut self, opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
                self.base.last_epoch = epoch;
                let lrs = match self.closed_form() {
                    Some(l) => l,
                    None => self.get_lr(&Base::current(opt)?),
                };
                self.base.apply(opt, lrs)?;
                self.after_step(opt)
            }
            fn undo_step(&mut self) {
                self.base.last_epoch -= 1;
            }
        }
    };
}

fn invalid(op: &'static str, msg: String) -> Error {
    Error::InvalidArgument { op, msg }
}

/// Multiplies the rate by `gamma` every `step_size` epochs.
///
/// ```
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig, lr_scheduler::{LrScheduler, StepLR}}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 0.1, ..Default::default() })?;
/// let mut s = StepLR::new(&mut opt, 1, 0.1)?;
/// s.step(&mut opt)?;
/// assert!((opt.lr() - 0.01).abs() < 1e-15);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct StepLR {
    base: Base,
    step_size: usize,
    gamma: f64,
}

impl StepLR {
    /// `gamma` every `step_size` epochs.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig, lr_scheduler::StepLR}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// assert!(StepLR::new(&mut opt, 0, 0.1).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(opt: &mut dyn Optimizer, step_size: usize, gamma: f64) -> Result<Self> {
        if step_size == 0 {
            return Err(invalid("StepLR", "step_size must be positive".into()));
        }
        let mut s = StepLR {
            base: Base::new(opt),
            step_size,
            gamma,
        };
        step_schedule(&mut s, opt)?;
        Ok(s)
    }
}

impl Schedule for StepLR {
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&self, current: &[f64]) -> Vec<f64> {
        let e = self.base.last_epoch;
        if e == 0 || e % self.step_size as i64 != 0 {
            current.to_vec()
        } else {
            scaled(current, self.gamma)
        }
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let k = self.base.last_epoch.div_euclid(self.step_size as i64) as i32;
        Some(scaled(&self.base.base_lrs, self.gamma.powi(k)))
    }
}
scheduler!(StepLR);

/// Multiplies the rate by `gamma` at each milestone epoch.
///
/// ```
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig, lr_scheduler::{LrScheduler, MultiStepLR}}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let mut s = MultiStepLR::new(&mut opt, vec![2, 3], 0.5)?;
/// let lrs: Vec<f64> = (0..4).map(|_| { s.step(&mut opt).unwrap(); opt.lr() }).collect();
/// assert_eq!(lrs, vec![1.0, 0.5, 0.25, 0.25]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct MultiStepLR {
    base: Base,
    milestones: Vec<usize>,
    gamma: f64,
}

impl MultiStepLR {
    /// `gamma` at each of `milestones` (repeats multiply repeatedly).
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig, lr_scheduler::MultiStepLR}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// let _ = MultiStepLR::new(&mut opt, vec![30, 80], 0.1)?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(opt: &mut dyn Optimizer, mut milestones: Vec<usize>, gamma: f64) -> Result<Self> {
        milestones.sort_unstable();
        let mut s = MultiStepLR {
            base: Base::new(opt),
            milestones,
            gamma,
        };
        step_schedule(&mut s, opt)?;
        Ok(s)
    }
}

impl Schedule for MultiStepLR {
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&self, current: &[f64]) -> Vec<f64> {
        let e = self.base.last_epoch;
        let hits = self.milestones.iter().filter(|&&m| m as i64 == e).count() as i32;
        scaled(current, self.gamma.powi(hits))
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let passed = self
            .milestones
            .iter()
            .filter(|&&m| m as i64 <= self.base.last_epoch)
            .count() as i32;
        Some(scaled(&self.base.base_lrs, self.gamma.powi(passed)))
    }
}
scheduler!(MultiStepLR);

/// Multiplies the rate by `gamma` every epoch.
///
/// ```
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig, lr_scheduler::{ExponentialLR, LrScheduler}}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let mut s = ExponentialLR::new(&mut opt, 0.5)?;
/// s.step(&mut opt)?;
/// assert_eq!(opt.lr(), 0.5);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct ExponentialLR {
    base: Base,
    gamma: f64,
}

impl ExponentialLR {
    /// `gamma` per epoch.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig, lr_scheduler::ExponentialLR}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// let _ = ExponentialLR::new(&mut opt, 0.9)?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(opt: &mut dyn Optimizer, gamma: f64) -> Result<Self> {
        let mut s = ExponentialLR {
            base: Base::new(opt),
            gamma,
        };
        step_schedule(&mut s, opt)?;
        Ok(s)
    }
}

impl Schedule for ExponentialLR {
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&self, current: &[f64]) -> Vec<f64> {
        if self.base.last_epoch == 0 {
            current.to_vec()
        } else {
            scaled(current, self.gamma)
        }
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let k = self.base.last_epoch as i32;
        Some(scaled(&self.base.base_lrs, self.gamma.powi(k)))
    }
}
scheduler!(ExponentialLR);

/// Cosine annealing from the base rate to `eta_min` over `t_max` epochs
/// (then back up, as PyTorch's recursive form does past `t_max`).
///
/// ```
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig, lr_scheduler::{CosineAnnealingLR, LrScheduler}}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let mut s = CosineAnnealingLR::new(&mut opt, 2, 0.0)?;
/// s.step(&mut opt)?;
/// assert!((opt.lr() - 0.5).abs() < 1e-12);
/// s.step(&mut opt)?;
/// assert!(opt.lr().abs() < 1e-12);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct CosineAnnealingLR {
    base: Base,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLR {
    /// Annealing over `t_max` epochs down to `eta_min`.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig, lr_scheduler::CosineAnnealingLR}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// assert!(CosineAnnealingLR::new(&mut opt, 0, 0.0).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(opt: &mut dyn Optimizer, t_max: usize, eta_min: f64) -> Result<Self> {
        if t_max == 0 {
            return Err(invalid(
                "CosineAnnealingLR",
                "T_max must be positive".into(),
            ));
        }
        let mut s = CosineAnnealingLR {
            base: Base::new(opt),
            t_max,
            eta_min,
        };
        step_schedule(&mut s, opt)?;
        Ok(s)
    }
}

impl Schedule for CosineAnnealingLR {
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&self, current: &[f64]) -> Vec<f64> {
        use std::f64::consts::PI;
        let (e, t) = (self.base.last_epoch, self.t_max as i64);
        if e == 0 {
            return current.to_vec();
        }
        if (e - 1 - t).rem_euclid(2 * t) == 0 {
            return current
                .iter()
                .zip(&self.base.base_lrs)
                .map(|(lr, base)| lr + (base - self.eta_min) * (1.0 - (PI / t as f64).cos()) / 2.0)
                .collect();
        }
        let ratio = (1.0 + (PI * e as f64 / t as f64).cos())
            / (1.0 + (PI * (e - 1) as f64 / t as f64).cos());
        current
            .iter()
            .map(|lr| ratio * (lr - self.eta_min) + self.eta_min)
            .collect()
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let e = self.base.last_epoch as f64;
        let c = (std::f64::consts::PI * e / self.t_max as f64).cos();
        Some(
            self.base
                .base_lrs
                .iter()
                .map(|b| self.eta_min + (b - self.eta_min) * (1.0 + c) / 2.0)
                .collect(),
        )
    }
}
scheduler!(CosineAnnealingLR);

/// Scales the rate linearly from `start_factor` to `end_factor` over
/// `total_iters` epochs (PyTorch's defaults: 1/3, 1, 5).
///
/// ```
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig, lr_scheduler::{LinearLR, LrScheduler}}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let mut s = LinearLR::new(&mut opt, 0.5, 1.0, 2)?;
/// assert_eq!(opt.lr(), 0.5);
/// s.step(&mut opt)?;
/// s.step(&mut opt)?;
/// assert!((opt.lr() - 1.0).abs() < 1e-12);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct LinearLR {
    base: Base,
    start_factor: f64,
    end_factor: f64,
    total_iters: usize,
}

impl LinearLR {
    /// Linear warm-up or decay of the rate's factor.
    ///
    /// ```
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig, lr_scheduler::LinearLR}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// assert!(LinearLR::new(&mut opt, 0.0, 1.0, 5).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(
        opt: &mut dyn Optimizer,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Result<Self> {
        let valid = start_factor > 0.0 && start_factor <= 1.0 && (0.0..=1.0).contains(&end_factor);
        if !valid {
            return Err(invalid(
                "LinearLR",
                format!(
                    "start_factor {start_factor} must be in (0, 1] and end_factor {end_factor} in [0, 1]"
                ),
            ));
        }
        let mut s = LinearLR {
            base: Base::new(opt),
            start_factor,
            end_factor,
            total_iters,
        };
        step_schedule(&mut s, opt)?;
        Ok(s)
    }
}

impl Schedule for LinearLR {
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&self, current: &[f64]) -> Vec<f64> {
        let e = self.base.last_epoch;
        if e == 0 {
            return scaled(current, self.start_factor);
        }
        if e > self.total_iters as i64 {
            return current.to_vec();
        }
        let (s, t) = (self.start_factor, self.end_factor);
        let factor = 1.0 + (t - s) / (self.total_iters as f64 * s + (e - 1) as f64 * (t - s));
        scaled(current, factor)
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let (s, t) = (self.start_factor, self.end_factor);
        let progress = (self.base.last_epoch.max(0) as f64).min(self.total_iters as f64)
            / self.total_iters.max(1) as f64;
        Some(scaled(&self.base.base_lrs, s + (t - s) * progress))
    }
}
scheduler!(LinearLR);

/// How [`OneCycleLR`] interpolates within a phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AnnealStrategy {
    #[default]
    Cos,
    Linear,
}

/// Options of [`OneCycleLR`]; `Default` is PyTorch's.
///
/// ```
/// let c = ingot::optim::lr_scheduler::OneCycleConfig::default();
/// assert_eq!((c.pct_start, c.div_factor, c.final_div_factor), (0.3, 25.0, 1e4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneCycleConfig {
    pub pct_start: f64,
    pub anneal_strategy: AnnealStrategy,
    pub cycle_momentum: bool,
    pub base_momentum: f64,
    pub max_momentum: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    pub three_phase: bool,
}

impl Default for OneCycleConfig {
    fn default() -> Self {
        OneCycleConfig {
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }
}

/// One phase: up to `end_step`, rate `from -> to`, momentum `mom_from -> mom_to`.
#[derive(Clone, Copy, Debug)]
struct Phase {
    end_step: f64,
    from: f64,
    to: f64,
    mom_from: f64,
    mom_to: f64,
}

/// The 1cycle policy: warm up from `max_lr / div_factor` to `max_lr`, then
/// anneal to `max_lr / div_factor / final_div_factor`, cycling momentum the
/// other way. Stepping past `total_steps` is an error.
///
/// ```
/// use ingot::optim::lr_scheduler::{LrScheduler, OneCycleConfig, OneCycleLR};
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { momentum: 0.9, ..Default::default() })?;
/// let mut s = OneCycleLR::new(&mut opt, 1.0, 10, OneCycleConfig::default())?;
/// assert!((opt.lr() - 0.04).abs() < 1e-12); // max_lr / div_factor
/// for _ in 0..9 {
///     s.step(&mut opt)?;
/// }
/// assert!(opt.lr() < 1e-5);
/// assert!(s.step(&mut opt).is_err());
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct OneCycleLR {
    base: Base,
    total_steps: usize,
    phases: Vec<Phase>,
    config: OneCycleConfig,
}

impl OneCycleLR {
    /// The policy peaking at `max_lr` over `total_steps` steps.
    ///
    /// ```
    /// use ingot::optim::lr_scheduler::{OneCycleConfig, OneCycleLR};
    /// # use ingot::{nn::{Linear, Module}, optim::{Adagrad, AdagradConfig}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Adagrad::new(m.parameters(), AdagradConfig::default())?;
    /// // Adagrad has no momentum to cycle.
    /// assert!(OneCycleLR::new(&mut opt, 0.1, 10, OneCycleConfig::default()).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(
        opt: &mut dyn Optimizer,
        max_lr: f64,
        total_steps: usize,
        config: OneCycleConfig,
    ) -> Result<Self> {
        let c = config;
        if total_steps == 0 || !(0.0..=1.0).contains(&c.pct_start) {
            return Err(invalid(
                "OneCycleLR",
                format!(
                    "total_steps {total_steps} must be positive and pct_start {} in [0, 1]",
                    c.pct_start
                ),
            ));
        }
        if c.cycle_momentum && opt.group_momentum(0).is_none() {
            return Err(invalid(
                "OneCycleLR",
                "the optimizer has no momentum to cycle; set cycle_momentum to false".into(),
            ));
        }
        let initial = max_lr / c.div_factor;
        let min_lr = initial / c.final_div_factor;
        let up = c.pct_start * total_steps as f64 - 1.0;
        let last = total_steps as f64 - 1.0;
        let phases = if c.three_phase {
            vec![
                Phase {
                    end_step: up,
                    from: initial,
                    to: max_lr,
                    mom_from: c.max_momentum,
                    mom_to: c.base_momentum,
                },
                Phase {
                    end_step: 2.0 * c.pct_start * total_steps as f64 - 2.0,
                    from: max_lr,
                    to: initial,
                    mom_from: c.base_momentum,
                    mom_to: c.max_momentum,
                },
                Phase {
                    end_step: last,
                    from: initial,
                    to: min_lr,
                    mom_from: c.max_momentum,
                    mom_to: c.max_momentum,
                },
            ]
        } else {
            vec![
                Phase {
                    end_step: up,
                    from: initial,
                    to: max_lr,
                    mom_from: c.max_momentum,
                    mom_to: c.base_momentum,
                },
                Phase {
                    end_step: last,
                    from: max_lr,
                    to: min_lr,
                    mom_from: c.base_momentum,
                    mom_to: c.max_momentum,
                },
            ]
        };
        let mut base = Base::new(opt);
        base.base_lrs = vec![initial; opt.group_count()];
        if c.cycle_momentum {
            for g in 0..opt.group_count() {
                opt.set_group_momentum(g, c.max_momentum);
            }
        }
        let mut s = OneCycleLR {
            base,
            total_steps,
            phases,
            config,
        };
        step_schedule(&mut s, opt)?;
        Ok(s)
    }

    fn anneal(&self, from: f64, to: f64, pct: f64) -> f64 {
        match self.config.anneal_strategy {
            AnnealStrategy::Cos => {
                to + (from - to) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
            }
            AnnealStrategy::Linear => (to - from) * pct + from,
        }
    }

    /// `(lr, momentum)` at the current step.
    fn at_step(&self) -> (f64, f64) {
        let step = self.base.last_epoch as f64;
        let mut start = 0.0;
        for (i, p) in self.phases.iter().enumerate() {
            if step <= p.end_step || i == self.phases.len() - 1 {
                let pct = (step - start) / (p.end_step - start);
                return (
                    self.anneal(p.from, p.to, pct),
                    self.anneal(p.mom_from, p.mom_to, pct),
                );
            }
            start = p.end_step;
        }
        (f64::NAN, f64::NAN)
    }
}

impl Schedule for OneCycleLR {
    fn base_mut(&mut self) -> &mut Base {
        &mut self.base
    }
    fn get_lr(&self, current: &[f64]) -> Vec<f64> {
        vec![self.at_step().0; current.len()]
    }
    fn check_step(&self) -> Result<()> {
        if self.base.last_epoch >= self.total_steps as i64 {
            return Err(invalid(
                "OneCycleLR",
                format!(
                    "tried to step {} times; the specified number of total steps is {}",
                    self.base.last_epoch, self.total_steps
                ),
            ));
        }
        Ok(())
    }
    fn after_step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        if self.config.cycle_momentum {
            let m = self.at_step().1;
            for g in 0..opt.group_count() {
                opt.set_group_momentum(g, m);
            }
        }
        Ok(())
    }
}
scheduler!(OneCycleLR);

/// Whether [`ReduceLROnPlateau`] watches for a falling or a rising metric.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlateauMode {
    #[default]
    Min,
    Max,
}

/// Whether the improvement threshold is relative or absolute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    #[default]
    Rel,
    Abs,
}

/// Options of [`ReduceLROnPlateau`]; `Default` is PyTorch's (min, factor
/// 0.1, patience 10, threshold 1e-4 relative, no cooldown, min_lr 0,
/// eps 1e-8).
///
/// ```
/// let c = ingot::optim::lr_scheduler::PlateauConfig { patience: 2, ..Default::default() };
/// assert_eq!(c.factor, 0.1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlateauConfig {
    pub mode: PlateauMode,
    pub factor: f64,
    pub patience: usize,
    pub threshold: f64,
    pub threshold_mode: ThresholdMode,
    pub cooldown: usize,
    pub min_lr: f64,
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        PlateauConfig {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// Cuts the rate by `factor` when a metric stops improving for `patience`
/// epochs. Step it with [`LrScheduler::step_with_metric`]; a plain
/// [`LrScheduler::step`] has no metric and changes nothing.
///
/// ```
/// use ingot::optim::lr_scheduler::{LrScheduler, PlateauConfig, ReduceLROnPlateau};
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let mut s = ReduceLROnPlateau::new(&mut opt, PlateauConfig { patience: 1, ..Default::default() })?;
/// for loss in [1.0, 1.0, 1.0] {
///     s.step_with_metric(&mut opt, loss)?;
/// }
/// assert!((opt.lr() - 0.1).abs() < 1e-12);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct ReduceLROnPlateau {
    base: Base,
    config: PlateauConfig,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
}

impl ReduceLROnPlateau {
    /// Watches a metric with `config`.
    ///
    /// ```
    /// use ingot::optim::lr_scheduler::{PlateauConfig, ReduceLROnPlateau};
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// assert!(ReduceLROnPlateau::new(&mut opt, PlateauConfig { factor: 1.0, ..Default::default() }).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(opt: &mut dyn Optimizer, config: PlateauConfig) -> Result<Self> {
        if config.factor >= 1.0 {
            return Err(invalid(
                "ReduceLROnPlateau",
                "factor should be < 1.0".into(),
            ));
        }
        let mut base = Base::new(opt);
        base.last_epoch = 0;
        base.last_lr = Base::current(opt)?;
        let best = if config.mode == PlateauMode::Min {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        };
        Ok(ReduceLROnPlateau {
            base,
            config,
            best,
            num_bad_epochs: 0,
            cooldown_counter: 0,
        })
    }

    fn is_better(&self, a: f64) -> bool {
        let c = &self.config;
        match (c.mode, c.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < self.best * (1.0 - c.threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < self.best - c.threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > self.best * (c.threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > self.best + c.threshold,
        }
    }
}

impl LrScheduler for ReduceLROnPlateau {
    fn step(&mut self, _opt: &mut dyn Optimizer) -> Result<()> {
        Ok(())
    }

    fn step_with_metric(&mut self, opt: &mut dyn Optimizer, metric: f64) -> Result<()> {
        self.base.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            for g in 0..opt.group_count() {
                let old = opt.group_lr(g)?;
                let new = (old * self.config.factor).max(self.config.min_lr);
                if old - new > self.config.eps {
                    opt.set_group_lr(g, new)?;
                }
            }
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
        self.base.last_lr = Base::current(opt)?;
        Ok(())
    }

    fn last_lr(&self) -> Vec<f64> {
        self.base.last_lr.clone()
    }

    fn state(&self) -> Value {
        json!({"base": self.base.state(), "best": self.best, "num_bad_epochs": self.num_bad_epochs, "cooldown_counter": self.cooldown_counter})
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        self.base.load(&state["base"])?;
        // JSON has no infinities: an unset best was saved as null.
        self.best = state["best"]
            .as_f64()
            .unwrap_or(if self.config.mode == PlateauMode::Min {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            });
        self.num_bad_epochs = state["num_bad_epochs"].as_u64().unwrap_or(0) as usize;
        self.cooldown_counter = state["cooldown_counter"].as_u64().unwrap_or(0) as usize;
        Ok(())
    }

    fn jump_to(&mut self, opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
        self.base.last_epoch = epoch;
        self.base.last_lr = Base::current(opt)?;
        Ok(())
    }

    fn undo_step(&mut self) {
        self.base.last_epoch -= 1;
    }
}

/// Runs schedulers one after another, switching at each milestone epoch
/// (where the next one restarts at its epoch 0).
///
/// ```
/// use ingot::optim::lr_scheduler::{ExponentialLR, LinearLR, LrScheduler, SequentialLR};
/// # use ingot::{nn::{Linear, Module}, optim::{Optimizer, Sgd, SgdConfig}};
/// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
/// let mut opt = Sgd::new(m.parameters(), SgdConfig { lr: 1.0, ..Default::default() })?;
/// let warmup = LinearLR::new(&mut opt, 0.5, 1.0, 2)?;
/// let decay = ExponentialLR::new(&mut opt, 0.5)?;
/// let mut s = SequentialLR::new(&mut opt, vec![Box::new(warmup), Box::new(decay)], vec![2])?;
/// let lrs: Vec<f64> = (0..4).map(|_| { s.step(&mut opt).unwrap(); opt.lr() }).collect();
/// assert_eq!(lrs, vec![0.75, 1.0, 0.5, 0.25]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct SequentialLR {
    schedulers: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<usize>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl SequentialLR {
    /// `schedulers[i]` runs from `milestones[i - 1]`; there is one milestone
    /// fewer than schedulers.
    ///
    /// ```
    /// use ingot::optim::lr_scheduler::{ExponentialLR, SequentialLR};
    /// # use ingot::{nn::{Linear, Module}, optim::{Sgd, SgdConfig}};
    /// # let m = Linear::new(1, 1, &ingot::Device::cpu())?;
    /// let mut opt = Sgd::new(m.parameters(), SgdConfig::default())?;
    /// let only = ExponentialLR::new(&mut opt, 0.5)?;
    /// assert!(SequentialLR::new(&mut opt, vec![Box::new(only)], vec![3]).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(
        opt: &mut dyn Optimizer,
        mut schedulers: Vec<Box<dyn LrScheduler>>,
        milestones: Vec<usize>,
    ) -> Result<Self> {
        if schedulers.is_empty() || milestones.len() + 1 != schedulers.len() {
            return Err(invalid(
                "SequentialLR",
                format!(
                    "expects one milestone fewer than schedulers, got {} schedulers and {} milestones",
                    schedulers.len(),
                    milestones.len()
                ),
            ));
        }
        for (g, lr) in opt.initial_lrs().into_iter().enumerate() {
            opt.set_group_lr(g, lr)?;
        }
        for s in schedulers.iter_mut() {
            s.undo_step();
        }
        schedulers[0].step(opt)?;
        let last_lr = schedulers[0].last_lr();
        Ok(SequentialLR {
            schedulers,
            milestones,
            last_epoch: 0,
            last_lr,
        })
    }
}

impl LrScheduler for SequentialLR {
    fn step(&mut self, opt: &mut dyn Optimizer) -> Result<()> {
        self.last_epoch += 1;
        let idx = self
            .milestones
            .iter()
            .filter(|&&m| m as i64 <= self.last_epoch)
            .count();
        if idx > 0 && self.milestones[idx - 1] as i64 == self.last_epoch {
            self.schedulers[idx].jump_to(opt, 0)?;
        } else {
            self.schedulers[idx].step(opt)?;
        }
        self.last_lr = self.schedulers[idx].last_lr();
        Ok(())
    }

    fn last_lr(&self) -> Vec<f64> {
        self.last_lr.clone()
    }

    fn state(&self) -> Value {
        json!({"last_epoch": self.last_epoch, "last_lr": self.last_lr, "schedulers": self.schedulers.iter().map(|s| s.state()).collect::<Vec<_>>()})
    }

    fn load_state(&mut self, state: &Value) -> Result<()> {
        let subs = state["schedulers"]
            .as_array()
            .filter(|a| a.len() == self.schedulers.len());
        let (Some(subs), Some(epoch)) = (subs, state["last_epoch"].as_i64()) else {
            return Err(invalid(
                "SequentialLR",
                format!("not a SequentialLR state: {state}"),
            ));
        };
        for (s, v) in self.schedulers.iter_mut().zip(subs) {
            s.load_state(v)?;
        }
        self.last_epoch = epoch;
        self.last_lr = state["last_lr"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        Ok(())
    }

    fn jump_to(&mut self, opt: &mut dyn Optimizer, epoch: i64) -> Result<()> {
        self.last_epoch = epoch - 1;
        self.step(opt)
    }

    fn undo_step(&mut self) {
        self.last_epoch -= 1;
    }
}
