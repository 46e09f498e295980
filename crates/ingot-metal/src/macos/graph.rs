//! An [`MpsProgram`] replayed into a real `MPSGraph`, call by call, and
//! compiled. Rank-0 tensors become shape `[1]` (the same one element), as
//! MPSGraph's scalar handling is not uniform across operations.

use objc2::AnyThread;
use objc2::rc::Retained;
use objc2_foundation::{NSArray, NSNumber};
use objc2_metal_performance_shaders::{MPSDataType, MPSShape};
use objc2_metal_performance_shaders_graph::{
    MPSGraph, MPSGraphConvolution2DOpDescriptor, MPSGraphDevice, MPSGraphExecutable,
    MPSGraphPaddingMode, MPSGraphPaddingStyle, MPSGraphPooling2DOpDescriptor, MPSGraphScatterMode,
    MPSGraphShapedType, MPSGraphTensor, MPSGraphTensorNamedDataLayout,
    MPSGraphTensorShapedTypeDictionary,
};

use crate::program::{
    Convolution2DDescriptor, MpsArgReduction, MpsBinary, MpsDataType as Dt, MpsOp, MpsProgram,
    MpsReduction, MpsUnary, Pooling2DDescriptor,
};

/// The `MPSDataType` of a program type.
pub(super) fn mps_data_type(dtype: Dt) -> MPSDataType {
    match dtype {
        Dt::Float32 => MPSDataType::Float32,
        Dt::Float16 => MPSDataType::Float16,
        Dt::BFloat16 => MPSDataType::BFloat16,
        Dt::Int64 => MPSDataType::Int64,
        Dt::Int32 => MPSDataType::Int32,
        Dt::UInt64 => MPSDataType::UInt64,
        Dt::UInt32 => MPSDataType::UInt32,
        Dt::UInt8 => MPSDataType::UInt8,
        Dt::Bool => MPSDataType::Bool,
    }
}

fn numbers(values: &[usize]) -> Retained<NSArray<NSNumber>> {
    let v: Vec<Retained<NSNumber>> = values
        .iter()
        .map(|&x| NSNumber::numberWithUnsignedInteger(x))
        .collect();
    NSArray::from_retained_slice(&v)
}

/// An `MPSShape`; rank 0 becomes `[1]`.
pub(super) fn mps_shape(shape: &[usize]) -> Retained<MPSShape> {
    if shape.is_empty() {
        numbers(&[1])
    } else {
        numbers(shape)
    }
}

fn conv_descriptor(
    d: &Convolution2DDescriptor,
) -> Result<Retained<MPSGraphConvolution2DOpDescriptor>, String> {
    // SAFETY: plain value arguments.
    unsafe {
        MPSGraphConvolution2DOpDescriptor::descriptorWithStrideInX_strideInY_dilationRateInX_dilationRateInY_groups_paddingLeft_paddingRight_paddingTop_paddingBottom_paddingStyle_dataLayout_weightsLayout(
            d.stride_in_x,
            d.stride_in_y,
            d.dilation_rate_in_x,
            d.dilation_rate_in_y,
            d.groups,
            d.padding_left,
            d.padding_right,
            d.padding_top,
            d.padding_bottom,
            MPSGraphPaddingStyle::Explicit,
            MPSGraphTensorNamedDataLayout::NCHW,
            MPSGraphTensorNamedDataLayout::OIHW,
        )
    }
    .ok_or_else(|| format!("MPSGraph rejected the convolution descriptor {d:?}"))
}

fn pool_descriptor(
    d: &Pooling2DDescriptor,
) -> Result<Retained<MPSGraphPooling2DOpDescriptor>, String> {
    // SAFETY: plain value arguments.
    let desc = unsafe {
        MPSGraphPooling2DOpDescriptor::descriptorWithKernelWidth_kernelHeight_strideInX_strideInY_dilationRateInX_dilationRateInY_paddingLeft_paddingRight_paddingTop_paddingBottom_paddingStyle_dataLayout(
            d.kernel_width,
            d.kernel_height,
            d.stride_in_x,
            d.stride_in_y,
            1,
            1,
            d.padding_left,
            d.padding_right,
            d.padding_top,
            d.padding_bottom,
            MPSGraphPaddingStyle::Explicit,
            MPSGraphTensorNamedDataLayout::NCHW,
        )
    }
    .ok_or_else(|| format!("MPSGraph rejected the pooling descriptor {d:?}"))?;
    // SAFETY: setting a flag of a descriptor we own.
    unsafe { desc.setIncludeZeroPadToAverage(d.include_zero_pad_to_average) };
    Ok(desc)
}

/// Adds one call to `g`. `t(i)` is the tensor of an earlier call.
fn add_call(
    g: &MPSGraph,
    op: &MpsOp,
    ty: &crate::program::MpsType,
    t: &dyn Fn(usize) -> Retained<MPSGraphTensor>,
) -> Result<Retained<MPSGraphTensor>, String> {
    let shape = mps_shape(&ty.shape);
    let dtype = mps_data_type(ty.dtype);
    // SAFETY (every call below): MPSGraph methods called with tensors of
    // this graph and the arguments the program recorded for them; the
    // lowering guarantees their shapes and types agree (the simulator
    // checks the same program).
    Ok(unsafe {
        match op {
            MpsOp::Placeholder { .. } => {
                g.placeholderWithShape_dataType_name(Some(&shape), dtype, None)
            }
            MpsOp::Constant { scalar } => {
                g.constantWithScalar_shape_dataType(*scalar, &shape, dtype)
            }
            MpsOp::CoordinateAlongAxis { axis } => {
                let c = g.coordinateAlongAxis_withShape_name(*axis as isize, &shape, None);
                g.castTensor_toType_name(&c, dtype, None)
            }
            MpsOp::Unary { op, tensor } => {
                let x = &t(*tensor);
                match op {
                    MpsUnary::Identity => g.identityWithTensor_name(x, None),
                    MpsUnary::Negative => g.negativeWithTensor_name(x, None),
                    MpsUnary::Absolute => g.absoluteWithTensor_name(x, None),
                    MpsUnary::Exponent => g.exponentWithTensor_name(x, None),
                    MpsUnary::Logarithm => g.logarithmWithTensor_name(x, None),
                    MpsUnary::SquareRoot => g.squareRootWithTensor_name(x, None),
                    MpsUnary::ReverseSquareRoot => g.reciprocalSquareRootWithTensor_name(x, None),
                    MpsUnary::Reciprocal => g.reciprocalWithTensor_name(x, None),
                    MpsUnary::Sin => g.sinWithTensor_name(x, None),
                    MpsUnary::Cos => g.cosWithTensor_name(x, None),
                    MpsUnary::Tanh => g.tanhWithTensor_name(x, None),
                    MpsUnary::Sigmoid => g.sigmoidWithTensor_name(x, None),
                    MpsUnary::ReLU => g.reLUWithTensor_name(x, None),
                    MpsUnary::Erf => g.erfWithTensor_name(x, None),
                    MpsUnary::Floor => g.floorWithTensor_name(x, None),
                    MpsUnary::Ceil => g.ceilWithTensor_name(x, None),
                    MpsUnary::Rint => g.rintWithTensor_name(x, None),
                    MpsUnary::Sign => g.signWithTensor_name(x, None),
                    MpsUnary::Not => g.notWithTensor_name(x, None),
                }
            }
            MpsOp::Binary {
                op,
                primary,
                secondary,
            } => {
                let (a, b) = (&t(*primary), &t(*secondary));
                match op {
                    MpsBinary::Addition => {
                        g.additionWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::Subtraction => {
                        g.subtractionWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::Multiplication => {
                        g.multiplicationWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::Division => {
                        g.divisionWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::Power => g.powerWithPrimaryTensor_secondaryTensor_name(a, b, None),
                    MpsBinary::Maximum => {
                        g.maximumWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::Minimum => {
                        g.minimumWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::MaximumWithNaNPropagation => g
                        .maximumWithNaNPropagationWithPrimaryTensor_secondaryTensor_name(
                            a, b, None,
                        ),
                    MpsBinary::MinimumWithNaNPropagation => g
                        .minimumWithNaNPropagationWithPrimaryTensor_secondaryTensor_name(
                            a, b, None,
                        ),
                    MpsBinary::Equal => g.equalWithPrimaryTensor_secondaryTensor_name(a, b, None),
                    MpsBinary::NotEqual => {
                        g.notEqualWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::LessThan => {
                        g.lessThanWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::LessThanOrEqualTo => {
                        g.lessThanOrEqualToWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::GreaterThan => {
                        g.greaterThanWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::GreaterThanOrEqualTo => {
                        g.greaterThanOrEqualToWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::LogicalAND => {
                        g.logicalANDWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::LogicalOR => {
                        g.logicalORWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::BitwiseAND => {
                        g.bitwiseANDWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::BitwiseXOR => {
                        g.bitwiseXORWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                    MpsBinary::BitwiseRightShift => {
                        g.bitwiseRightShiftWithPrimaryTensor_secondaryTensor_name(a, b, None)
                    }
                }
            }
            MpsOp::Cast { tensor } => g.castTensor_toType_name(&t(*tensor), dtype, None),
            MpsOp::ReinterpretCast { tensor } => {
                g.reinterpretCastTensor_toType_name(&t(*tensor), dtype, None)
            }
            MpsOp::Select {
                predicate,
                true_tensor,
                false_tensor,
            } => g.selectWithPredicateTensor_truePredicateTensor_falsePredicateTensor_name(
                &t(*predicate),
                &t(*true_tensor),
                &t(*false_tensor),
                None,
            ),
            MpsOp::Reduction { op, tensor, axes } => {
                let (x, axes) = (&t(*tensor), numbers(axes));
                let axes = Some(&*axes);
                match op {
                    MpsReduction::Sum => g.reductionSumWithTensor_axes_name(x, axes, None),
                    MpsReduction::Maximum => g.reductionMaximumWithTensor_axes_name(x, axes, None),
                    MpsReduction::Minimum => g.reductionMinimumWithTensor_axes_name(x, axes, None),
                    MpsReduction::Product => g.reductionProductWithTensor_axes_name(x, axes, None),
                    MpsReduction::MaximumPropagateNaN => {
                        g.reductionMaximumPropagateNaNWithTensor_axes_name(x, axes, None)
                    }
                    MpsReduction::MinimumPropagateNaN => {
                        g.reductionMinimumPropagateNaNWithTensor_axes_name(x, axes, None)
                    }
                }
            }
            MpsOp::ArgReduction { op, tensor, axis } => {
                let x = &t(*tensor);
                let idx = match op {
                    MpsArgReduction::ArgMaximum => {
                        g.reductionArgMaximumWithTensor_axis_name(x, *axis as isize, None)
                    }
                    MpsArgReduction::ArgMinimum => {
                        g.reductionArgMinimumWithTensor_axis_name(x, *axis as isize, None)
                    }
                };
                g.castTensor_toType_name(&idx, dtype, None)
            }
            MpsOp::Reshape { tensor } => g.reshapeTensor_withShape_name(&t(*tensor), &shape, None),
            MpsOp::Transpose {
                tensor,
                permutation,
            } => g.transposeTensor_permutation_name(&t(*tensor), &numbers(permutation), None),
            MpsOp::Broadcast { tensor } => {
                g.broadcastTensor_toShape_name(&t(*tensor), &shape, None)
            }
            MpsOp::Slice {
                tensor,
                starts,
                ends,
                strides,
            } => g.sliceTensor_starts_ends_strides_name(
                &t(*tensor),
                &numbers(starts),
                &numbers(ends),
                &numbers(strides),
                None,
            ),
            MpsOp::Pad {
                tensor,
                left_padding,
                right_padding,
                constant_value,
            } => g.padTensor_withPaddingMode_leftPadding_rightPadding_constantValue_name(
                &t(*tensor),
                MPSGraphPaddingMode::Constant,
                &numbers(left_padding),
                &numbers(right_padding),
                *constant_value,
                None,
            ),
            MpsOp::Concat { tensors, dimension } => {
                let parts: Vec<Retained<MPSGraphTensor>> = tensors.iter().map(|&i| t(i)).collect();
                g.concatTensors_dimension_name(
                    &NSArray::from_retained_slice(&parts),
                    *dimension as isize,
                    None,
                )
            }
            MpsOp::GatherAlongAxis {
                axis,
                updates,
                indices,
            } => g.gatherAlongAxis_withUpdatesTensor_indicesTensor_name(
                *axis as isize,
                &t(*updates),
                &t(*indices),
                None,
            ),
            MpsOp::ScatterAlongAxisAdd {
                axis,
                data,
                updates,
                indices,
            } => g.scatterAlongAxis_withDataTensor_updatesTensor_indicesTensor_mode_name(
                *axis as isize,
                &t(*data),
                &t(*updates),
                &t(*indices),
                MPSGraphScatterMode::Add,
                None,
            ),
            MpsOp::MatrixMultiplication { primary, secondary } => g
                .matrixMultiplicationWithPrimaryTensor_secondaryTensor_name(
                    &t(*primary),
                    &t(*secondary),
                    None,
                ),
            MpsOp::Convolution2D {
                source,
                weights,
                descriptor,
            } => {
                let d = conv_descriptor(descriptor)?;
                g.convolution2DWithSourceTensor_weightsTensor_descriptor_name(
                    &t(*source),
                    &t(*weights),
                    &d,
                    None,
                )
            }
            MpsOp::Convolution2DDataGradient {
                incoming_gradient,
                weights,
                descriptor,
            } => {
                let d = conv_descriptor(descriptor)?;
                g.convolution2DDataGradientWithIncomingGradientTensor_weightsTensor_outputShape_forwardConvolutionDescriptor_name(
                    &t(*incoming_gradient),
                    &t(*weights),
                    &shape,
                    &d,
                    None,
                )
            }
            MpsOp::Convolution2DWeightsGradient {
                incoming_gradient,
                source,
                descriptor,
            } => {
                let d = conv_descriptor(descriptor)?;
                g.convolution2DWeightsGradientWithIncomingGradientTensor_sourceTensor_outputShape_forwardConvolutionDescriptor_name(
                    &t(*incoming_gradient),
                    &t(*source),
                    &shape,
                    &d,
                    None,
                )
            }
            MpsOp::MaxPooling2D { source, descriptor } => {
                let d = pool_descriptor(descriptor)?;
                g.maxPooling2DWithSourceTensor_descriptor_name(&t(*source), &d, None)
            }
            MpsOp::MaxPooling2DGradient {
                gradient,
                source,
                descriptor,
            } => {
                let d = pool_descriptor(descriptor)?;
                g.maxPooling2DGradientWithGradientTensor_sourceTensor_descriptor_name(
                    &t(*gradient),
                    &t(*source),
                    &d,
                    None,
                )
            }
            MpsOp::AvgPooling2D { source, descriptor } => {
                let d = pool_descriptor(descriptor)?;
                g.avgPooling2DWithSourceTensor_descriptor_name(&t(*source), &d, None)
            }
            MpsOp::AvgPooling2DGradient {
                gradient,
                source,
                descriptor,
            } => {
                let d = pool_descriptor(descriptor)?;
                g.avgPooling2DGradientWithGradientTensor_sourceTensor_descriptor_name(
                    &t(*gradient),
                    &t(*source),
                    &d,
                    None,
                )
            }
            MpsOp::SoftMax { tensor, axis } => {
                g.softMaxWithTensor_axis_name(&t(*tensor), *axis as isize, None)
            }
        }
    })
}

/// Builds and compiles `program`; returns the executable and, for each of
/// its feeds in its order, the program's feed index.
pub(super) fn compile(
    program: &MpsProgram,
    device: &MPSGraphDevice,
) -> Result<(Retained<MPSGraphExecutable>, Vec<usize>), String> {
    // SAFETY: a new, empty graph.
    let g = unsafe { MPSGraph::new() };
    let mut tensors: Vec<Retained<MPSGraphTensor>> = Vec::with_capacity(program.nodes.len());
    let mut feeds: Vec<(usize, Retained<MPSGraphTensor>)> = Vec::new();
    for node in &program.nodes {
        let made = add_call(&g, &node.op, &node.ty, &|i| tensors[i].clone())?;
        if let MpsOp::Placeholder { index } = node.op {
            feeds.push((index, made.clone()));
        }
        tensors.push(made);
    }
    let keys: Vec<&MPSGraphTensor> = feeds.iter().map(|(_, t)| &**t).collect();
    let types: Vec<Retained<MPSGraphShapedType>> = feeds
        .iter()
        .map(|(k, _)| {
            let ty = &program.feeds[*k];
            // SAFETY: a shaped type of a valid shape and data type.
            unsafe {
                MPSGraphShapedType::initWithShape_dataType(
                    MPSGraphShapedType::alloc(),
                    Some(&mps_shape(&ty.shape)),
                    mps_data_type(ty.dtype),
                )
            }
        })
        .collect();
    let feed_types: Retained<MPSGraphTensorShapedTypeDictionary> =
        objc2_foundation::NSDictionary::from_retained_objects(&keys, &types);
    let targets: Vec<Retained<MPSGraphTensor>> = program
        .targets
        .iter()
        .map(|&i| tensors[i].clone())
        .collect();
    let targets = NSArray::from_retained_slice(&targets);
    // SAFETY: feeds and targets are tensors of `g`.
    let executable = unsafe {
        g.compileWithDevice_feeds_targetTensors_targetOperations_compilationDescriptor(
            Some(device),
            &feed_types,
            &targets,
            None,
            None,
        )
    };
    // SAFETY: reading a property of the executable.
    let order = unsafe { executable.feedTensors() }.unwrap_or_else(|| NSArray::from_slice(&[]));
    let feed_order = order
        .iter()
        .map(|ft| {
            feeds
                .iter()
                .find(|(_, t)| Retained::as_ptr(t) == Retained::as_ptr(&ft))
                .map(|(k, _)| *k)
                .ok_or_else(|| "the executable has a feed the program does not".to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    if feed_order.len() != program.feeds.len() {
        return Err(format!(
            "the executable has {} feeds, the program {}",
            feed_order.len(),
            program.feeds.len()
        ));
    }
    Ok((executable, feed_order))
}
