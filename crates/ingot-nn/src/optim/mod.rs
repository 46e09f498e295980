//! Optimizers (`torch.optim`), gradient clipping and LR schedulers.
//!
//! An optimizer step builds every parameter's new value and new state
//! lazily, swaps them into the slots and evaluates them together, so
//! forward, backward and update run as one compiled graph. Values that change
//! from step to step (learning rate, bias corrections, momentum) enter that
//! graph as input tensors: schedulers never cause a recompile.

mod adagrad;
mod adam;
pub mod lr_scheduler;
mod rmsprop;
mod sgd;

use std::collections::{BTreeMap, HashMap};

use ingot_core::{DType, Error, HostData, Result, Tensor, no_grad};

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig, AdamW};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::{Parameter, StateDict};

/// What every optimizer offers.
///
/// ```
/// use ingot::nn::{Linear, Module};
/// use ingot::optim::{Optimizer, Sgd, SgdConfig};
/// use ingot::{DType, Device, Tensor};
/// let model = Linear::new(3, 1, &Device::cpu())?;
/// let mut opt = Sgd::new(model.parameters(), SgdConfig { lr: 0.1, ..Default::default() })?;
/// let loss = model.forward(&Tensor::ones(&[4, 3], DType::F32, &Device::cpu())?)?.sum_all()?;
/// opt.zero_grad();
/// loss.backward()?;
/// opt.step()?;
/// opt.set_lr(0.01)?;
/// assert_eq!(opt.lr(), 0.01);
/// assert!(opt.set_lr(-1.0).is_err());
/// assert!(opt.group_lr(5).is_err());
/// # Ok::<(), ingot::Error>(())
/// ```
pub trait Optimizer: Send {
    /// Updates every parameter that has a gradient (evaluates the step).
    fn step(&mut self) -> Result<()>;
    /// Clears the gradients of all parameters.
    fn zero_grad(&mut self);
    /// The learning rate of the first parameter group (every optimizer has
    /// one).
    fn lr(&self) -> f64 {
        self.group_lr(0).unwrap_or(f64::NAN)
    }
    /// Sets the learning rate of every group; a negative or non-finite one
    /// is an error and changes nothing.
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        check("set_lr", "lr", lr)?;
        for g in 0..self.group_count() {
            self.set_group_lr(g, lr)?;
        }
        Ok(())
    }
    /// Number of parameter groups.
    fn group_count(&self) -> usize;
    /// The learning rate of group `group` (an error past the last group).
    fn group_lr(&self, group: usize) -> Result<f64>;
    /// Sets the learning rate of group `group`; a group past the last, or a
    /// negative or non-finite rate, is an error.
    fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()>;
    /// The momentum (SGD, RMSprop) or first beta (Adam) of a group, for
    /// schedulers that cycle it; `None` if the optimizer has none.
    fn group_momentum(&self, _group: usize) -> Option<f64> {
        None
    }
    /// Sets what [`Optimizer::group_momentum`] reads.
    fn set_group_momentum(&mut self, _group: usize, _momentum: f64) {}
    /// The learning rates when the first scheduler attached (PyTorch's
    /// `initial_lr`), recorded on first call.
    fn initial_lrs(&mut self) -> Vec<f64>;
    /// All parameters, group by group.
    fn parameters(&self) -> Vec<Parameter>;
    /// Step counts, state tensors and hyper-parameters, for checkpoints.
    fn state_dict(&self) -> Result<OptimizerState>;
    /// Restores what [`Optimizer::state_dict`] returned (same parameters).
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()>;
}

/// An optimizer's saved state: tensors keyed `state.{i}.{name}` (`i` numbers
/// the parameters across groups, as PyTorch does) and scalars such as
/// `state.{i}.step` and `group.{g}.lr`.
///
/// ```
/// use ingot::nn::{Linear, Module};
/// use ingot::optim::{Adam, AdamConfig, Optimizer};
/// let model = Linear::new(2, 2, &ingot::Device::cpu())?;
/// let opt = Adam::new(model.parameters(), AdamConfig::default())?;
/// let state = opt.state_dict()?;
/// assert!(state.tensors.get("state.0.exp_avg").is_some());
/// assert_eq!(state.scalars["group.0.lr"], 1e-3);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct OptimizerState {
    pub tensors: StateDict,
    pub scalars: BTreeMap<String, f64>,
}

/// One parameter group: its parameters and its own options.
///
/// ```
/// use ingot::nn::{Linear, Module};
/// use ingot::optim::{ParamGroup, Sgd, SgdConfig};
/// let (a, b) = (Linear::new(2, 2, &ingot::Device::cpu())?, Linear::new(2, 2, &ingot::Device::cpu())?);
/// let opt = Sgd::with_groups(vec![
///     ParamGroup { params: a.parameters(), config: SgdConfig { lr: 0.1, ..Default::default() } },
///     ParamGroup { params: b.parameters(), config: SgdConfig { lr: 0.01, ..Default::default() } },
/// ])?;
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ParamGroup<C> {
    pub params: Vec<Parameter>,
    pub config: C,
}

/// A per-parameter update rule, written in PyTorch's order of operations.
pub(crate) trait Rule: Send {
    type Config: Clone + Send;
    /// Names and initial values of the per-parameter state tensors.
    fn state_init(config: &Self::Config) -> Vec<(&'static str, f64)>;
    /// Host-computed scalars for step `step` (1-based), fed as inputs.
    fn scalars(config: &Self::Config, step: u64) -> Vec<f64>;
    /// The new parameter and state (lazy). `s` are the scalars as tensors of
    /// the parameter's dtype.
    fn update(
        config: &Self::Config,
        p: &Tensor,
        g: &Tensor,
        state: &[Tensor],
        s: &[Tensor],
    ) -> Result<(Tensor, Vec<Tensor>)>;
    fn lr(config: &Self::Config) -> f64;
    fn set_lr(config: &mut Self::Config, lr: f64);
    fn momentum(_config: &Self::Config) -> Option<f64> {
        None
    }
    fn set_momentum(_config: &mut Self::Config, _momentum: f64) {}
}

/// Parameters, their states and step counts, shared by all optimizers.
pub(crate) struct Engine<R: Rule> {
    groups: Vec<ParamGroup<R::Config>>,
    /// Per group, per parameter: state tensors and step count.
    state: Vec<Vec<(Vec<Tensor>, u64)>>,
    initial_lrs: Option<Vec<f64>>,
}

impl<R: Rule> Engine<R> {
    pub fn new(groups: Vec<ParamGroup<R::Config>>) -> Result<Self> {
        let bad = |msg: String| Error::InvalidArgument {
            op: "optimizer",
            msg,
        };
        if groups.iter().all(|g| g.params.is_empty()) {
            return Err(bad(
                "got an empty parameter list (does the model's Module::children name every child?)"
                    .into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(p) = groups
            .iter()
            .flat_map(|g| &g.params)
            .find(|p| !seen.insert(p.slot_id()))
        {
            return Err(bad(format!(
                "parameter {:?} is given twice (tied weights are one parameter: list it once)",
                p.name()
            )));
        }
        let mut state = Vec::with_capacity(groups.len());
        let mut to_eval = Vec::new();
        for g in &groups {
            let mut per = Vec::with_capacity(g.params.len());
            for p in &g.params {
                let t = p.tensor();
                let tensors = R::state_init(&g.config)
                    .into_iter()
                    .map(|(_, v)| Tensor::full(t.shape(), v, t.dtype(), t.device()))
                    .collect::<Result<Vec<_>>>()?;
                to_eval.push(t);
                to_eval.extend(tensors.iter().cloned());
                per.push((tensors, 0));
            }
            state.push(per);
        }
        // Ready buffers now, so that every step's graph has the same leaves.
        ingot_core::eval(&to_eval.iter().collect::<Vec<_>>())?;
        Ok(Engine {
            groups,
            state,
            initial_lrs: None,
        })
    }

    pub fn step(&mut self) -> Result<()> {
        no_grad(|| {
            let mut outputs = Vec::new();
            for (group, states) in self.groups.iter().zip(self.state.iter_mut()) {
                let mut scalars: HashMap<(u64, DType), Vec<Tensor>> = HashMap::new();
                for (p, (st, step)) in group.params.iter().zip(states.iter_mut()) {
                    let Some(grad) = p.grad() else { continue };
                    *step += 1;
                    let value = p.tensor();
                    let s = match scalars.get(&(*step, value.dtype())) {
                        Some(s) => s.clone(),
                        None => {
                            let s = R::scalars(&group.config, *step)
                                .into_iter()
                                .map(|v| {
                                    // Converted on the host: every device
                                    // takes the parameter's dtype (Metal
                                    // has no F64).
                                    let data = HostData::from(vec![v]).converted(value.dtype());
                                    Tensor::from_host(data, &[], value.device())
                                })
                                .collect::<Result<Vec<_>>>()?;
                            scalars.insert((*step, value.dtype()), s.clone());
                            s
                        }
                    };
                    let (new_value, new_state) = R::update(
                        &group.config,
                        &value,
                        &grad.to_dtype(value.dtype())?,
                        st,
                        &s,
                    )?;
                    p.set(new_value);
                    outputs.push(p.tensor());
                    outputs.extend(new_state.iter().cloned());
                    *st = new_state;
                }
            }
            ingot_core::eval(&outputs.iter().collect::<Vec<_>>())
        })
    }

    pub fn zero_grad(&self) {
        for g in &self.groups {
            for p in &g.params {
                p.zero_grad();
            }
        }
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// An error for a group index past the last.
    fn no_group(&self, op: &'static str, group: usize) -> Error {
        Error::InvalidArgument {
            op,
            msg: format!(
                "parameter group {group} does not exist: the optimizer has {}",
                self.groups.len()
            ),
        }
    }

    pub fn group_lr(&self, group: usize) -> Result<f64> {
        self.groups
            .get(group)
            .map(|g| R::lr(&g.config))
            .ok_or_else(|| self.no_group("group_lr", group))
    }

    pub fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        check("set_group_lr", "lr", lr)?;
        let missing = self.no_group("set_group_lr", group);
        let g = self.groups.get_mut(group).ok_or(missing)?;
        R::set_lr(&mut g.config, lr);
        Ok(())
    }

    pub fn group_momentum(&self, group: usize) -> Option<f64> {
        self.groups.get(group).and_then(|g| R::momentum(&g.config))
    }

    pub fn set_group_momentum(&mut self, group: usize, momentum: f64) {
        if let Some(g) = self.groups.get_mut(group) {
            R::set_momentum(&mut g.config, momentum);
        }
    }

    pub fn initial_lrs(&mut self) -> Vec<f64> {
        let current: Vec<f64> = self.groups.iter().map(|g| R::lr(&g.config)).collect();
        self.initial_lrs.get_or_insert(current).clone()
    }

    pub fn parameters(&self) -> Vec<Parameter> {
        self.groups
            .iter()
            .flat_map(|g| g.params.iter().cloned())
            .collect()
    }

    pub fn state_dict(&self) -> Result<OptimizerState> {
        let mut out = OptimizerState::default();
        let mut i = 0;
        for (gi, (group, states)) in self.groups.iter().zip(&self.state).enumerate() {
            out.scalars
                .insert(format!("group.{gi}.lr"), R::lr(&group.config));
            if let Some(m) = R::momentum(&group.config) {
                out.scalars.insert(format!("group.{gi}.momentum"), m);
            }
            if let Some(init) = self.initial_lrs.as_ref().and_then(|v| v.get(gi)) {
                out.scalars.insert(format!("group.{gi}.initial_lr"), *init);
            }
            let names = R::state_init(&group.config);
            for (st, step) in states {
                out.scalars.insert(format!("state.{i}.step"), *step as f64);
                for ((name, _), t) in names.iter().zip(st) {
                    out.tensors.insert(format!("state.{i}.{name}"), t.clone());
                }
                i += 1;
            }
        }
        Ok(out)
    }

    pub fn load_state_dict(&mut self, saved: &OptimizerState) -> Result<()> {
        let bad = |msg: String| Error::InvalidArgument {
            op: "load_state_dict",
            msg,
        };
        let mut updates = Vec::new();
        let mut i = 0;
        for (gi, (group, states)) in self.groups.iter().zip(&self.state).enumerate() {
            let names = R::state_init(&group.config);
            for ((st, _), p) in states.iter().zip(&group.params) {
                let step = *saved
                    .scalars
                    .get(&format!("state.{i}.step"))
                    .ok_or_else(|| bad(format!("no step for parameter {i}")))?;
                if !(step >= 0.0 && step.fract() == 0.0 && step < 2f64.powi(53)) {
                    return Err(bad(format!(
                        "state.{i}.step is {step}; expected a whole number >= 0"
                    )));
                }
                let mut tensors = Vec::with_capacity(st.len());
                for ((name, _), current) in names.iter().zip(st) {
                    let key = format!("state.{i}.{name}");
                    let t = saved
                        .tensors
                        .get(&key)
                        .ok_or_else(|| bad(format!("missing {key}")))?;
                    if t.shape() != current.shape() {
                        return Err(bad(format!(
                            "{key} has shape {:?}, parameter {} has {:?}",
                            t.shape(),
                            p.name(),
                            current.shape()
                        )));
                    }
                    tensors.push(t.to_dtype(current.dtype())?.to_device(current.device())?);
                }
                updates.push((gi, tensors, step as u64));
                i += 1;
            }
        }
        if saved
            .scalars
            .keys()
            .any(|k| k.starts_with(&format!("state.{i}.")))
        {
            return Err(bad(format!(
                "the saved state has more than the {i} parameters of this optimizer"
            )));
        }
        for (key, &value) in &saved.scalars {
            let hyper =
                key.ends_with(".lr") || key.ends_with(".initial_lr") || key.ends_with(".momentum");
            if hyper && key.starts_with("group.") {
                check("load_state_dict", key, value)?;
            }
        }
        let mut per_group: Vec<usize> = vec![0; self.groups.len()];
        for (gi, tensors, step) in updates {
            self.state[gi][per_group[gi]] = (tensors, step);
            per_group[gi] += 1;
        }
        for (gi, group) in self.groups.iter_mut().enumerate() {
            if let Some(&lr) = saved.scalars.get(&format!("group.{gi}.lr")) {
                R::set_lr(&mut group.config, lr);
            }
            if let Some(&m) = saved.scalars.get(&format!("group.{gi}.momentum")) {
                R::set_momentum(&mut group.config, m);
            }
        }
        let initial: Option<Vec<f64>> = (0..self.groups.len())
            .map(|gi| {
                saved
                    .scalars
                    .get(&format!("group.{gi}.initial_lr"))
                    .copied()
            })
            .collect();
        if initial.is_some() {
            self.initial_lrs = initial;
        }
        Ok(())
    }
}

/// Implements [`Optimizer`] for a struct whose field `engine` is an `Engine`.
macro_rules! delegate_optimizer {
    ($name:ty) => {
        impl $crate::optim::Optimizer for $name {
            fn step(&mut self) -> ingot_core::Result<()> {
                self.engine.step()
            }
            fn zero_grad(&mut self) {
                self.engine.zero_grad()
            }
            fn group_count(&self) -> usize {
                self.engine.group_count()
            }
            fn group_lr(&self, group: usize) -> ingot_core::Result<f64> {
                self.engine.group_lr(group)
            }
            fn set_group_lr(&mut self, group: usize, lr: f64) -> ingot_core::Result<()> {
                self.engine.set_group_lr(group, lr)
            }
            fn group_momentum(&self, group: usize) -> Option<f64> {
                self.engine.group_momentum(group)
            }
            fn set_group_momentum(&mut self, group: usize, momentum: f64) {
                self.engine.set_group_momentum(group, momentum)
            }
            fn initial_lrs(&mut self) -> Vec<f64> {
                self.engine.initial_lrs()
            }
            fn parameters(&self) -> Vec<$crate::Parameter> {
                self.engine.parameters()
            }
            fn state_dict(&self) -> ingot_core::Result<$crate::optim::OptimizerState> {
                self.engine.state_dict()
            }
            fn load_state_dict(
                &mut self,
                state: &$crate::optim::OptimizerState,
            ) -> ingot_core::Result<()> {
                self.engine.load_state_dict(state)
            }
        }
    };
}
pub(crate) use delegate_optimizer;

/// Rejects a negative or non-finite hyper-parameter.
pub(crate) fn check(op: &'static str, name: &str, value: f64) -> Result<()> {
    if !value.is_finite() || value < 0.0 {
        return Err(Error::InvalidArgument {
            op,
            msg: format!("invalid {name}: {value}"),
        });
    }
    Ok(())
}

/// `g + wd * p` when weight decay is on.
pub(crate) fn decayed(g: &Tensor, p: &Tensor, weight_decay: f64) -> Result<Tensor> {
    if weight_decay != 0.0 {
        g.add(&p.mul_scalar(weight_decay)?)
    } else {
        Ok(g.clone())
    }
}

/// Scales gradients so that their joint `norm_type`-norm (`f64::INFINITY`
/// for the max norm) is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping. This
/// evaluates the gradients (use [`clip_grad_norm_tensor`] to stay lazy).
/// With `error_if_nonfinite`, a NaN or infinite norm is an error (and the
/// gradients are left as they were), as PyTorch's argument of that name
/// makes it.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
/// p.set_grad(Some(Tensor::from_vec(vec![3.0f32, 4.0], &[2], &Device::cpu())?));
/// let norm = ingot::optim::clip_grad_norm(&[p.clone()], 1.0, 2.0, true)?;
/// assert!((norm - 5.0).abs() < 1e-6);
/// let g = p.grad().unwrap().to_vec::<f32>()?;
/// assert!((g[0] - 0.6).abs() < 1e-5);
/// p.set_grad(Some(Tensor::from_vec(vec![f32::NAN, 4.0], &[2], &Device::cpu())?));
/// assert!(ingot::optim::clip_grad_norm(&[p], 1.0, 2.0, true).is_err());
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn clip_grad_norm(
    params: &[Parameter],
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> Result<f64> {
    let before: Vec<Option<Tensor>> = params.iter().map(Parameter::grad).collect();
    let Some(norm) = clip_grad_norm_tensor(params, max_norm, norm_type)? else {
        return Ok(0.0);
    };
    let norm = norm.item::<f64>()?;
    if error_if_nonfinite && !norm.is_finite() {
        for (p, g) in params.iter().zip(before) {
            p.set_grad(g);
        }
        return Err(Error::InvalidArgument {
            op: "clip_grad_norm",
            msg: format!(
                "the total norm of order {norm_type} of the gradients is {norm}, so they cannot be clipped"
            ),
        });
    }
    Ok(norm)
}

/// [`clip_grad_norm`] without evaluating: the gradients are replaced by
/// lazily clipped ones and the norm is returned as a scalar tensor (`None`
/// when no parameter has a gradient).
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
/// p.set_grad(Some(Tensor::from_vec(vec![3.0f32, -4.0], &[2], &Device::cpu())?));
/// let norm = ingot::optim::clip_grad_norm_tensor(&[p], 10.0, f64::INFINITY)?.unwrap();
/// assert_eq!(norm.item::<f32>()?, 4.0);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn clip_grad_norm_tensor(
    params: &[Parameter],
    max_norm: f64,
    norm_type: f64,
) -> Result<Option<Tensor>> {
    if norm_type.is_nan() || norm_type <= 0.0 {
        return Err(Error::InvalidArgument {
            op: "clip_grad_norm",
            msg: format!("norm_type must be positive, got {norm_type}"),
        });
    }
    no_grad(|| {
        let grads: Vec<(Parameter, Tensor)> = params
            .iter()
            .filter_map(|p| p.grad().map(|g| (p.clone(), g)))
            .collect();
        if grads.is_empty() {
            return Ok(None);
        }
        let norm_of = |t: &Tensor| -> Result<Tensor> {
            let a = t.abs()?;
            if norm_type.is_infinite() {
                a.max(&[], false)
            } else if norm_type == 1.0 {
                a.sum_all()
            } else if norm_type == 2.0 {
                a.mul(&a)?.sum_all()?.sqrt()
            } else {
                a.powf(norm_type)?.sum_all()?.powf(1.0 / norm_type)
            }
        };
        let dtype = grads[0].1.dtype();
        let norms = grads
            .iter()
            .map(|(_, g)| norm_of(g)?.to_dtype(dtype))
            .collect::<Result<Vec<_>>>()?;
        let total = norm_of(&Tensor::stack(&norms.iter().collect::<Vec<_>>(), 0)?)?;
        let coef = total
            .add_scalar(1e-6)?
            .recip()?
            .mul_scalar(max_norm)?
            .clamp_max(1.0)?;
        for (p, g) in &grads {
            p.set_grad(Some(g.mul(&coef.to_dtype(g.dtype())?)?));
        }
        Ok(Some(total))
    })
}

/// Clamps every gradient to `[-clip_value, clip_value]`.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("w", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
/// p.set_grad(Some(Tensor::from_vec(vec![3.0f32, -0.5], &[2], &Device::cpu())?));
/// ingot::optim::clip_grad_value(&[p.clone()], 1.0)?;
/// assert_eq!(p.grad().unwrap().to_vec::<f32>()?, vec![1.0, -0.5]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn clip_grad_value(params: &[Parameter], clip_value: f64) -> Result<()> {
    no_grad(|| {
        for p in params {
            if let Some(g) = p.grad() {
                p.set_grad(Some(g.clamp(-clip_value, clip_value)?));
            }
        }
        Ok(())
    })
}
