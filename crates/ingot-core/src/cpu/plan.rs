//! Planning: a [`Graph`] becomes a list of kernel steps over buffer slots.
//!
//! - Elementwise ops, constants, `arange` and reshapes are *fusible*. A
//!   fusible node is inlined into its consumers when they are all fusible and
//!   in one group; each group's last node is its root and becomes one
//!   [`FusedKernel`], so a chain of N elementwise ops is one pass over
//!   memory. A graph output inlined this way is also stored by the kernel:
//!   an optimizer's new moments and new weights come out of one pass.
//! - Permute, expand, slice (and reshape where strides allow) are views: they
//!   change how the next kernel reads a buffer, never copy it.
//! - Every other op is a kernel step reading its arguments through views
//!   (copied to a contiguous buffer first for kernels that need it).
//! - Each slot is freed after the last step that reads it, so a step's
//!   temporaries go back to the pool as soon as they are dead.

use std::collections::HashMap;

use super::conv_bias;
use super::exec::PARALLEL_MIN;
use super::fused::{FusedKernel, InPlace, Instr, Kind, Reg};
use super::kernels::transposed;
use super::view::View;
use crate::ir::{
    ArgReduceOp, Conv2dParams, Graph, NodeId, Op, Pool2dParams, RandDist, ReduceOp, TensorType,
};
use crate::{DType, Error, Result};

/// A kernel argument: a slot seen through a view.
#[derive(Clone, Debug)]
pub(crate) struct Operand {
    pub slot: usize,
    pub view: View,
    pub dtype: DType,
}

/// What a step computes. Attributes mirror the IR op.
#[derive(Clone, Debug)]
pub(crate) enum Kernel {
    Fused(FusedKernel),
    /// Materializes its one argument contiguously.
    Copy,
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
    },
    ArgReduce {
        op: ArgReduceOp,
        axis: usize,
    },
    MatMul,
    /// Arguments `x`, `w` and, where [`conv_bias`] folded one in, the bias.
    Conv2d(Conv2dParams),
    Conv2dBackwardInput(Conv2dParams),
    Conv2dBackwardWeight(Conv2dParams),
    MaxPool2d(Pool2dParams),
    MaxPool2dBackward(Pool2dParams),
    AvgPool2d(Pool2dParams),
    AvgPool2dBackward(Pool2dParams),
    Softmax {
        axis: usize,
        log: bool,
    },
    Gather {
        axis: usize,
        /// The user's op, named when an index is out of range.
        op: &'static str,
    },
    ScatterAdd {
        axis: usize,
    },
    /// A copy of its argument, checked to lie in `lo..=hi`.
    CheckRange {
        lo: f64,
        hi: f64,
        op: &'static str,
    },
    Concat {
        axis: usize,
    },
    Pad {
        pads: Vec<(usize, usize)>,
        value: f64,
    },
    Rand(RandDist),
}

impl Kernel {
    /// A short name for profiles.
    pub fn label(&self) -> String {
        match self {
            Kernel::Fused(k) if k.outs.len() > 1 => {
                format!("fused({}, {} outputs)", k.instrs.len(), k.outs.len())
            }
            Kernel::Fused(k) => format!("fused({})", k.instrs.len()),
            Kernel::Copy => "copy".into(),
            Kernel::Reduce { op, axes } => format!("{op:?}{axes:?}").to_lowercase(),
            Kernel::ArgReduce { op, .. } => format!("{op:?}").to_lowercase(),
            Kernel::MatMul => "matmul".into(),
            Kernel::Conv2d(_) => "conv2d".into(),
            Kernel::Conv2dBackwardInput(_) => "conv2d_backward_input".into(),
            Kernel::Conv2dBackwardWeight(_) => "conv2d_backward_weight".into(),
            Kernel::MaxPool2d(_) => "max_pool2d".into(),
            Kernel::MaxPool2dBackward(_) => "max_pool2d_backward".into(),
            Kernel::AvgPool2d(_) => "avg_pool2d".into(),
            Kernel::AvgPool2dBackward(_) => "avg_pool2d_backward".into(),
            Kernel::Softmax { log, .. } => if *log { "log_softmax" } else { "softmax" }.into(),
            Kernel::Gather { .. } => "gather".into(),
            Kernel::ScatterAdd { .. } => "scatter_add".into(),
            Kernel::CheckRange { .. } => "check_range".into(),
            Kernel::Concat { .. } => "concat".into(),
            Kernel::Pad { .. } => "pad".into(),
            Kernel::Rand(_) => "rand".into(),
        }
    }
}

/// One kernel run writing a new slot.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub kernel: Kernel,
    pub args: Vec<Operand>,
    pub out: usize,
    pub out_ty: TensorType,
    /// Further slots a fused kernel writes, in the order of its
    /// [`FusedKernel::outs`] after the first.
    pub extra_outs: Vec<(usize, TensorType)>,
    /// Slots whose last reader is this step.
    pub free_after: Vec<usize>,
}

/// A planned graph. Slots `0..n_inputs` hold the inputs.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub n_inputs: usize,
    pub n_slots: usize,
    pub steps: Vec<Step>,
    /// The slot of each graph output (whole, contiguous buffers).
    pub outputs: Vec<usize>,
}

fn fusible(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(_)
            | Op::Cast
            | Op::Binary(_)
            | Op::Where
            | Op::Const(_)
            | Op::Arange { .. }
            | Op::Reshape
    )
}

fn internal(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "cpu".into(),
        msg: format!("internal planner error: {}", msg.into()),
    }
}

/// The value of a node while planning.
#[derive(Clone, Debug)]
enum Val {
    /// Computed inside a fused group; has no buffer of its own.
    Inline,
    Slot(Operand),
}

struct Planner<'g> {
    g: &'g Graph,
    consumers: &'g [Vec<NodeId>],
    is_output: &'g [bool],
    vals: Vec<Val>,
    steps: Vec<Step>,
    /// Element count of each slot's buffer.
    slot_len: Vec<usize>,
    /// The contiguous copies made so far, by the slot and view they copy:
    /// a view that several kernels need contiguous is copied once.
    copies: HashMap<(usize, View), Operand>,
}

/// Plans `g` for the CPU.
pub(crate) fn plan(g: &Graph) -> Result<Program> {
    let folded = conv_bias::fold(g);
    let g = folded.as_ref().unwrap_or(g);
    let n = g.nodes.len();
    let mut consumers: Vec<Vec<NodeId>> = vec![Vec::new(); n];
    for (i, node) in g.nodes.iter().enumerate() {
        for &a in &node.args {
            consumers[a].push(i);
        }
    }
    let mut is_output = vec![false; n];
    for &o in &g.outputs {
        is_output[o] = true;
    }
    let (group, members) = fusion_groups(g, &consumers);

    let mut p = Planner {
        g,
        consumers: &consumers,
        is_output: &is_output,
        vals: Vec::with_capacity(n),
        steps: Vec::new(),
        slot_len: g.inputs.iter().map(TensorType::numel).collect(),
        copies: HashMap::new(),
    };
    for (i, node) in g.nodes.iter().enumerate() {
        if consumers[i].is_empty() && !is_output[i] {
            // Read by nothing (left so by `conv_bias::fold`).
            p.vals.push(Val::Inline);
            continue;
        }
        let val = match &node.op {
            Op::Input(k) => {
                let ty = g
                    .inputs
                    .get(*k)
                    .ok_or_else(|| internal(format!("input {k} has no type")))?;
                Val::Slot(Operand {
                    slot: *k,
                    view: View::contiguous(&ty.shape),
                    dtype: ty.dtype,
                })
            }
            op if fusible(op) => {
                let root = group[i].is_some_and(|gid| members[gid].last() == Some(&i));
                if !root {
                    Val::Inline
                } else {
                    let gid = group[i].ok_or_else(|| internal("fusible node without group"))?;
                    p.plan_group(i, &members[gid])?
                }
            }
            _ => p.plan_kernel(i)?,
        };
        p.vals.push(val);
    }
    let mut outputs = Vec::with_capacity(g.outputs.len());
    for &o in &g.outputs {
        let operand = p.operand(o)?;
        if operand.view.is_whole(p.slot_len[operand.slot]) {
            outputs.push(operand.slot);
        } else {
            let ty = g.nodes[o].ty.clone();
            outputs.push(p.emit_copy(operand, ty).slot);
        }
    }
    let n_slots = p.slot_len.len();
    let mut steps = p.steps;
    schedule_frees(&mut steps, &outputs, n_slots);
    Ok(Program {
        n_inputs: g.inputs.len(),
        n_slots,
        steps,
        outputs,
    })
}

/// Assigns fusible nodes to groups, last node first: a node joins its
/// consumers' group when they are all fusible and share one group (the
/// group's kernel then also stores the node if it is an output). Returns
/// each node's group and each group's members in node order (root last).
fn fusion_groups(g: &Graph, consumers: &[Vec<NodeId>]) -> (Vec<Option<usize>>, Vec<Vec<NodeId>>) {
    let n = g.nodes.len();
    let mut group: Vec<Option<usize>> = vec![None; n];
    let mut members: Vec<Vec<NodeId>> = Vec::new();
    for i in (0..n).rev() {
        if !fusible(&g.nodes[i].op) {
            continue;
        }
        let cs = &consumers[i];
        let shared = match cs.first() {
            Some(&first) => {
                let gid = group[first];
                (gid.is_some() && cs.iter().all(|&c| group[c] == gid))
                    .then_some(gid)
                    .flatten()
            }
            _ => None,
        };
        let gid = shared.unwrap_or_else(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        group[i] = Some(gid);
        members[gid].push(i);
    }
    for m in &mut members {
        m.reverse();
    }
    (group, members)
}

/// Fills each step's `free_after` with the slots it reads for the last time
/// (and slots nothing reads), except outputs.
fn schedule_frees(steps: &mut [Step], outputs: &[usize], n_slots: usize) {
    let mut last: Vec<Option<usize>> = vec![None; n_slots];
    for (s, step) in steps.iter().enumerate() {
        for a in &step.args {
            last[a.slot] = Some(s);
        }
        for out in std::iter::once(step.out).chain(step.extra_outs.iter().map(|(o, _)| *o)) {
            last[out] = last[out].or(Some(s));
        }
    }
    for &o in outputs {
        last[o] = None;
    }
    for (slot, l) in last.into_iter().enumerate() {
        if let Some(s) = l {
            steps[s].free_after.push(slot);
        }
    }
}

impl Planner<'_> {
    fn operand(&self, node: NodeId) -> Result<Operand> {
        match &self.vals[node] {
            Val::Slot(o) => Ok(o.clone()),
            Val::Inline => Err(internal(format!(
                "node {node} ({}) has no buffer",
                self.g.nodes[node].op.name()
            ))),
        }
    }

    fn emit(&mut self, kernel: Kernel, args: Vec<Operand>, out_ty: TensorType) -> Operand {
        let slot = self.slot_len.len();
        self.slot_len.push(out_ty.numel());
        let operand = Operand {
            slot,
            view: View::contiguous(&out_ty.shape),
            dtype: out_ty.dtype,
        };
        self.steps.push(Step {
            kernel,
            args,
            out: slot,
            out_ty,
            extra_outs: Vec::new(),
            free_after: Vec::new(),
        });
        operand
    }

    /// The operand, copied to a contiguous buffer if its view is not.
    fn contiguous(&mut self, o: Operand) -> Operand {
        if o.view.is_contiguous() {
            return o;
        }
        let key = (o.slot, o.view.clone());
        if let Some(copy) = self.copies.get(&key) {
            return copy.clone();
        }
        let ty = TensorType {
            shape: o.view.shape.clone(),
            dtype: o.dtype,
        };
        let copy = self.emit_copy(o, ty);
        self.copies.insert(key, copy.clone());
        copy
    }

    /// A step that copies `o` into a contiguous buffer of type `ty`,
    /// reading it through its view's merged axes (longer runs: an expanded
    /// scalar is one run, not one per row).
    fn emit_copy(&mut self, o: Operand, ty: TensorType) -> Operand {
        let view = o.view.coalesced();
        self.emit(Kernel::Copy, vec![Operand { view, ..o }], ty)
    }

    fn plan_group(&mut self, root: NodeId, members: &[NodeId]) -> Result<Val> {
        let node = &self.g.nodes[root];
        if members.len() == 1 && node.op == Op::Reshape {
            let src = self.operand(node.args[0])?;
            if let Some(view) = src.view.reshape(&node.ty.shape) {
                return Ok(Val::Slot(Operand { view, ..src }));
            }
        }
        let mut b = FusedBuilder::default();
        let mut values: HashMap<NodeId, usize> = HashMap::new();
        let mut args: Vec<Operand> = Vec::new();
        let mut loaded: HashMap<NodeId, usize> = HashMap::new();
        for &m in members {
            let node = &self.g.nodes[m];
            let mut arg_value = |a: NodeId, b: &mut FusedBuilder| -> Result<usize> {
                if let Some(&v) = values.get(&a) {
                    return Ok(v);
                }
                if let Some(&v) = loaded.get(&a) {
                    return Ok(v);
                }
                let mut operand = self.operand(a)?;
                if gathers_slowly(&operand.view.coalesced()) {
                    operand = self.contiguous(operand);
                }
                let v = b.value(Kind::of(operand.dtype));
                let view = operand.view.coalesced();
                b.instrs.push(Instr::Load {
                    arg: args.len(),
                    dst: b.virt(v),
                    in_place: match view.strides.last() {
                        _ if !Kind::holds_exactly(operand.dtype) => InPlace::Never,
                        _ if view.is_contiguous() => InPlace::Always,
                        Some(1) => InPlace::InRows,
                        _ => InPlace::Never,
                    },
                });
                args.push(Operand { view, ..operand });
                loaded.insert(a, v);
                Ok(v)
            };
            let kind = Kind::of(node.ty.dtype);
            let dtype = node.ty.dtype;
            let v = match &node.op {
                Op::Reshape => arg_value(node.args[0], &mut b)?,
                Op::Const(c) => {
                    let v = b.value(kind);
                    b.instrs.push(Instr::Const {
                        value: c.0,
                        dtype,
                        dst: b.virt(v),
                    });
                    v
                }
                Op::Arange { start, step } => {
                    let v = b.value(kind);
                    b.instrs.push(Instr::Arange {
                        start: start.0,
                        step: step.0,
                        dtype,
                        dst: b.virt(v),
                    });
                    v
                }
                Op::Unary(op) => {
                    let s = arg_value(node.args[0], &mut b)?;
                    let v = b.value(kind);
                    b.instrs.push(Instr::Unary {
                        op: *op,
                        src: b.virt(s),
                        dst: b.virt(v),
                    });
                    b.round_to(v, dtype)
                }
                Op::Cast => {
                    let s = arg_value(node.args[0], &mut b)?;
                    let v = b.value(kind);
                    b.instrs.push(Instr::Cast {
                        src: b.virt(s),
                        to: dtype,
                        dst: b.virt(v),
                    });
                    v
                }
                Op::Binary(op) => {
                    let x = arg_value(node.args[0], &mut b)?;
                    let y = arg_value(node.args[1], &mut b)?;
                    let v = b.value(kind);
                    b.instrs.push(Instr::Binary {
                        op: *op,
                        a: b.virt(x),
                        b: b.virt(y),
                        dst: b.virt(v),
                    });
                    b.round_to(v, dtype)
                }
                Op::Where => {
                    let c = arg_value(node.args[0], &mut b)?;
                    let x = arg_value(node.args[1], &mut b)?;
                    let y = arg_value(node.args[2], &mut b)?;
                    let v = b.value(kind);
                    b.instrs.push(Instr::Where {
                        cond: b.virt(c),
                        a: b.virt(x),
                        b: b.virt(y),
                        dst: b.virt(v),
                    });
                    b.round_to(v, dtype)
                }
                other => return Err(internal(format!("{} in a fused group", other.name()))),
            };
            values.insert(m, v);
        }
        // The root first, then the members that are graph outputs.
        let stored: Vec<NodeId> = std::iter::once(root)
            .chain(
                members
                    .iter()
                    .copied()
                    .filter(|&m| m != root && self.is_output[m]),
            )
            .collect();
        // Constants and loads of a single broadcast value are the same in
        // every block: they run once per chunk.
        let mut invariant: Vec<bool> = b
            .instrs
            .iter()
            .map(|instr| match instr {
                Instr::Const { .. } => true,
                Instr::Load { arg, .. } => {
                    let v = &args[*arg].view;
                    v.shape
                        .iter()
                        .zip(&v.strides)
                        .all(|(&d, &s)| s == 0 || d == 1)
                }
                _ => false,
            })
            .collect();
        let mut outs: Vec<usize> = stored.iter().map(|m| values[m]).collect();
        let dtypes: Vec<DType> = stored.iter().map(|&m| self.g.nodes[m].ty.dtype).collect();
        b.drop_needless_casts(&mut outs, &dtypes, &mut invariant);
        let same_everywhere = invariant.iter().all(|&i| i);
        let kernel = b.finish((&outs, &dtypes), &invariant);
        if same_everywhere && stored.len() == 1 && !self.is_output[root] {
            // A kernel whose every instruction is the same in every block
            // (a constant) and whose value is no output computes one element,
            // read through a broadcast view as any expanded tensor is: no
            // buffer of its full size is filled (autograd's zeros under a
            // gather's scatter-add, for one).
            let one = TensorType {
                shape: vec![1],
                dtype: node.ty.dtype,
            };
            let value = self.emit(Kernel::Fused(kernel), args, one);
            let view = View {
                shape: node.ty.shape.clone(),
                strides: vec![0; node.ty.shape.len()],
                offset: 0,
            };
            return Ok(Val::Slot(Operand { view, ..value }));
        }
        let out = self.emit(Kernel::Fused(kernel), args, node.ty.clone());
        let step = self.steps.len() - 1;
        for &m in &stored[1..] {
            let ty = self.g.nodes[m].ty.clone();
            let slot = self.slot_len.len();
            self.slot_len.push(ty.numel());
            self.vals[m] = Val::Slot(Operand {
                slot,
                view: View::contiguous(&ty.shape),
                dtype: ty.dtype,
            });
            self.steps[step].extra_outs.push((slot, ty));
        }
        Ok(Val::Slot(out))
    }

    /// Whether node `i`'s only reader is a transpose of its last two axes
    /// (and it is no output).
    fn only_read_transposed(&self, i: NodeId) -> bool {
        let r = self.g.nodes[i].ty.shape.len();
        match self.consumers[i].as_slice() {
            [c] if !self.is_output[i] => match &self.g.nodes[*c].op {
                Op::Permute(perm) => perm.iter().enumerate().all(|(k, &p)| match k {
                    _ if k + 2 < r => p == k,
                    _ if k + 2 == r => p == r - 1,
                    _ => p == r - 2,
                }),
                _ => false,
            },
            _ => false,
        }
    }

    fn plan_kernel(&mut self, i: NodeId) -> Result<Val> {
        let node = &self.g.nodes[i];
        let ty = node.ty.clone();
        let arg = |p: &Self, k: usize| p.operand(node.args[k]);
        let view_of = |o: Operand, view: View| Val::Slot(Operand { view, ..o });
        let kernel = match &node.op {
            Op::Permute(perm) => {
                let o = arg(self, 0)?;
                let v = o.view.permute(perm);
                return Ok(view_of(o, v));
            }
            Op::Expand => {
                let o = arg(self, 0)?;
                let v = o.view.expand(&ty.shape);
                return Ok(view_of(o, v));
            }
            Op::Slice { start, step } => {
                let o = arg(self, 0)?;
                let v = o.view.slice(start, step, &ty.shape);
                return Ok(view_of(o, v));
            }
            Op::Reduce { op, axes, .. } => Kernel::Reduce {
                op: *op,
                axes: axes.clone(),
            },
            Op::ArgReduce { op, axis, .. } => Kernel::ArgReduce {
                op: *op,
                axis: *axis,
            },
            Op::MatMul if self.only_read_transposed(i) => {
                // Only a transpose reads this product: compute (a b)^T = b^T a^T
                // contiguously, so the transpose is the contiguous result.
                let swap = |o: Operand| {
                    let r = o.view.shape.len();
                    let mut perm: Vec<usize> = (0..r).collect();
                    perm.swap(r - 2, r - 1);
                    let view = o.view.permute(&perm);
                    (Operand { view, ..o }, perm)
                };
                let (bt, _) = swap(arg(self, 1)?);
                let (at, perm) = swap(arg(self, 0)?);
                let shape: Vec<usize> = perm.iter().map(|&p| ty.shape[p]).collect();
                let out = self.emit(
                    Kernel::MatMul,
                    vec![bt, at],
                    TensorType {
                        shape,
                        dtype: ty.dtype,
                    },
                );
                let view = out.view.permute(&perm);
                return Ok(Val::Slot(Operand { view, ..out }));
            }
            Op::MatMul => Kernel::MatMul,
            Op::Conv2d(p) => Kernel::Conv2d(*p),
            Op::Conv2dBackwardInput(p) => Kernel::Conv2dBackwardInput(*p),
            Op::Conv2dBackwardWeight(p) => Kernel::Conv2dBackwardWeight(*p),
            Op::MaxPool2d(p) => Kernel::MaxPool2d(*p),
            Op::MaxPool2dBackward(p) => Kernel::MaxPool2dBackward(*p),
            Op::AvgPool2d(p) => Kernel::AvgPool2d(*p),
            Op::AvgPool2dBackward(p) => Kernel::AvgPool2dBackward(*p),
            Op::Softmax { axis } => Kernel::Softmax {
                axis: *axis,
                log: false,
            },
            Op::LogSoftmax { axis } => Kernel::Softmax {
                axis: *axis,
                log: true,
            },
            Op::Gather { axis, op } => Kernel::Gather { axis: *axis, op },
            Op::ScatterAdd { axis } => Kernel::ScatterAdd { axis: *axis },
            Op::CheckRange { lo, hi, op } => Kernel::CheckRange {
                lo: lo.0,
                hi: hi.0,
                op,
            },
            Op::Concat { axis } => Kernel::Concat { axis: *axis },
            Op::Pad { pads, value } => Kernel::Pad {
                pads: pads.clone(),
                value: value.0,
            },
            Op::Rand(d) => Kernel::Rand(*d),
            other => return Err(internal(format!("{} planned as a kernel", other.name()))),
        };
        let mut args = Vec::with_capacity(node.args.len());
        for k in 0..node.args.len() {
            let o = arg(self, k)?;
            args.push(if needs_contiguous(&kernel) {
                self.contiguous(o)
            } else {
                o
            });
        }
        Ok(Val::Slot(self.emit(kernel, args, ty)))
    }
}

/// Kernels that index their arguments as dense row-major arrays (the others
/// read through strides).
fn needs_contiguous(k: &Kernel) -> bool {
    !matches!(
        k,
        Kernel::Copy
            | Kernel::CheckRange { .. }
            | Kernel::Reduce { .. }
            | Kernel::ArgReduce { .. }
            | Kernel::MatMul
            | Kernel::Concat { .. }
            | Kernel::Pad { .. }
            | Kernel::Gather { .. }
            | Kernel::ScatterAdd { .. }
    )
}

/// Builds a fused kernel in SSA form, then maps values to registers.
#[derive(Default)]
struct FusedBuilder {
    instrs: Vec<Instr>,
    kinds: Vec<Kind>,
}

impl FusedBuilder {
    /// A new SSA value of `kind`.
    fn value(&mut self, kind: Kind) -> usize {
        self.kinds.push(kind);
        self.kinds.len() - 1
    }

    /// The SSA value as a (virtual) register.
    fn virt(&self, v: usize) -> Reg {
        Reg {
            kind: self.kinds[v],
            index: v,
        }
    }

    /// The value `v` computed in its register kind, rounded to `dtype`
    /// where the kind is wider (F16 and BF16 in `f32`, I32 and U8 in
    /// `i64`), so that every intermediate of a fused chain holds what it
    /// would hold stored, as an op-by-op evaluation stores it. Roundings
    /// that only precede a store of the same dtype are dropped later
    /// ([`Self::drop_needless_casts`]).
    fn round_to(&mut self, v: usize, dtype: DType) -> usize {
        if Kind::holds_exactly(dtype) || dtype == DType::Bool {
            return v;
        }
        let rounded = self.value(Kind::of(dtype));
        self.instrs.push(Instr::Cast {
            src: self.virt(v),
            to: dtype,
            dst: self.virt(rounded),
        });
        rounded
    }

    /// Drops the casts that change nothing: those between registers of one
    /// kind to a type the kind holds exactly (`f16` loaded as `f32` and
    /// cast to `f32`), and those that only round an `f32` register to the
    /// `f16` or `bf16` of the outputs they are stored into and that nothing
    /// else reads (storing rounds the same way, and rounding twice gives
    /// what rounding once does). What read or stored a cast's register
    /// reads or stores its source instead.
    fn drop_needless_casts(
        &mut self,
        outs: &mut [usize],
        dtypes: &[DType],
        invariant: &mut Vec<bool>,
    ) {
        let mut j = 0;
        while j < self.instrs.len() {
            let Instr::Cast { src, to, dst } = self.instrs[j] else {
                j += 1;
                continue;
            };
            let identity =
                src.kind == Kind::of(to) && (Kind::holds_exactly(to) || to == DType::Bool);
            let read = self.instrs[j + 1..]
                .iter()
                .any(|i| sources(i).iter().any(|r| r.index == dst.index));
            let stored_as_cast = outs
                .iter()
                .zip(dtypes)
                .all(|(&o, &d)| o != dst.index || d == to);
            let narrows = match src.kind {
                Kind::F32 => matches!(to, DType::F16 | DType::BF16),
                Kind::I64 => matches!(to, DType::I32 | DType::U8),
                _ => false,
            };
            let rounds_for_store = narrows && !read && stored_as_cast;
            if !(identity || rounds_for_store) {
                j += 1;
                continue;
            }
            self.instrs.remove(j);
            invariant.remove(j);
            for r in self.instrs[j..].iter_mut().flat_map(sources_mut) {
                if r.index == dst.index {
                    r.index = src.index;
                }
            }
            for o in outs.iter_mut().filter(|o| **o == dst.index) {
                *o = src.index;
            }
        }
    }

    /// Moves the instructions marked `invariant` (which read no register)
    /// to the front, as the kernel's prologue, picks the instructions that
    /// write an output in place of their register, then allocates
    /// registers: a value's register is reused once its last reader has
    /// run (never by that reader's own result); the prologue's values and
    /// those in `outs` (stored after the last instruction) keep theirs.
    /// `dtypes` are the outputs' types.
    fn finish(self, (outs, dtypes): (&[usize], &[DType]), invariant: &[bool]) -> FusedKernel {
        let (prologue, body): (Vec<_>, Vec<_>) = self
            .instrs
            .into_iter()
            .zip(invariant)
            .partition(|&(_, &inv)| inv);
        let prologue_len = prologue.len();
        let mut instrs: Vec<Instr> = prologue.into_iter().chain(body).map(|(i, _)| i).collect();
        let mut last_use = vec![0usize; self.kinds.len()];
        let mut read = vec![false; self.kinds.len()];
        for (i, instr) in instrs.iter().enumerate() {
            for r in sources(instr) {
                last_use[r.index] = i;
                read[r.index] = true;
            }
        }
        // An output that no instruction reads, that is stored once and
        // whose register holds it exactly, is written by its instruction
        // straight into the output: its register's value is never needed.
        let mut writes = vec![None; instrs.len()];
        for (s, (&out, &dtype)) in outs.iter().zip(dtypes).enumerate() {
            let exact = Kind::holds_exactly(dtype);
            let once = outs.iter().filter(|&&o| o == out).count() == 1;
            let at = instrs.iter_mut().position(|i| dest_mut(i).index == out);
            if let Some(j) = at.filter(|&j| once && exact && !read[out] && j >= prologue_len) {
                writes[j] = Some(s);
                if let Instr::Load { in_place, .. } = &mut instrs[j] {
                    *in_place = InPlace::Never;
                }
            }
        }
        for instr in &mut instrs[..prologue_len] {
            last_use[dest_mut(instr).index] = usize::MAX;
        }
        for &out in outs {
            last_use[out] = usize::MAX;
        }
        let mut free: [Vec<usize>; 4] = Default::default();
        let mut n_regs = [0usize; 4];
        let mut phys: Vec<usize> = vec![0; self.kinds.len()];
        let slot = Kind::slot;
        for (i, instr) in instrs.iter_mut().enumerate() {
            let srcs: Vec<Reg> = sources(instr);
            let dst = dest_mut(instr);
            let k = slot(dst.kind);
            let p = free[k].pop().unwrap_or_else(|| {
                n_regs[k] += 1;
                n_regs[k] - 1
            });
            phys[dst.index] = p;
            let virt_dst = dst.index;
            dst.index = p;
            for s in srcs {
                if last_use[s.index] == i && s.index != virt_dst {
                    free[slot(s.kind)].push(phys[s.index]);
                    last_use[s.index] = usize::MAX - 1;
                }
            }
            for r in sources_mut(instr) {
                r.index = phys[r.index];
            }
        }
        FusedKernel {
            instrs,
            prologue: prologue_len,
            writes,
            n_regs,
            outs: outs
                .iter()
                .map(|&out| Reg {
                    kind: self.kinds[out],
                    index: phys[out],
                })
                .collect(),
        }
    }
}

/// Whether a fused kernel would read `view` (coalesced) faster from a
/// contiguous copy: a large batch of transposed matrices at least 32
/// columns wide. A kernel reads its elements in output order, one element
/// from each column of a row after another, each in another cache line;
/// the copy goes tile by tile (see `kernels::copy`). On the 2-core AMD VM,
/// `x.t() + 0` over [1024, 1024] f32 took 0.22-0.27 ms that way instead of
/// 2.06 (PyTorch's `x.t().contiguous()` 0.43), and NCHW to NHWC of
/// [64, 32, 28, 28], 32 columns, 0.30-0.32 instead of 0.44-0.52 (PyTorch
/// 0.37-0.41). Narrower matrices read a few whole runs per block.
fn gathers_slowly(view: &View) -> bool {
    transposed(view).is_some_and(|(_, n, _)| n >= 32) && view.numel() >= PARALLEL_MIN
}

fn sources(instr: &Instr) -> Vec<Reg> {
    match instr {
        Instr::Load { .. } | Instr::Const { .. } | Instr::Arange { .. } => vec![],
        Instr::Unary { src, .. } | Instr::Cast { src, .. } => vec![*src],
        Instr::Binary { a, b, .. } => vec![*a, *b],
        Instr::Where { cond, a, b, .. } => vec![*cond, *a, *b],
    }
}

fn sources_mut(instr: &mut Instr) -> Vec<&mut Reg> {
    match instr {
        Instr::Load { .. } | Instr::Const { .. } | Instr::Arange { .. } => vec![],
        Instr::Unary { src, .. } | Instr::Cast { src, .. } => vec![src],
        Instr::Binary { a, b, .. } => vec![a, b],
        Instr::Where { cond, a, b, .. } => vec![cond, a, b],
    }
}

fn dest_mut(instr: &mut Instr) -> &mut Reg {
    match instr {
        Instr::Load { dst, .. }
        | Instr::Const { dst, .. }
        | Instr::Arange { dst, .. }
        | Instr::Unary { dst, .. }
        | Instr::Cast { dst, .. }
        | Instr::Binary { dst, .. }
        | Instr::Where { dst, .. } => dst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryOp, Literal, Node, UnaryOp};

    fn ty(shape: &[usize]) -> TensorType {
        TensorType {
            shape: shape.to_vec(),
            dtype: DType::F32,
        }
    }

    fn node(op: Op, args: Vec<NodeId>, shape: &[usize]) -> Node {
        Node {
            op,
            args,
            ty: ty(shape),
        }
    }

    fn kernels(p: &Program) -> Vec<&'static str> {
        p.steps
            .iter()
            .map(|s| match s.kernel {
                Kernel::Fused(_) => "fused",
                Kernel::Copy => "copy",
                Kernel::MatMul => "matmul",
                Kernel::Reduce { .. } => "reduce",
                _ => "other",
            })
            .collect()
    }

    /// `conv2d(x, w) + b` as the tensor API builds it, with the outputs
    /// `outputs`.
    fn conv_plus_bias(outputs: Vec<NodeId>) -> Graph {
        let p = Conv2dParams {
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
        };
        Graph {
            inputs: vec![ty(&[2, 2, 5, 5]), ty(&[3, 2, 3, 3]), ty(&[3])],
            nodes: vec![
                node(Op::Input(0), vec![], &[2, 2, 5, 5]),
                node(Op::Input(1), vec![], &[3, 2, 3, 3]),
                node(Op::Conv2d(p), vec![0, 1], &[2, 3, 5, 5]),
                node(Op::Input(2), vec![], &[3]),
                node(Op::Reshape, vec![3], &[1, 3, 1, 1]),
                node(Op::Expand, vec![4], &[2, 3, 5, 5]),
                node(Op::Binary(BinaryOp::Add), vec![2, 5], &[2, 3, 5, 5]),
            ],
            outputs,
        }
    }

    #[test]
    fn a_bias_added_to_a_convolution_is_added_by_it() {
        let p = plan(&conv_plus_bias(vec![6])).unwrap();
        assert_eq!(kernels(&p), vec!["other"]);
        let slots: Vec<usize> = p.steps[0].args.iter().map(|a| a.slot).collect();
        assert_eq!(slots, vec![0, 1, 2]);
        assert_eq!(p.steps[0].args[2].view.shape, [1, 3, 1, 1]);
        assert_eq!(p.outputs, vec![p.steps[0].out]);
        // Read elsewhere too, the convolution's output is kept bias-free.
        let p = plan(&conv_plus_bias(vec![2, 6])).unwrap();
        assert_eq!(kernels(&p), vec!["other", "fused"]);
        assert_eq!(p.steps[0].args.len(), 2);
    }

    #[test]
    fn a_view_two_kernels_need_contiguous_is_copied_once() {
        // softmax(x^T, 0) + softmax(x^T, 1): both softmaxes read x^T, which
        // is not contiguous.
        let nodes = vec![
            node(Op::Input(0), vec![], &[4, 3]),
            node(Op::Permute(vec![1, 0]), vec![0], &[3, 4]),
            node(Op::Softmax { axis: 0 }, vec![1], &[3, 4]),
            node(Op::Softmax { axis: 1 }, vec![1], &[3, 4]),
            node(Op::Binary(BinaryOp::Add), vec![2, 3], &[3, 4]),
        ];
        let g = Graph {
            inputs: vec![ty(&[4, 3])],
            outputs: vec![4],
            nodes,
        };
        let p = plan(&g).unwrap();
        assert_eq!(kernels(&p), vec!["copy", "other", "other", "fused"]);
        let copy = p.steps[0].out;
        assert!(p.steps[1..3].iter().all(|s| s.args[0].slot == copy));
        assert!(p.steps[2].free_after.contains(&copy));
    }

    #[test]
    fn an_elementwise_chain_is_one_kernel() {
        // x -> exp -> +1 -> *x -> tanh ... ten ops, one output.
        let mut nodes = vec![node(Op::Input(0), vec![], &[8, 8])];
        for k in 0..10 {
            let prev = nodes.len() - 1;
            nodes.push(match k % 3 {
                0 => node(Op::Unary(UnaryOp::Exp), vec![prev], &[8, 8]),
                1 => node(Op::Binary(BinaryOp::Mul), vec![prev, 0], &[8, 8]),
                _ => node(Op::Unary(UnaryOp::Tanh), vec![prev], &[8, 8]),
            });
        }
        let g = Graph {
            inputs: vec![ty(&[8, 8])],
            outputs: vec![nodes.len() - 1],
            nodes,
        };
        let p = plan(&g).unwrap();
        assert_eq!(kernels(&p), vec!["fused"]);
        let Kernel::Fused(k) = &p.steps[0].kernel else {
            unreachable!()
        };
        assert_eq!(p.steps[0].args.len(), 1, "x is loaded once");
        assert!(k.n_regs[0] <= 3, "registers are reused: {:?}", k.n_regs);
    }

    /// Casts that change nothing go: `f32` to `f16` stored as `f16` (the
    /// store rounds), `f16` to `f32` (the load widens), either of them
    /// leaving the output to its load, written straight into it. A rounding
    /// cast that another op reads stays (`x.to(f16) * 2` rounds `x` first).
    #[test]
    fn casts_that_change_nothing_are_dropped() {
        let cast = |from: DType, to: DType, then_double: bool| {
            let mut nodes = vec![
                Node {
                    op: Op::Input(0),
                    args: vec![],
                    ty: TensorType {
                        shape: vec![4],
                        dtype: from,
                    },
                },
                Node {
                    op: Op::Cast,
                    args: vec![0],
                    ty: TensorType {
                        shape: vec![4],
                        dtype: to,
                    },
                },
            ];
            if then_double {
                nodes.push(Node {
                    op: Op::Binary(BinaryOp::Add),
                    args: vec![1, 1],
                    ty: TensorType {
                        shape: vec![4],
                        dtype: to,
                    },
                });
            }
            let g = Graph {
                inputs: vec![TensorType {
                    shape: vec![4],
                    dtype: from,
                }],
                outputs: vec![nodes.len() - 1],
                nodes,
            };
            let p = plan(&g).unwrap();
            let Kernel::Fused(k) = &p.steps[0].kernel else {
                unreachable!()
            };
            let casts = k
                .instrs
                .iter()
                .filter(|i| matches!(i, Instr::Cast { .. }))
                .count();
            (casts, k.writes.clone())
        };
        assert_eq!(cast(DType::F32, DType::F16, false), (0, vec![None]));
        assert_eq!(cast(DType::F32, DType::BF16, false), (0, vec![None]));
        assert_eq!(cast(DType::F16, DType::F32, false), (0, vec![Some(0)]));
        assert_eq!(cast(DType::F32, DType::F16, true).0, 1);
        assert_eq!(
            cast(DType::F64, DType::F16, false).0,
            1,
            "f64 rounds to f32 first"
        );
        assert_eq!(cast(DType::F32, DType::I64, false).0, 1);
    }

    #[test]
    fn an_output_read_by_an_elementwise_consumer_is_stored_by_its_kernel() {
        // An optimizer step: new_m = m * g * 0.5 and new_p = p - new_m are
        // both outputs; one pass over memory writes both.
        let nodes = vec![
            node(Op::Input(0), vec![], &[8]),
            node(Op::Input(1), vec![], &[8]),
            node(Op::Input(2), vec![], &[8]),
            node(Op::Binary(BinaryOp::Mul), vec![0, 1], &[8]),
            node(Op::Const(Literal(0.5)), vec![], &[8]),
            node(Op::Binary(BinaryOp::Mul), vec![3, 4], &[8]),
            node(Op::Binary(BinaryOp::Sub), vec![2, 5], &[8]),
        ];
        let g = Graph {
            inputs: vec![ty(&[8]); 3],
            outputs: vec![5, 6],
            nodes,
        };
        let p = plan(&g).unwrap();
        assert_eq!(kernels(&p), vec!["fused"]);
        let step = &p.steps[0];
        let Kernel::Fused(k) = &step.kernel else {
            unreachable!()
        };
        assert_eq!(k.outs.len(), 2);
        assert!(
            k.prologue == 1 && matches!(k.instrs[0], Instr::Const { .. }),
            "the constant is made once per chunk: {:?}",
            k.instrs
        );
        // The contiguous f32 inputs are read in place; new_p, which nothing
        // reads, is written straight into the output, new_m (read by new_p)
        // is stored from its register.
        let loads = k.instrs.iter().filter(|i| matches!(i, Instr::Load { .. }));
        assert!(
            loads.clone().count() == 3
                && loads.into_iter().all(|i| matches!(
                    i,
                    Instr::Load {
                        in_place: InPlace::Always,
                        ..
                    }
                ))
        );
        assert_eq!(k.writes.iter().flatten().collect::<Vec<_>>(), vec![&0]);
        assert_eq!(step.extra_outs.len(), 1);
        assert_eq!(p.outputs, vec![step.extra_outs[0].0, step.out]);
        assert!(
            !p.outputs.iter().any(|o| step.free_after.contains(o)),
            "outputs are never freed"
        );
    }

    /// `x + 1` is an output and read again for `(x + 1) * y`, which is
    /// stored twice: neither is written in place. `(x + 1) * y` alone is,
    /// when its dtype's values are what its register holds. A load that is
    /// a kernel's output copies into it rather than reading in place.
    #[test]
    fn only_unread_outputs_stored_once_are_written_in_place() {
        let program = || {
            let mut b = FusedBuilder::default();
            let f = |b: &mut FusedBuilder| b.value(Kind::F32);
            let (one, x, sum, y, prod) = (f(&mut b), f(&mut b), f(&mut b), f(&mut b), f(&mut b));
            let r = |v| Reg {
                kind: Kind::F32,
                index: v,
            };
            b.instrs = vec![
                Instr::Const {
                    value: 1.0,
                    dtype: DType::F32,
                    dst: r(one),
                },
                Instr::Load {
                    arg: 0,
                    dst: r(x),
                    in_place: InPlace::Always,
                },
                Instr::Binary {
                    op: BinaryOp::Add,
                    a: r(x),
                    b: r(one),
                    dst: r(sum),
                },
                Instr::Load {
                    arg: 1,
                    dst: r(y),
                    in_place: InPlace::Always,
                },
                Instr::Binary {
                    op: BinaryOp::Mul,
                    a: r(sum),
                    b: r(y),
                    dst: r(prod),
                },
            ];
            b
        };
        let invariant = [true, false, false, false, false];
        let k = program().finish((&[2, 4, 4], &[DType::F32; 3]), &invariant);
        assert_eq!(k.writes, vec![None; 5]);
        let k = program().finish((&[4], &[DType::F32]), &invariant);
        assert_eq!(k.writes, vec![None, None, None, None, Some(0)]);
        let k = program().finish((&[4], &[DType::F16]), &invariant);
        assert_eq!(
            k.writes,
            vec![None; 5],
            "an f16 output is rounded when stored"
        );
        let mut copy = FusedBuilder::default();
        let v = copy.value(Kind::F32);
        copy.instrs = vec![Instr::Load {
            arg: 0,
            dst: copy.virt(v),
            in_place: InPlace::Always,
        }];
        let k = copy.finish((&[v], &[DType::F32]), &[false]);
        assert_eq!(k.writes, vec![Some(0)]);
        assert!(matches!(
            k.instrs[0],
            Instr::Load {
                in_place: InPlace::Never,
                ..
            }
        ));
    }

    #[test]
    fn transposes_and_broadcasts_are_views() {
        // (x^T @ w) + bias broadcast: no copies, the bias add fuses.
        let nodes = vec![
            node(Op::Input(0), vec![], &[4, 3]),
            node(Op::Input(1), vec![], &[4, 5]),
            node(Op::Input(2), vec![], &[5]),
            node(Op::Permute(vec![1, 0]), vec![0], &[3, 4]),
            node(Op::MatMul, vec![3, 1], &[3, 5]),
            node(Op::Reshape, vec![2], &[1, 5]),
            node(Op::Expand, vec![5], &[3, 5]),
            node(Op::Binary(BinaryOp::Add), vec![4, 6], &[3, 5]),
            node(Op::Const(Literal(0.0)), vec![], &[3, 5]),
            node(Op::Binary(BinaryOp::Maximum), vec![7, 8], &[3, 5]),
        ];
        let g = Graph {
            inputs: vec![ty(&[4, 3]), ty(&[4, 5]), ty(&[5])],
            outputs: vec![9],
            nodes,
        };
        let p = plan(&g).unwrap();
        assert_eq!(kernels(&p), vec!["matmul", "fused"]);
        let Kernel::Fused(k) = &p.steps[1].kernel else {
            unreachable!()
        };
        assert_eq!(
            k.prologue, 1,
            "only the constant is the same in every block"
        );
        let modes: Vec<InPlace> = k
            .instrs
            .iter()
            .filter_map(|i| match i {
                Instr::Load { in_place, .. } => Some(*in_place),
                _ => None,
            })
            .collect();
        assert_eq!(
            modes,
            vec![InPlace::Always, InPlace::InRows],
            "the product is read in place, the broadcast bias row by row"
        );
        assert_eq!(
            p.steps[0].args[0].view.strides,
            vec![1, 3],
            "the transpose is read through strides"
        );
    }

    /// A constant read by another kernel (a scatter-add's zeros) is one
    /// value seen through a broadcast view; a constant that is an output is
    /// stored whole.
    #[test]
    fn constants_nothing_stores_are_broadcast_views_of_one_value() {
        let scatter_into_zeros = |outputs: Vec<NodeId>| {
            let idx = TensorType {
                shape: vec![4, 1],
                dtype: DType::I64,
            };
            Graph {
                inputs: vec![idx.clone(), ty(&[4, 1])],
                nodes: vec![
                    node(Op::Const(Literal(0.0)), vec![], &[4, 300]),
                    Node {
                        op: Op::Input(0),
                        args: vec![],
                        ty: idx,
                    },
                    node(Op::Input(1), vec![], &[4, 1]),
                    node(Op::ScatterAdd { axis: 1 }, vec![0, 1, 2], &[4, 300]),
                ],
                outputs,
            }
        };
        let p = plan(&scatter_into_zeros(vec![3])).unwrap();
        let scatter = p.steps.last().unwrap();
        assert_eq!(scatter.args[0].view.strides, vec![0, 0]);
        assert_eq!(scatter.args[0].view.shape, vec![4, 300]);
        let zeros = p
            .steps
            .iter()
            .find(|s| s.out == scatter.args[0].slot)
            .unwrap();
        assert_eq!(zeros.out_ty.shape, vec![1]);
        let p = plan(&scatter_into_zeros(vec![0, 3])).unwrap();
        let zeros = &p.steps[0];
        assert_eq!(
            zeros.out_ty.shape,
            vec![4, 300],
            "an output constant is stored whole"
        );
    }

    /// An elementwise op over a large transposed matrix with long rows
    /// reads a contiguous copy (made tile by tile); over a small one, or
    /// one whose rows are short, it reads the transpose in place.
    #[test]
    fn large_transposes_are_copied_before_elementwise_ops() {
        let exp_of_transpose = |rows: usize, cols: usize| {
            let g = Graph {
                inputs: vec![ty(&[cols, rows])],
                outputs: vec![2],
                nodes: vec![
                    node(Op::Input(0), vec![], &[cols, rows]),
                    node(Op::Permute(vec![1, 0]), vec![0], &[rows, cols]),
                    node(Op::Unary(UnaryOp::Exp), vec![1], &[rows, cols]),
                ],
            };
            kernels(&plan(&g).unwrap())
        };
        assert_eq!(exp_of_transpose(256, 256), vec!["copy", "fused"]);
        assert_eq!(exp_of_transpose(16, 16), vec!["fused"]);
        assert_eq!(exp_of_transpose(8192, 8), vec!["fused"]);
    }

    #[test]
    fn shared_values_are_computed_once_and_freed_after_last_use() {
        // y = exp(x) is used by two reductions: it is materialized once and
        // freed after the second.
        let nodes = vec![
            node(Op::Input(0), vec![], &[4, 4]),
            node(Op::Unary(UnaryOp::Exp), vec![0], &[4, 4]),
            node(
                Op::Reduce {
                    op: ReduceOp::Sum,
                    axes: vec![0],
                    keepdim: false,
                },
                vec![1],
                &[4],
            ),
            node(
                Op::Reduce {
                    op: ReduceOp::Max,
                    axes: vec![1],
                    keepdim: false,
                },
                vec![1],
                &[4],
            ),
            node(Op::Binary(BinaryOp::Add), vec![2, 3], &[4]),
        ];
        let g = Graph {
            inputs: vec![ty(&[4, 4])],
            outputs: vec![4],
            nodes,
        };
        let p = plan(&g).unwrap();
        assert_eq!(kernels(&p), vec!["fused", "reduce", "reduce", "fused"]);
        let exp_slot = p.steps[0].out;
        assert!(p.steps[2].free_after.contains(&exp_slot));
        assert!(
            p.steps
                .iter()
                .all(|s| !s.free_after.contains(&p.outputs[0]))
        );
    }
}
