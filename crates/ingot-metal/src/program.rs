//! [`MpsProgram`]: a graph as the list of MPSGraph calls that builds it.
//!
//! Each [`MpsOp`] is one MPSGraph method, with its arguments named and
//! ordered as Apple's API names them and with MPSGraph's semantics (not the
//! IR's): reductions keep the reduced axes as size 1, arg-reductions return
//! `Int32`, binary arithmetic broadcasts NumPy-style, pooling and
//! convolution read their descriptors. The lowering ([`crate::lower()`])
//! writes programs; the simulator ([`crate::sim`]) and, on macOS, the
//! MPSGraph builder replay them call by call.

use std::fmt;

use ingot_core::DType;

/// Index of a tensor (a node's result) in [`MpsProgram::nodes`].
pub type TensorId = usize;

/// `MPSDataType` values the lowering uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpsDataType {
    Float32,
    Float16,
    BFloat16,
    Int64,
    Int32,
    UInt64,
    UInt32,
    UInt8,
    Bool,
}

impl MpsDataType {
    /// The MPS type that stores an ingot dtype (`None` for F64: Metal
    /// GPUs have no double precision).
    ///
    /// ```
    /// use ingot_metal::program::MpsDataType;
    /// assert_eq!(MpsDataType::from_dtype(ingot::DType::F16), Some(MpsDataType::Float16));
    /// assert_eq!(MpsDataType::from_dtype(ingot::DType::F64), None);
    /// ```
    pub fn from_dtype(dtype: DType) -> Option<MpsDataType> {
        Some(match dtype {
            DType::F64 => return None,
            DType::F32 => MpsDataType::Float32,
            DType::F16 => MpsDataType::Float16,
            DType::BF16 => MpsDataType::BFloat16,
            DType::I64 => MpsDataType::Int64,
            DType::I32 => MpsDataType::Int32,
            DType::U8 => MpsDataType::UInt8,
            DType::Bool => MpsDataType::Bool,
        })
    }

    /// Bytes per element.
    ///
    /// ```
    /// assert_eq!(ingot_metal::program::MpsDataType::BFloat16.size(), 2);
    /// ```
    pub fn size(self) -> usize {
        match self {
            MpsDataType::Int64 | MpsDataType::UInt64 => 8,
            MpsDataType::Float32 | MpsDataType::Int32 | MpsDataType::UInt32 => 4,
            MpsDataType::Float16 | MpsDataType::BFloat16 => 2,
            MpsDataType::UInt8 | MpsDataType::Bool => 1,
        }
    }

    /// Whether it is a floating-point type.
    ///
    /// ```
    /// assert!(!ingot_metal::program::MpsDataType::UInt32.is_float());
    /// ```
    pub fn is_float(self) -> bool {
        matches!(
            self,
            MpsDataType::Float32 | MpsDataType::Float16 | MpsDataType::BFloat16
        )
    }
}

/// Shape and data type of a tensor of the program.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MpsType {
    pub shape: Vec<usize>,
    pub dtype: MpsDataType,
}

impl MpsType {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// One-operand arithmetic of `MPSGraphArithmeticOps` and
/// `MPSGraphActivationOps` (`negativeWithTensor:`, `reLUWithTensor:`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpsUnary {
    /// `identityWithTensor:`: a copy (a target that is otherwise a feed or
    /// another target).
    Identity,
    Negative,
    Absolute,
    Exponent,
    Logarithm,
    SquareRoot,
    ReverseSquareRoot,
    Reciprocal,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    ReLU,
    Erf,
    Floor,
    Ceil,
    /// `rintWithTensor:`: round half to even.
    Rint,
    Sign,
    /// `notWithTensor:`: logical not of a `Bool` tensor.
    Not,
}

/// Two-operand arithmetic of `MPSGraphArithmeticOps`
/// (`additionWithPrimaryTensor:secondaryTensor:`, ...). Operands broadcast
/// NumPy-style; comparisons and logical ops return `Bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpsBinary {
    Addition,
    Subtraction,
    Multiplication,
    Division,
    Power,
    Maximum,
    Minimum,
    /// `maximumWithNaNPropagationWithPrimaryTensor:secondaryTensor:`:
    /// NaN if either operand is (`torch.maximum`).
    MaximumWithNaNPropagation,
    /// `minimumWithNaNPropagationWithPrimaryTensor:secondaryTensor:`.
    MinimumWithNaNPropagation,
    Equal,
    NotEqual,
    LessThan,
    LessThanOrEqualTo,
    GreaterThan,
    GreaterThanOrEqualTo,
    LogicalAND,
    LogicalOR,
    /// `bitwiseANDWithPrimaryTensor:secondaryTensor:` (integers).
    BitwiseAND,
    /// `bitwiseXORWithPrimaryTensor:secondaryTensor:` (integers).
    BitwiseXOR,
    /// `bitwiseRightShiftWithPrimaryTensor:secondaryTensor:` (logical for
    /// unsigned types).
    BitwiseRightShift,
}

impl MpsBinary {
    /// Whether the result is `Bool`.
    pub fn is_predicate(self) -> bool {
        use MpsBinary::*;
        matches!(
            self,
            Equal
                | NotEqual
                | LessThan
                | LessThanOrEqualTo
                | GreaterThan
                | GreaterThanOrEqualTo
                | LogicalAND
                | LogicalOR
        )
    }
}

/// `MPSGraphReductionOps` over axes (`reductionSumWithTensor:axes:`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpsReduction {
    Sum,
    Maximum,
    Minimum,
    Product,
    /// `reductionMaximumPropagateNaNWithTensor:axes:` (`torch.amax`).
    MaximumPropagateNaN,
    /// `reductionMinimumPropagateNaNWithTensor:axes:`.
    MinimumPropagateNaN,
}

/// `reductionArgMaximumWithTensor:axis:` / `reductionArgMinimumWithTensor:axis:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpsArgReduction {
    ArgMaximum,
    ArgMinimum,
}

/// `MPSGraphConvolution2DOpDescriptor`, with explicit padding
/// (`MPSGraphPaddingStyleExplicit`), `NCHW` data and `OIHW` weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Convolution2DDescriptor {
    pub stride_in_x: usize,
    pub stride_in_y: usize,
    pub dilation_rate_in_x: usize,
    pub dilation_rate_in_y: usize,
    pub padding_left: usize,
    pub padding_right: usize,
    pub padding_top: usize,
    pub padding_bottom: usize,
    pub groups: usize,
}

/// `MPSGraphPooling2DOpDescriptor`, with explicit padding, `NCHW` data and
/// `ceilMode` off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pooling2DDescriptor {
    pub kernel_width: usize,
    pub kernel_height: usize,
    pub stride_in_x: usize,
    pub stride_in_y: usize,
    pub padding_left: usize,
    pub padding_right: usize,
    pub padding_top: usize,
    pub padding_bottom: usize,
    /// `includeZeroPadToAverage`: average pooling divides by the whole
    /// window, padding included.
    pub include_zero_pad_to_average: bool,
}

/// One MPSGraph call. Tensor arguments are [`TensorId`]s of earlier nodes;
/// the result's shape and type are on the [`MpsNode`].
#[derive(Clone, Debug, PartialEq)]
pub enum MpsOp {
    /// `placeholderWithShape:dataType:name:`, fed with input `index`.
    Placeholder {
        index: usize,
    },
    /// `constantWithScalar:shape:dataType:`.
    Constant {
        scalar: f64,
    },
    /// `coordinateAlongAxis:withShape:name:`: each element's index along
    /// `axis`, as `Int32`.
    CoordinateAlongAxis {
        axis: usize,
    },
    Unary {
        op: MpsUnary,
        tensor: TensorId,
    },
    Binary {
        op: MpsBinary,
        primary: TensorId,
        secondary: TensorId,
    },
    /// `castTensor:toType:name:`: converts values (float to integer rounds
    /// toward zero; to `Bool` tests `!= 0`).
    Cast {
        tensor: TensorId,
    },
    /// `reinterpretCastTensor:toType:name:`: the same bits as another type
    /// of the same width.
    ReinterpretCast {
        tensor: TensorId,
    },
    /// `selectWithPredicateTensor:truePredicateTensor:falsePredicateTensor:name:`.
    Select {
        predicate: TensorId,
        true_tensor: TensorId,
        false_tensor: TensorId,
    },
    /// `reduction{Sum,Maximum,Minimum,Product}WithTensor:axes:name:`; the
    /// reduced axes stay, with size 1.
    Reduction {
        op: MpsReduction,
        tensor: TensorId,
        axes: Vec<usize>,
    },
    /// `reductionArg{Maximum,Minimum}WithTensor:axis:name:`: `Int32`
    /// indices, the axis kept with size 1.
    ArgReduction {
        op: MpsArgReduction,
        tensor: TensorId,
        axis: usize,
    },
    /// `reshapeTensor:withShape:name:` (row-major).
    Reshape {
        tensor: TensorId,
    },
    /// `transposeTensor:permutation:name:`: `out.shape[i] = in.shape[permutation[i]]`.
    Transpose {
        tensor: TensorId,
        permutation: Vec<usize>,
    },
    /// `broadcastTensor:toShape:name:`.
    Broadcast {
        tensor: TensorId,
    },
    /// `sliceTensor:starts:ends:strides:name:` (ends exclusive).
    Slice {
        tensor: TensorId,
        starts: Vec<usize>,
        ends: Vec<usize>,
        strides: Vec<usize>,
    },
    /// `padTensor:withPaddingMode:leftPadding:rightPadding:constantValue:name:`
    /// with `MPSGraphPaddingModeConstant`.
    Pad {
        tensor: TensorId,
        left_padding: Vec<usize>,
        right_padding: Vec<usize>,
        constant_value: f64,
    },
    /// `concatTensors:dimension:name:`.
    Concat {
        tensors: Vec<TensorId>,
        dimension: usize,
    },
    /// `gatherAlongAxis:withUpdatesTensor:indicesTensor:name:`:
    /// `out[.., i, ..] = updates[.., indices[.., i, ..], ..]` along `axis`.
    GatherAlongAxis {
        axis: usize,
        updates: TensorId,
        indices: TensorId,
    },
    /// `scatterAlongAxis:withDataTensor:updatesTensor:indicesTensor:mode:name:`
    /// with `MPSGraphScatterModeAdd`: a copy of `data` with each update
    /// added at its index along `axis`.
    ScatterAlongAxisAdd {
        axis: usize,
        data: TensorId,
        updates: TensorId,
        indices: TensorId,
    },
    /// `matrixMultiplicationWithPrimaryTensor:secondaryTensor:name:` (batch
    /// dimensions broadcast).
    MatrixMultiplication {
        primary: TensorId,
        secondary: TensorId,
    },
    /// `convolution2DWithSourceTensor:weightsTensor:descriptor:name:`.
    Convolution2D {
        source: TensorId,
        weights: TensorId,
        descriptor: Convolution2DDescriptor,
    },
    /// `convolution2DDataGradientWithIncomingGradientTensor:weightsTensor:outputShape:forwardConvolutionDescriptor:name:`;
    /// the output shape is the node's.
    Convolution2DDataGradient {
        incoming_gradient: TensorId,
        weights: TensorId,
        descriptor: Convolution2DDescriptor,
    },
    /// `convolution2DWeightsGradientWithIncomingGradientTensor:sourceTensor:outputShape:forwardConvolutionDescriptor:name:`;
    /// the output shape is the node's.
    Convolution2DWeightsGradient {
        incoming_gradient: TensorId,
        source: TensorId,
        descriptor: Convolution2DDescriptor,
    },
    /// `maxPooling2DWithSourceTensor:descriptor:name:`.
    MaxPooling2D {
        source: TensorId,
        descriptor: Pooling2DDescriptor,
    },
    /// `maxPooling2DGradientWithGradientTensor:sourceTensor:descriptor:name:`.
    MaxPooling2DGradient {
        gradient: TensorId,
        source: TensorId,
        descriptor: Pooling2DDescriptor,
    },
    /// `avgPooling2DWithSourceTensor:descriptor:name:`.
    AvgPooling2D {
        source: TensorId,
        descriptor: Pooling2DDescriptor,
    },
    /// `avgPooling2DGradientWithGradientTensor:sourceTensor:descriptor:name:`
    /// (only the source's shape matters).
    AvgPooling2DGradient {
        gradient: TensorId,
        source: TensorId,
        descriptor: Pooling2DDescriptor,
    },
    /// `softMaxWithTensor:axis:name:`.
    SoftMax {
        tensor: TensorId,
        axis: usize,
    },
}

impl MpsOp {
    /// The MPSGraph method's selector stem, for messages and docs.
    ///
    /// ```
    /// use ingot_metal::program::MpsOp;
    /// assert_eq!(MpsOp::SoftMax { tensor: 0, axis: 1 }.method(), "softMaxWithTensor:axis:name:");
    /// ```
    pub fn method(&self) -> &'static str {
        match self {
            MpsOp::Placeholder { .. } => "placeholderWithShape:dataType:name:",
            MpsOp::Constant { .. } => "constantWithScalar:shape:dataType:",
            MpsOp::CoordinateAlongAxis { .. } => "coordinateAlongAxis:withShape:name:",
            MpsOp::Unary { .. } => "<unary>WithTensor:name:",
            MpsOp::Binary { .. } => "<binary>WithPrimaryTensor:secondaryTensor:name:",
            MpsOp::Cast { .. } => "castTensor:toType:name:",
            MpsOp::ReinterpretCast { .. } => "reinterpretCastTensor:toType:name:",
            MpsOp::Select { .. } => {
                "selectWithPredicateTensor:truePredicateTensor:falsePredicateTensor:name:"
            }
            MpsOp::Reduction { .. } => "reduction<op>WithTensor:axes:name:",
            MpsOp::ArgReduction { .. } => "reductionArg<op>WithTensor:axis:name:",
            MpsOp::Reshape { .. } => "reshapeTensor:withShape:name:",
            MpsOp::Transpose { .. } => "transposeTensor:permutation:name:",
            MpsOp::Broadcast { .. } => "broadcastTensor:toShape:name:",
            MpsOp::Slice { .. } => "sliceTensor:starts:ends:strides:name:",
            MpsOp::Pad { .. } => {
                "padTensor:withPaddingMode:leftPadding:rightPadding:constantValue:name:"
            }
            MpsOp::Concat { .. } => "concatTensors:dimension:name:",
            MpsOp::GatherAlongAxis { .. } => {
                "gatherAlongAxis:withUpdatesTensor:indicesTensor:name:"
            }
            MpsOp::ScatterAlongAxisAdd { .. } => {
                "scatterAlongAxis:withDataTensor:updatesTensor:indicesTensor:mode:name:"
            }
            MpsOp::MatrixMultiplication { .. } => {
                "matrixMultiplicationWithPrimaryTensor:secondaryTensor:name:"
            }
            MpsOp::Convolution2D { .. } => {
                "convolution2DWithSourceTensor:weightsTensor:descriptor:name:"
            }
            MpsOp::Convolution2DDataGradient { .. } => {
                "convolution2DDataGradientWithIncomingGradientTensor:weightsTensor:outputShape:forwardConvolutionDescriptor:name:"
            }
            MpsOp::Convolution2DWeightsGradient { .. } => {
                "convolution2DWeightsGradientWithIncomingGradientTensor:sourceTensor:outputShape:forwardConvolutionDescriptor:name:"
            }
            MpsOp::MaxPooling2D { .. } => "maxPooling2DWithSourceTensor:descriptor:name:",
            MpsOp::MaxPooling2DGradient { .. } => {
                "maxPooling2DGradientWithGradientTensor:sourceTensor:descriptor:name:"
            }
            MpsOp::AvgPooling2D { .. } => "avgPooling2DWithSourceTensor:descriptor:name:",
            MpsOp::AvgPooling2DGradient { .. } => {
                "avgPooling2DGradientWithGradientTensor:sourceTensor:descriptor:name:"
            }
            MpsOp::SoftMax { .. } => "softMaxWithTensor:axis:name:",
        }
    }

    /// The tensors this call reads, in argument order.
    pub fn operands(&self) -> Vec<TensorId> {
        match self {
            MpsOp::Placeholder { .. }
            | MpsOp::Constant { .. }
            | MpsOp::CoordinateAlongAxis { .. } => Vec::new(),
            MpsOp::Unary { tensor, .. }
            | MpsOp::Cast { tensor }
            | MpsOp::ReinterpretCast { tensor }
            | MpsOp::Reduction { tensor, .. }
            | MpsOp::ArgReduction { tensor, .. }
            | MpsOp::Reshape { tensor }
            | MpsOp::Transpose { tensor, .. }
            | MpsOp::Broadcast { tensor }
            | MpsOp::Slice { tensor, .. }
            | MpsOp::Pad { tensor, .. }
            | MpsOp::SoftMax { tensor, .. } => vec![*tensor],
            MpsOp::Binary {
                primary, secondary, ..
            }
            | MpsOp::MatrixMultiplication { primary, secondary } => vec![*primary, *secondary],
            MpsOp::Select {
                predicate,
                true_tensor,
                false_tensor,
            } => vec![*predicate, *true_tensor, *false_tensor],
            MpsOp::Concat { tensors, .. } => tensors.clone(),
            MpsOp::GatherAlongAxis {
                updates, indices, ..
            } => vec![*updates, *indices],
            MpsOp::ScatterAlongAxisAdd {
                data,
                updates,
                indices,
                ..
            } => vec![*data, *updates, *indices],
            MpsOp::Convolution2D {
                source, weights, ..
            } => vec![*source, *weights],
            MpsOp::Convolution2DDataGradient {
                incoming_gradient,
                weights,
                ..
            } => vec![*incoming_gradient, *weights],
            MpsOp::Convolution2DWeightsGradient {
                incoming_gradient,
                source,
                ..
            } => vec![*incoming_gradient, *source],
            MpsOp::MaxPooling2D { source, .. } | MpsOp::AvgPooling2D { source, .. } => {
                vec![*source]
            }
            MpsOp::MaxPooling2DGradient {
                gradient, source, ..
            }
            | MpsOp::AvgPooling2DGradient {
                gradient, source, ..
            } => vec![*gradient, *source],
        }
    }
}

/// One call and its result's type.
#[derive(Clone, Debug, PartialEq)]
pub struct MpsNode {
    pub op: MpsOp,
    pub ty: MpsType,
}

/// A whole graph as MPSGraph calls: what the executor builds into an
/// `MPSGraph` and compiles into one `MPSGraphExecutable`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MpsProgram {
    /// The feeds' types, in the order placeholders number them.
    pub feeds: Vec<MpsType>,
    /// The calls, each reading only earlier results.
    pub nodes: Vec<MpsNode>,
    /// The results the executable returns, in order (the graph's outputs).
    pub targets: Vec<TensorId>,
}

impl fmt::Display for MpsProgram {
    /// One line per call: `%3 = additionWithPrimaryTensor... (%1, %2) -> [2, 3] Float32`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.nodes.iter().enumerate() {
            let args: Vec<String> = n.op.operands().iter().map(|a| format!("%{a}")).collect();
            writeln!(
                f,
                "%{i} = {:?} ({}) -> {:?} {:?}",
                n.op,
                args.join(", "),
                n.ty.shape,
                n.ty.dtype
            )?;
        }
        let targets: Vec<String> = self.targets.iter().map(|t| format!("%{t}")).collect();
        write!(f, "targets: {}", targets.join(", "))
    }
}
