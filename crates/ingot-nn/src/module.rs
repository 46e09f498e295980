//! The [`Module`] trait: a layer or a model, with PyTorch's parameter naming,
//! state dicts, train/eval modes and printing.
//!
//! A module implements [`Module::forward`] and says what it owns:
//! its own parameters and buffers and its child modules. Everything else
//! (recursive parameter lists with `prefix.name` keys, state dicts, modes,
//! the PyTorch-style repr) is provided.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use ingot_core::{Device, Error, Result, Tensor};

use crate::{Buffer, Parameter, StateDict};

/// The train/eval flag of a module that behaves differently in the two
/// modes (dropout, batch norm). New modules start in training mode.
///
/// ```
/// use ingot::nn::Mode;
/// let m = Mode::default();
/// assert!(m.is_training());
/// m.set(false);
/// assert!(!m.is_training());
/// ```
#[derive(Debug)]
pub struct Mode(AtomicBool);

impl Default for Mode {
    fn default() -> Self {
        Mode(AtomicBool::new(true))
    }
}

impl Mode {
    /// Whether the module is in training mode.
    ///
    /// ```
    /// assert!(ingot::nn::Mode::default().is_training());
    /// ```
    pub fn is_training(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Switches between training (`true`) and evaluation mode.
    ///
    /// ```
    /// let m = ingot::nn::Mode::default();
    /// m.set(false);
    /// assert!(!m.is_training());
    /// ```
    pub fn set(&self, training: bool) {
        self.0.store(training, Ordering::Relaxed);
    }
}

/// A neural-network layer or model (`torch.nn.Module`).
///
/// ```
/// use ingot::nn::{self, Module, Parameter};
/// use ingot::{DType, Device, Result, Tensor};
///
/// /// y = x * scale, with a learnable scale.
/// struct Scale {
///     scale: Parameter,
/// }
///
/// impl Module for Scale {
///     fn forward(&self, x: &Tensor) -> Result<Tensor> {
///         x.mul(&self.scale.tensor())
///     }
///     fn own_parameters(&self) -> Vec<Parameter> {
///         vec![self.scale.clone()]
///     }
///     fn type_name(&self) -> String {
///         "Scale".into()
///     }
/// }
///
/// let m = nn::Sequential::new()
///     .add(Scale { scale: Parameter::new("scale", Tensor::ones(&[3], DType::F32, &Device::cpu())?) })
///     .add(nn::ReLU::new());
/// assert_eq!(m.state_dict().keys(), vec!["0.scale"]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub trait Module: Send + Sync {
    /// Computes the output for input `x`.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// The parameters this module holds directly (not its children's).
    fn own_parameters(&self) -> Vec<Parameter> {
        Vec::new()
    }

    /// The buffers this module holds directly.
    fn own_buffers(&self) -> Vec<Buffer> {
        Vec::new()
    }

    /// Child modules with their names (`"0"`, `"features"`, ...).
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// The class name printed in the repr, such as `Linear`.
    fn type_name(&self) -> String;

    /// The part of the repr between the parentheses, such as
    /// `in_features=784, out_features=256, bias=True`.
    fn extra_repr(&self) -> String {
        String::new()
    }

    /// This module's own train/eval flag, if its behaviour depends on it.
    fn mode(&self) -> Option<&Mode> {
        None
    }

    /// Every parameter, this module's first, then each child's in order.
    fn parameters(&self) -> Vec<Parameter> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// Every parameter with its PyTorch state-dict key (`0.weight`,
    /// `features.3.bias`, ...). A parameter that several children share (tied
    /// weights) is listed once, under its first key, as PyTorch's
    /// `named_parameters` does; the state dict keeps every key.
    fn named_parameters(&self) -> Vec<(String, Parameter)> {
        let mut seen = std::collections::HashSet::new();
        every_named_parameter(self)
            .into_iter()
            .filter(|(_, p)| seen.insert(p.slot_id()))
            .collect()
    }

    /// Every buffer with its state-dict key.
    fn named_buffers(&self) -> Vec<(String, Buffer)> {
        every_named(
            self.own_buffers(),
            self.children(),
            |m| m.own_buffers(),
            |b| b.name().to_string(),
        )
    }

    /// Parameters and buffers by key, as `model.state_dict()` in PyTorch
    /// (parameters of a module before its buffers, then its children).
    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new();
        collect_state(self, "", &mut sd);
        sd
    }

    /// Loads values by key, converting dtype and device to the module's.
    /// Shape mismatches are always an error; with `strict`, so are missing
    /// and unexpected keys. Every problem is reported in one error and
    /// nothing is changed unless everything checks out.
    fn load_state_dict(&self, sd: &StateDict, strict: bool) -> Result<()> {
        load_state(self, sd, strict)
    }

    /// Training mode for this module and all its children.
    fn train(&self) {
        set_mode(self, true);
    }

    /// Evaluation mode for this module and all its children.
    fn eval(&self) {
        set_mode(self, false);
    }

    /// Whether the module is in training mode (its own flag, or its first
    /// child's for modules without one; `true` if neither exists).
    fn is_training(&self) -> bool {
        match self.mode() {
            Some(m) => m.is_training(),
            None => self.children().first().is_none_or(|(_, c)| c.is_training()),
        }
    }

    /// Clears the gradients of every parameter.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Total number of parameter elements.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Parameter::numel).sum()
    }

    /// Moves every parameter and buffer to `device`.
    fn to_device(&self, device: &Device) -> Result<()> {
        for p in self.parameters() {
            p.set(p.tensor().to_device(device)?);
        }
        for (_, b) in self.named_buffers() {
            b.set(b.tensor().to_device(device)?);
        }
        Ok(())
    }
}

fn set_mode<M: Module + ?Sized>(m: &M, training: bool) {
    if let Some(mode) = m.mode() {
        mode.set(training);
    }
    for (_, c) in m.children() {
        set_mode(c, training);
    }
}

fn collect_state<M: Module + ?Sized>(m: &M, prefix: &str, sd: &mut StateDict) {
    for p in m.own_parameters() {
        sd.insert(format!("{prefix}{}", p.name()), p.tensor().detach());
    }
    for b in m.own_buffers() {
        sd.insert(format!("{prefix}{}", b.name()), b.tensor());
    }
    for (name, child) in m.children() {
        collect_state(child, &format!("{prefix}{name}."), sd);
    }
}

/// A value to load: where it goes and the converted tensor.
enum Target {
    Param(Parameter),
    Buffer(Buffer),
}

/// Every parameter under every key that reaches it, shared ones repeated.
fn every_named_parameter<M: Module + ?Sized>(m: &M) -> Vec<(String, Parameter)> {
    every_named(
        m.own_parameters(),
        m.children(),
        |m| m.own_parameters(),
        |p| p.name().to_string(),
    )
}

/// A module's `own` items, then what `get` gives of each of its `children`
/// and their descendants, keyed by the path of child names and the item's
/// `name`.
fn every_named<T>(
    own: Vec<T>,
    children: Vec<(String, &dyn Module)>,
    get: fn(&dyn Module) -> Vec<T>,
    name: fn(&T) -> String,
) -> Vec<(String, T)> {
    let mut out: Vec<(String, T)> = own.into_iter().map(|t| (name(&t), t)).collect();
    for (child_name, child) in children {
        out.extend(
            every_named(get(child), child.children(), get, name)
                .into_iter()
                .map(|(k, t)| (format!("{child_name}.{k}"), t)),
        );
    }
    out
}

fn load_state<M: Module + ?Sized>(m: &M, sd: &StateDict, strict: bool) -> Result<()> {
    let mut targets: Vec<(String, Target, Tensor)> = Vec::new();
    for (k, p) in every_named_parameter(m) {
        let current = p.tensor();
        targets.push((k, Target::Param(p), current));
    }
    for (k, b) in m.named_buffers() {
        let current = b.tensor();
        targets.push((k, Target::Buffer(b), current));
    }
    let expected: BTreeSet<&str> = targets.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut updates = Vec::new();
    for (key, target, current) in &targets {
        match sd.get(key) {
            None => missing.push(key.clone()),
            Some(v) if v.shape() != current.shape() => {
                mismatched.push(format!(
                    "{key}: checkpoint {:?}, model {:?}",
                    v.shape(),
                    current.shape()
                ));
            }
            Some(v) => updates.push((
                target,
                v.to_dtype(current.dtype())?.to_device(current.device())?,
            )),
        }
    }
    let unexpected: Vec<String> = sd
        .keys()
        .into_iter()
        .filter(|k| !expected.contains(k.as_str()))
        .collect();
    let fatal =
        !mismatched.is_empty() || (strict && (!missing.is_empty() || !unexpected.is_empty()));
    if fatal {
        let mut parts = Vec::new();
        if !missing.is_empty() && strict {
            parts.push(format!("missing keys: {}", missing.join(", ")));
        }
        if !unexpected.is_empty() && strict {
            parts.push(format!("unexpected keys: {}", unexpected.join(", ")));
        }
        if !mismatched.is_empty() {
            parts.push(format!("size mismatches: {}", mismatched.join("; ")));
        }
        return Err(Error::InvalidArgument {
            op: "load_state_dict",
            msg: parts.join(". "),
        });
    }
    for (target, value) in updates {
        match target {
            Target::Param(p) => p.set(value),
            Target::Buffer(b) => b.set(value),
        }
    }
    Ok(())
}

fn write_repr<M: Module + ?Sized>(m: &M, f: &mut String, indent: usize) {
    let children = m.children();
    f.push_str(&m.type_name());
    f.push('(');
    if children.is_empty() {
        f.push_str(&m.extra_repr());
        f.push(')');
        return;
    }
    let pad = " ".repeat(indent + 2);
    let extra = m.extra_repr();
    if !extra.is_empty() {
        f.push_str(&format!("\n{pad}{extra}"));
    }
    for (name, c) in children {
        f.push_str(&format!("\n{pad}({name}): "));
        write_repr(c, f, indent + 2);
    }
    f.push_str(&format!("\n{})", " ".repeat(indent)));
}

/// A module's PyTorch-style repr, followed by its parameter count.
///
/// ```
/// use ingot::nn::{self, Module};
/// use ingot::Device;
/// let m = nn::Sequential::new().add(nn::Linear::new(4, 2, &Device::cpu())?).add(nn::ReLU::new());
/// assert_eq!(
///     nn::repr(&m),
///     "Sequential(\n  (0): Linear(in_features=4, out_features=2, bias=True)\n  (1): ReLU()\n)\nTotal parameters: 10"
/// );
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn repr<M: Module + ?Sized>(m: &M) -> String {
    let mut s = String::new();
    write_repr(m, &mut s, 0);
    s.push_str(&format!(
        "\nTotal parameters: {}",
        group_thousands(m.num_parameters())
    ));
    s
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for dyn Module + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&repr(self))
    }
}
