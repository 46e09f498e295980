//! The graph IR every backend compiles: a small, explicit op set shaped after
//! MPSGraph, so that each backend lowers op by op.
//!
//! A [`Graph`] is a topologically ordered list of [`Node`]s. Leaves are
//! [`Op::Input`] (a ready buffer passed to the executable), constants,
//! `arange` and random numbers. Binary ops take operands of one shape and one
//! dtype: the front end makes broadcasting ([`Op::Expand`]) and type promotion
//! ([`Op::Cast`]) explicit. Each node carries its output type, so a backend
//! never infers shapes.
//!
//! Graphs are compared and hashed by structure (ops, attributes, types and
//! wiring), never by data; that is the key of every backend's compile cache.

use std::hash::{Hash, Hasher};

use crate::DType;

/// Index of a node in [`Graph::nodes`].
pub type NodeId = usize;

/// Shape and dtype of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl TensorType {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        crate::shape::numel(&self.shape)
    }
}

/// An `f64` attribute, hashed and compared by its bits (so graphs with a NaN
/// constant still hit the cache).
#[derive(Clone, Copy, Debug)]
pub struct Literal(pub f64);

impl PartialEq for Literal {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Literal {}
impl Hash for Literal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// Elementwise ops of one operand. Float-only ops (exp, log, ...) are only
/// built on float dtypes; `Not` only on `Bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Recip,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    /// The exact (erf) form: `x * (1 + erf(x / sqrt 2)) / 2`.
    Gelu,
    Erf,
    Floor,
    Ceil,
    /// Round half to even, like `torch.round`.
    Round,
    Sign,
    Not,
}

/// Elementwise ops of two operands of the same shape and dtype. Comparisons
/// and logical ops produce `Bool`; integer `Div` truncates (never emitted by
/// the front end, which divides integers in float like PyTorch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    /// Whether the result is `Bool` whatever the operand dtype.
    pub fn is_predicate(self) -> bool {
        use BinaryOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge | And | Or)
    }
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    Prod,
}

/// Index-returning reductions over one axis (first occurrence wins; NaN
/// counts as the extreme, as in PyTorch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgReduceOp {
    ArgMax,
    ArgMin,
}

/// Distributions of [`Op::Rand`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RandDist {
    /// Uniform on `[0, 1)`.
    Uniform,
    /// Standard normal (Box-Muller).
    Normal,
}

/// Attributes of a 2-D convolution over NCHW input and OIHW weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2dParams {
    /// Output spatial size for an input of `(h, w)` and a kernel of `(kh, kw)`.
    pub fn output_hw(&self, hw: [usize; 2], khw: [usize; 2]) -> Option<[usize; 2]> {
        let mut out = [0; 2];
        for i in 0..2 {
            let span = self.dilation[i] * (khw[i].max(1) - 1) + 1;
            let padded = hw[i] + 2 * self.padding[i];
            if padded < span || self.stride[i] == 0 {
                return None;
            }
            out[i] = (padded - span) / self.stride[i] + 1;
        }
        Some(out)
    }
}

/// Attributes of 2-D pooling over NCHW input (floor mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    /// Average pooling only: divide by the whole window, padding included
    /// (PyTorch's default `count_include_pad=True`).
    pub count_include_pad: bool,
}

impl Pool2dParams {
    /// Output spatial size for an input of `(h, w)`.
    pub fn output_hw(&self, hw: [usize; 2]) -> Option<[usize; 2]> {
        let conv = Conv2dParams {
            stride: self.stride,
            padding: self.padding,
            dilation: [1, 1],
            groups: 1,
        };
        conv.output_hw(hw, self.kernel)
    }
}

/// One IR operation. Argument order and meaning are listed per variant;
/// the output type is on the [`Node`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// The `k`-th input buffer of the executable.
    Input(usize),
    /// A scalar broadcast to the node's shape, converted to the node's dtype.
    Const(Literal),
    /// `start + i * step` for `i` in `0..n`, node shape `[n]`.
    Arange { start: Literal, step: Literal },
    /// Random numbers from Philox4x32-10; the one argument is an `I64` tensor
    /// `[seed, offset]` (an input, so that new draws never recompile). See
    /// [`crate::rng`] for the stream layout.
    Rand(RandDist),
    /// `args: [x]`.
    Unary(UnaryOp),
    /// Converts `args: [x]` to the node's dtype (float to int truncates, to
    /// `Bool` tests `!= 0`).
    Cast,
    /// `args: [a, b]`, same shape and dtype.
    Binary(BinaryOp),
    /// `args: [cond (Bool), a, b]`: `a` where `cond`, else `b`.
    Where,
    /// Reduces `args: [x]` over `axes` (sorted, unique).
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
        keepdim: bool,
    },
    /// Index of the max/min of `args: [x]` along `axis`, as `I64`.
    ArgReduce {
        op: ArgReduceOp,
        axis: usize,
        keepdim: bool,
    },
    /// Row-major reshape of `args: [x]` to the node's shape.
    Reshape,
    /// `out.shape[i] = x.shape[perm[i]]`.
    Permute(Vec<usize>),
    /// Broadcasts `args: [x]` (same rank) along axes of size 1.
    Expand,
    /// Per axis, elements `start, start + step, ...` (the count is the node's shape).
    Slice { start: Vec<usize>, step: Vec<usize> },
    /// Pads each axis with `(before, after)` elements of `value`, in axis order.
    Pad {
        pads: Vec<(usize, usize)>,
        value: Literal,
    },
    /// Concatenates all args along `axis`.
    Concat { axis: usize },
    /// `out[i][j] = x[index[i][j]][j]` for `axis = 0` (torch.gather);
    /// `args: [x, index (I64)]`, output shape = index shape. `op` is the
    /// function the user called (`gather`, `index_select`, a loss), which
    /// an index out of range is reported as.
    Gather { axis: usize, op: &'static str },
    /// Its argument unchanged, once every element is checked to lie in
    /// `lo..=hi` (NaN does not): evaluating it is an error naming `op` (the
    /// function the user called, a loss whose input must be a probability)
    /// otherwise. Backends that cannot check (MPSGraph) pass it through.
    CheckRange {
        lo: Literal,
        hi: Literal,
        op: &'static str,
    },
    /// `args: [base, index (I64), src]`: a copy of `base` with `src` added at
    /// `index` along `axis` (torch.scatter_add).
    ScatterAdd { axis: usize },
    /// `args: [a (..., m, k), b (..., k, n)]`, equal batch dims.
    MatMul,
    /// `args: [x (N, C, H, W), w (O, C/groups, kh, kw)]`.
    Conv2d(Conv2dParams),
    /// Gradient w.r.t. the input: `args: [grad_out, w]`, node shape = input shape.
    Conv2dBackwardInput(Conv2dParams),
    /// Gradient w.r.t. the weights: `args: [grad_out, x]`, node shape = weight shape.
    Conv2dBackwardWeight(Conv2dParams),
    /// `args: [x]`, padding counts as `-inf`.
    MaxPool2d(Pool2dParams),
    /// `args: [grad_out, x]`: each window's gradient goes to its first maximum.
    MaxPool2dBackward(Pool2dParams),
    /// `args: [x]`.
    AvgPool2d(Pool2dParams),
    /// `args: [grad_out]`, node shape = input shape.
    AvgPool2dBackward(Pool2dParams),
    /// Softmax of `args: [x]` along `axis`.
    Softmax { axis: usize },
    /// Log-softmax of `args: [x]` along `axis`.
    LogSoftmax { axis: usize },
}

impl Op {
    /// Short name used in messages and by backends' "unsupported" errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input(_) => "input",
            Op::Const(_) => "const",
            Op::Arange { .. } => "arange",
            Op::Rand(_) => "rand",
            Op::Unary(_) => "unary",
            Op::Cast => "cast",
            Op::Binary(_) => "binary",
            Op::Where => "where",
            Op::Reduce { .. } => "reduce",
            Op::ArgReduce { .. } => "arg_reduce",
            Op::Reshape => "reshape",
            Op::Permute(_) => "permute",
            Op::Expand => "expand",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Gather { .. } => "gather",
            Op::CheckRange { .. } => "check_range",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::MatMul => "matmul",
            Op::Conv2d(_) => "conv2d",
            Op::Conv2dBackwardInput(_) => "conv2d_backward_input",
            Op::Conv2dBackwardWeight(_) => "conv2d_backward_weight",
            Op::MaxPool2d(_) => "max_pool2d",
            Op::MaxPool2dBackward(_) => "max_pool2d_backward",
            Op::AvgPool2d(_) => "avg_pool2d",
            Op::AvgPool2dBackward(_) => "avg_pool2d_backward",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
        }
    }

    /// Whether the op maps elements one to one (same shape in and out, each
    /// output element depends only on the same element of each argument).
    pub fn is_elementwise(&self) -> bool {
        matches!(self, Op::Unary(_) | Op::Cast | Op::Binary(_) | Op::Where)
    }
}

/// One node of a [`Graph`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub op: Op,
    /// Argument nodes, all earlier in the graph.
    pub args: Vec<NodeId>,
    /// Output type.
    pub ty: TensorType,
}

/// A device-local computation: what a backend compiles once and replays.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Graph {
    /// Types of the input buffers, in the order [`Op::Input`] numbers them.
    pub inputs: Vec<TensorType>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// The nodes whose values the executable returns, in this order.
    pub outputs: Vec<NodeId>,
}

impl Graph {
    /// A 64-bit structural hash (ops, attributes, types, wiring), by FxHash:
    /// graphs are built by this process, not chosen by an adversary, so the
    /// flooding SipHash guards against cannot happen, and the hash runs on
    /// every evaluation.
    pub fn structural_hash(&self) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        self.hash(&mut h);
        h.finish()
    }
}
