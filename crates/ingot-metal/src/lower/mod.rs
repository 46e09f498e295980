//! Lowering: an IR [`Graph`] becomes an [`MpsProgram`], one IR node at a time.
//!
//! Most IR ops have an MPSGraph call of the same meaning; the rest become a
//! few calls: a reduction without `keepdim` is MPSGraph's reduction (which
//! keeps the axes) and a reshape, GELU is built from `erf`, log-softmax from
//! max/exp/sum/log, `arange` from `coordinateAlongAxis`, and random numbers
//! from integer arithmetic that computes ingot's Philox4x32-10 stream
//! ([`ingot_core::rng`]) so a seed draws the same numbers on every backend.
//! F64 has no lowering: Metal GPUs have no double precision.

mod rand;

use ingot_core::ir::{
    ArgReduceOp, BinaryOp, Conv2dParams, Graph, Op, Pool2dParams, ReduceOp, TensorType, UnaryOp,
};
use ingot_core::{Error, Result};

use crate::program::{
    Convolution2DDescriptor, MpsArgReduction, MpsBinary, MpsDataType, MpsNode, MpsOp, MpsProgram,
    MpsReduction, MpsType, MpsUnary, Pooling2DDescriptor, TensorId,
};

fn unsupported(msg: String) -> Error {
    Error::Backend {
        backend: "metal".into(),
        msg,
    }
}

/// The MPS type of an IR type, or an error for F64.
fn mps_type(ty: &TensorType, what: &str) -> Result<MpsType> {
    let dtype = MpsDataType::from_dtype(ty.dtype).ok_or_else(|| {
        unsupported(format!(
            "{what} is {:?} {}: Metal GPUs have no double precision; use .to_dtype(DType::F32)",
            ty.shape, ty.dtype
        ))
    })?;
    Ok(MpsType {
        shape: ty.shape.clone(),
        dtype,
    })
}

/// The NumPy broadcast of two shapes (MPSGraph's arithmetic rule).
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() < rank {
            1
        } else {
            s[i + s.len() - rank]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// A program under construction, with helpers that compute each call's
/// result type by MPSGraph's rules.
#[derive(Default)]
pub(crate) struct Builder {
    program: MpsProgram,
}

impl Builder {
    fn ty(&self, t: TensorId) -> &MpsType {
        &self.program.nodes[t].ty
    }

    fn push(&mut self, op: MpsOp, shape: Vec<usize>, dtype: MpsDataType) -> TensorId {
        self.program.nodes.push(MpsNode {
            op,
            ty: MpsType { shape, dtype },
        });
        self.program.nodes.len() - 1
    }

    pub(crate) fn constant(
        &mut self,
        scalar: f64,
        shape: &[usize],
        dtype: MpsDataType,
    ) -> TensorId {
        self.push(MpsOp::Constant { scalar }, shape.to_vec(), dtype)
    }

    /// A scalar constant (shape `[]`), broadcast by the arithmetic that reads it.
    pub(crate) fn scalar(&mut self, scalar: f64, dtype: MpsDataType) -> TensorId {
        self.constant(scalar, &[], dtype)
    }

    pub(crate) fn unary(&mut self, op: MpsUnary, tensor: TensorId) -> TensorId {
        let ty = self.ty(tensor).clone();
        self.push(MpsOp::Unary { op, tensor }, ty.shape, ty.dtype)
    }

    pub(crate) fn binary(
        &mut self,
        op: MpsBinary,
        primary: TensorId,
        secondary: TensorId,
    ) -> TensorId {
        let (a, b) = (self.ty(primary), self.ty(secondary));
        let shape = broadcast_shapes(&a.shape, &b.shape)
            .expect("the lowering only combines broadcastable shapes");
        let dtype = if op.is_predicate() {
            MpsDataType::Bool
        } else {
            a.dtype
        };
        self.push(
            MpsOp::Binary {
                op,
                primary,
                secondary,
            },
            shape,
            dtype,
        )
    }

    pub(crate) fn cast(&mut self, tensor: TensorId, dtype: MpsDataType) -> TensorId {
        if self.ty(tensor).dtype == dtype {
            return tensor;
        }
        let shape = self.ty(tensor).shape.clone();
        self.push(MpsOp::Cast { tensor }, shape, dtype)
    }

    pub(crate) fn reinterpret(&mut self, tensor: TensorId, dtype: MpsDataType) -> TensorId {
        let shape = self.ty(tensor).shape.clone();
        self.push(MpsOp::ReinterpretCast { tensor }, shape, dtype)
    }

    pub(crate) fn reshape(&mut self, tensor: TensorId, shape: &[usize]) -> TensorId {
        if self.ty(tensor).shape == shape {
            return tensor;
        }
        let dtype = self.ty(tensor).dtype;
        self.push(MpsOp::Reshape { tensor }, shape.to_vec(), dtype)
    }

    pub(crate) fn select(&mut self, predicate: TensorId, t: TensorId, f: TensorId) -> TensorId {
        let shape = broadcast_shapes(&self.ty(predicate).shape, &self.ty(t).shape)
            .and_then(|s| broadcast_shapes(&s, &self.ty(f).shape))
            .expect("the lowering only selects between broadcastable shapes");
        let dtype = self.ty(t).dtype;
        self.push(
            MpsOp::Select {
                predicate,
                true_tensor: t,
                false_tensor: f,
            },
            shape,
            dtype,
        )
    }

    /// An MPSGraph reduction: the axes stay with size 1.
    fn reduction(&mut self, op: MpsReduction, tensor: TensorId, axes: &[usize]) -> TensorId {
        let ty = self.ty(tensor).clone();
        let mut shape = ty.shape;
        for &a in axes {
            shape[a] = 1;
        }
        self.push(
            MpsOp::Reduction {
                op,
                tensor,
                axes: axes.to_vec(),
            },
            shape,
            ty.dtype,
        )
    }

    pub(crate) fn slice(
        &mut self,
        tensor: TensorId,
        starts: Vec<usize>,
        ends: Vec<usize>,
        strides: Vec<usize>,
    ) -> TensorId {
        let dtype = self.ty(tensor).dtype;
        let shape = (0..starts.len())
            .map(|i| (ends[i] - starts[i]).div_ceil(strides[i]))
            .collect();
        self.push(
            MpsOp::Slice {
                tensor,
                starts,
                ends,
                strides,
            },
            shape,
            dtype,
        )
    }
}

/// `log_softmax(x) = (x - max) - log(sum(exp(x - max)))` along `axis`.
fn log_softmax(b: &mut Builder, x: TensorId, axis: usize) -> TensorId {
    let max = b.reduction(MpsReduction::MaximumPropagateNaN, x, &[axis]);
    let shifted = b.binary(MpsBinary::Subtraction, x, max);
    let exp = b.unary(MpsUnary::Exponent, shifted);
    let sum = b.reduction(MpsReduction::Sum, exp, &[axis]);
    let log = b.unary(MpsUnary::Logarithm, sum);
    b.binary(MpsBinary::Subtraction, shifted, log)
}

/// `gelu(x) = x * (1 + erf(x / sqrt 2)) / 2`, the IR's exact form.
fn gelu(b: &mut Builder, x: TensorId) -> TensorId {
    let dtype = b.ty(x).dtype;
    let inv_sqrt2 = b.scalar(std::f64::consts::FRAC_1_SQRT_2, dtype);
    let scaled = b.binary(MpsBinary::Multiplication, x, inv_sqrt2);
    let erf = b.unary(MpsUnary::Erf, scaled);
    let one = b.scalar(1.0, dtype);
    let sum = b.binary(MpsBinary::Addition, erf, one);
    let half = b.scalar(0.5, dtype);
    let half_x = b.binary(MpsBinary::Multiplication, x, half);
    b.binary(MpsBinary::Multiplication, half_x, sum)
}

/// `start + i * step` for `i` in `0..n`.
fn arange(b: &mut Builder, n: usize, start: f64, step: f64, dtype: MpsDataType) -> TensorId {
    let index = b.push(
        MpsOp::CoordinateAlongAxis { axis: 0 },
        vec![n],
        MpsDataType::Int32,
    );
    // Integers count exactly in Int64; floats in their own type.
    let wide = if dtype.is_float() {
        dtype
    } else {
        MpsDataType::Int64
    };
    let i = b.cast(index, wide);
    let step = b.scalar(step, wide);
    let start = b.scalar(start, wide);
    let scaled = b.binary(MpsBinary::Multiplication, i, step);
    let value = b.binary(MpsBinary::Addition, scaled, start);
    b.cast(value, dtype)
}

fn unary_op(op: UnaryOp) -> MpsUnary {
    match op {
        UnaryOp::Neg => MpsUnary::Negative,
        UnaryOp::Abs => MpsUnary::Absolute,
        UnaryOp::Exp => MpsUnary::Exponent,
        UnaryOp::Log => MpsUnary::Logarithm,
        UnaryOp::Sqrt => MpsUnary::SquareRoot,
        UnaryOp::Rsqrt => MpsUnary::ReverseSquareRoot,
        UnaryOp::Recip => MpsUnary::Reciprocal,
        UnaryOp::Sin => MpsUnary::Sin,
        UnaryOp::Cos => MpsUnary::Cos,
        UnaryOp::Tanh => MpsUnary::Tanh,
        UnaryOp::Sigmoid => MpsUnary::Sigmoid,
        UnaryOp::Relu => MpsUnary::ReLU,
        UnaryOp::Erf => MpsUnary::Erf,
        UnaryOp::Floor => MpsUnary::Floor,
        UnaryOp::Ceil => MpsUnary::Ceil,
        UnaryOp::Round => MpsUnary::Rint,
        UnaryOp::Sign => MpsUnary::Sign,
        UnaryOp::Not => MpsUnary::Not,
        UnaryOp::Gelu => unreachable!("GELU is lowered as a composition"),
    }
}

fn binary_op(op: BinaryOp) -> MpsBinary {
    match op {
        BinaryOp::Add => MpsBinary::Addition,
        BinaryOp::Sub => MpsBinary::Subtraction,
        BinaryOp::Mul => MpsBinary::Multiplication,
        BinaryOp::Div => MpsBinary::Division,
        BinaryOp::Pow => MpsBinary::Power,
        BinaryOp::Maximum => MpsBinary::Maximum,
        BinaryOp::Minimum => MpsBinary::Minimum,
        BinaryOp::Eq => MpsBinary::Equal,
        BinaryOp::Ne => MpsBinary::NotEqual,
        BinaryOp::Lt => MpsBinary::LessThan,
        BinaryOp::Le => MpsBinary::LessThanOrEqualTo,
        BinaryOp::Gt => MpsBinary::GreaterThan,
        BinaryOp::Ge => MpsBinary::GreaterThanOrEqualTo,
        BinaryOp::And => MpsBinary::LogicalAND,
        BinaryOp::Or => MpsBinary::LogicalOR,
    }
}

fn reduce_op(op: ReduceOp) -> MpsReduction {
    match op {
        ReduceOp::Sum => MpsReduction::Sum,
        ReduceOp::Max => MpsReduction::Maximum,
        ReduceOp::Min => MpsReduction::Minimum,
        ReduceOp::Prod => MpsReduction::Product,
    }
}

/// The MPSGraph descriptor of an IR convolution (`x` is width, `y` height).
pub fn conv_descriptor(p: &Conv2dParams) -> Convolution2DDescriptor {
    Convolution2DDescriptor {
        stride_in_x: p.stride[1],
        stride_in_y: p.stride[0],
        dilation_rate_in_x: p.dilation[1],
        dilation_rate_in_y: p.dilation[0],
        padding_left: p.padding[1],
        padding_right: p.padding[1],
        padding_top: p.padding[0],
        padding_bottom: p.padding[0],
        groups: p.groups,
    }
}

/// The MPSGraph descriptor of IR pooling.
pub fn pool_descriptor(p: &Pool2dParams) -> Pooling2DDescriptor {
    Pooling2DDescriptor {
        kernel_width: p.kernel[1],
        kernel_height: p.kernel[0],
        stride_in_x: p.stride[1],
        stride_in_y: p.stride[0],
        padding_left: p.padding[1],
        padding_right: p.padding[1],
        padding_top: p.padding[0],
        padding_bottom: p.padding[0],
        include_zero_pad_to_average: p.count_include_pad,
    }
}

/// Lowers `graph` to MPSGraph calls.
///
/// ```
/// use ingot::ir::{Graph, Node, Op, TensorType, UnaryOp};
/// use ingot::DType;
/// let ty = TensorType { shape: vec![2, 3], dtype: DType::F32 };
/// let graph = Graph {
///     inputs: vec![ty.clone()],
///     nodes: vec![
///         Node { op: Op::Input(0), args: vec![], ty: ty.clone() },
///         Node { op: Op::Unary(UnaryOp::Exp), args: vec![0], ty },
///     ],
///     outputs: vec![1],
/// };
/// let program = ingot_metal::lower(&graph)?;
/// assert_eq!(program.nodes[1].op.method(), "<unary>WithTensor:name:");
/// assert_eq!(program.targets, vec![1]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn lower(graph: &Graph) -> Result<MpsProgram> {
    let mut b = Builder::default();
    for (k, ty) in graph.inputs.iter().enumerate() {
        let ty = mps_type(ty, &format!("input {k}"))?;
        b.program.feeds.push(ty);
    }
    let mut map: Vec<TensorId> = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let out = mps_type(&node.ty, &format!("node {id} ({})", node.op.name()))?;
        let arg = |i: usize| map[node.args[i]];
        let shape = out.shape.clone();
        let dtype = out.dtype;
        let t = match &node.op {
            Op::Input(index) => b.push(MpsOp::Placeholder { index: *index }, shape, dtype),
            Op::Const(v) => b.constant(v.0, &shape, dtype),
            Op::Arange { start, step } => arange(&mut b, shape[0], start.0, step.0, dtype),
            Op::Rand(dist) => rand::lower_rand(&mut b, *dist, arg(0), &shape, dtype),
            Op::Unary(UnaryOp::Gelu) => gelu(&mut b, arg(0)),
            Op::Unary(op) => b.unary(unary_op(*op), arg(0)),
            Op::Cast => b.cast(arg(0), dtype),
            Op::Binary(op) => {
                let op = match (binary_op(*op), dtype.is_float()) {
                    (MpsBinary::Maximum, true) => MpsBinary::MaximumWithNaNPropagation,
                    (MpsBinary::Minimum, true) => MpsBinary::MinimumWithNaNPropagation,
                    (op, _) => op,
                };
                b.binary(op, arg(0), arg(1))
            }
            Op::Where => b.select(arg(0), arg(1), arg(2)),
            Op::Reduce { op, axes, .. } => {
                let op = match (reduce_op(*op), dtype.is_float()) {
                    (MpsReduction::Maximum, true) => MpsReduction::MaximumPropagateNaN,
                    (MpsReduction::Minimum, true) => MpsReduction::MinimumPropagateNaN,
                    (op, _) => op,
                };
                let kept = if axes.is_empty() {
                    arg(0)
                } else {
                    b.reduction(op, arg(0), axes)
                };
                b.reshape(kept, &shape)
            }
            Op::ArgReduce { op, axis, .. } => {
                let op = match op {
                    ArgReduceOp::ArgMax => MpsArgReduction::ArgMaximum,
                    ArgReduceOp::ArgMin => MpsArgReduction::ArgMinimum,
                };
                let mut kept = b.ty(arg(0)).shape.clone();
                kept[*axis] = 1;
                let tensor = arg(0);
                let index = b.push(
                    MpsOp::ArgReduction {
                        op,
                        tensor,
                        axis: *axis,
                    },
                    kept,
                    MpsDataType::Int32,
                );
                let wide = b.cast(index, dtype);
                b.reshape(wide, &shape)
            }
            Op::Reshape => b.reshape(arg(0), &shape),
            // MPSGraph has no way to fail a run on a value: the check is the
            // CPU backend's, and a Metal graph passes the value through.
            Op::CheckRange { .. } => arg(0),
            Op::Permute(perm) => b.push(
                MpsOp::Transpose {
                    tensor: arg(0),
                    permutation: perm.clone(),
                },
                shape,
                dtype,
            ),
            Op::Expand => b.push(MpsOp::Broadcast { tensor: arg(0) }, shape, dtype),
            Op::Slice { start, step } => {
                let ends = (0..shape.len())
                    .map(|i| {
                        if shape[i] == 0 {
                            start[i]
                        } else {
                            start[i] + (shape[i] - 1) * step[i] + 1
                        }
                    })
                    .collect();
                b.slice(arg(0), start.clone(), ends, step.clone())
            }
            Op::Pad { pads, value } => b.push(
                MpsOp::Pad {
                    tensor: arg(0),
                    left_padding: pads.iter().map(|p| p.0).collect(),
                    right_padding: pads.iter().map(|p| p.1).collect(),
                    constant_value: value.0,
                },
                shape,
                dtype,
            ),
            Op::Concat { axis } => b.push(
                MpsOp::Concat {
                    tensors: (0..node.args.len()).map(arg).collect(),
                    dimension: *axis,
                },
                shape,
                dtype,
            ),
            Op::Gather { axis, .. } => b.push(
                MpsOp::GatherAlongAxis {
                    axis: *axis,
                    updates: arg(0),
                    indices: arg(1),
                },
                shape,
                dtype,
            ),
            Op::ScatterAdd { axis } => b.push(
                MpsOp::ScatterAlongAxisAdd {
                    axis: *axis,
                    data: arg(0),
                    updates: arg(2),
                    indices: arg(1),
                },
                shape,
                dtype,
            ),
            Op::MatMul => b.push(
                MpsOp::MatrixMultiplication {
                    primary: arg(0),
                    secondary: arg(1),
                },
                shape,
                dtype,
            ),
            Op::Conv2d(p) => b.push(
                MpsOp::Convolution2D {
                    source: arg(0),
                    weights: arg(1),
                    descriptor: conv_descriptor(p),
                },
                shape,
                dtype,
            ),
            Op::Conv2dBackwardInput(p) => b.push(
                MpsOp::Convolution2DDataGradient {
                    incoming_gradient: arg(0),
                    weights: arg(1),
                    descriptor: conv_descriptor(p),
                },
                shape,
                dtype,
            ),
            Op::Conv2dBackwardWeight(p) => b.push(
                MpsOp::Convolution2DWeightsGradient {
                    incoming_gradient: arg(0),
                    source: arg(1),
                    descriptor: conv_descriptor(p),
                },
                shape,
                dtype,
            ),
            Op::MaxPool2d(p) => b.push(
                MpsOp::MaxPooling2D {
                    source: arg(0),
                    descriptor: pool_descriptor(p),
                },
                shape,
                dtype,
            ),
            Op::MaxPool2dBackward(p) => b.push(
                MpsOp::MaxPooling2DGradient {
                    gradient: arg(0),
                    source: arg(1),
                    descriptor: pool_descriptor(p),
                },
                shape,
                dtype,
            ),
            Op::AvgPool2d(p) => b.push(
                MpsOp::AvgPooling2D {
                    source: arg(0),
                    descriptor: pool_descriptor(p),
                },
                shape,
                dtype,
            ),
            Op::AvgPool2dBackward(p) => {
                // MPSGraph wants the forward source; only its shape is read.
                let source = b.constant(0.0, &shape, dtype);
                b.push(
                    MpsOp::AvgPooling2DGradient {
                        gradient: arg(0),
                        source,
                        descriptor: pool_descriptor(p),
                    },
                    shape,
                    dtype,
                )
            }
            Op::Softmax { axis } => b.push(
                MpsOp::SoftMax {
                    tensor: arg(0),
                    axis: *axis,
                },
                shape,
                dtype,
            ),
            Op::LogSoftmax { axis } => log_softmax(&mut b, arg(0), *axis),
        };
        debug_assert_eq!(
            b.ty(t),
            &out,
            "lowering of {:?} made the wrong type",
            node.op
        );
        map.push(t);
    }
    // Each target is its own computed tensor: a feed or a tensor already
    // returned gets an identity, as MPSGraph results must be distinct.
    for &o in &graph.outputs {
        let mut t = map[o];
        let is_feed = matches!(b.program.nodes[t].op, MpsOp::Placeholder { .. });
        if is_feed || b.program.targets.contains(&t) {
            t = b.unary(MpsUnary::Identity, t);
        }
        b.program.targets.push(t);
    }
    Ok(b.program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[2], &[3]), None);
    }
}
