//! The simulator: runs an [`MpsProgram`] call by call with CPU kernels
//! written from Apple's documentation of each MPSGraph operation (each
//! kernel module cites its pages), and [`Simulator`], a [`Runtime`] whose
//! buffers are host bytes, so [`crate::simulated_device`] goes through the
//! same lowering, pool and executable cache as the GPU.
//!
//! The simulator is a check of the lowering, not a fast backend: kernels
//! are plain loops.

mod elementwise;
mod nn;
mod reduce;
mod shape;
mod value;

use std::sync::Mutex;

use ingot_core::Result;

use crate::program::{MpsOp, MpsProgram, TensorId};
use crate::runtime::{Completion, Runtime};
use value::sim_error;
pub use value::{Data, Value};

/// A compiled program: the order in which results can be dropped.
pub struct Plan {
    /// For each call, the tensors whose last reader it is.
    frees_after: Vec<Vec<TensorId>>,
}

/// Checks a program and plans when each result can be freed.
pub fn plan(program: &MpsProgram) -> Result<Plan> {
    let mut last = vec![None; program.nodes.len()];
    for (i, node) in program.nodes.iter().enumerate() {
        for a in node.op.operands() {
            if a >= i {
                return Err(sim_error(format!(
                    "call %{i} reads %{a}, which is not computed before it"
                )));
            }
            last[a] = Some(i);
        }
        if let MpsOp::Placeholder { index } = node.op
            && program.feeds.get(index) != Some(&node.ty)
        {
            return Err(sim_error(format!(
                "placeholder %{i} does not match feed {index}"
            )));
        }
    }
    for &t in &program.targets {
        last[t] = None;
    }
    let mut frees_after = vec![Vec::new(); program.nodes.len()];
    for (t, l) in last.iter().enumerate() {
        if let Some(l) = l {
            frees_after[*l].push(t);
        }
    }
    Ok(Plan { frees_after })
}

/// Runs one call.
fn call(
    op: &MpsOp,
    ty: &crate::program::MpsType,
    values: &[Option<Value>],
    feeds: &mut [Option<Value>],
) -> Result<Value> {
    let get = |t: TensorId| {
        values[t]
            .as_ref()
            .ok_or_else(|| sim_error(format!("%{t} was freed too early")))
    };
    Ok(match op {
        MpsOp::Placeholder { index } => feeds[*index]
            .take()
            .ok_or_else(|| sim_error(format!("feed {index} read twice")))?,
        MpsOp::Constant { scalar } => elementwise::constant(*scalar, ty),
        MpsOp::CoordinateAlongAxis { axis } => elementwise::coordinate(*axis, ty),
        MpsOp::Unary { op, tensor } => elementwise::unary(*op, get(*tensor)?)?,
        MpsOp::Binary {
            op,
            primary,
            secondary,
        } => elementwise::binary(*op, get(*primary)?, get(*secondary)?, ty)?,
        MpsOp::Cast { tensor } => elementwise::cast(get(*tensor)?, ty.dtype),
        MpsOp::ReinterpretCast { tensor } => elementwise::reinterpret(get(*tensor)?, ty.dtype)?,
        MpsOp::Select {
            predicate,
            true_tensor,
            false_tensor,
        } => elementwise::select(
            get(*predicate)?,
            get(*true_tensor)?,
            get(*false_tensor)?,
            ty,
        )?,
        MpsOp::Reduction { op, tensor, axes } => reduce::reduction(*op, get(*tensor)?, axes, ty)?,
        MpsOp::ArgReduction { op, tensor, axis } => {
            reduce::arg_reduction(*op, get(*tensor)?, *axis, ty)?
        }
        MpsOp::Reshape { tensor } => shape::reshape(get(*tensor)?, ty)?,
        MpsOp::Transpose {
            tensor,
            permutation,
        } => shape::transpose(get(*tensor)?, permutation, ty),
        MpsOp::Broadcast { tensor } => shape::broadcast(get(*tensor)?, ty),
        MpsOp::Slice {
            tensor,
            starts,
            strides,
            ..
        } => shape::slice(get(*tensor)?, starts, strides, ty),
        MpsOp::Pad {
            tensor,
            left_padding,
            constant_value,
            ..
        } => shape::pad(get(*tensor)?, left_padding, *constant_value, ty),
        MpsOp::Concat { tensors, dimension } => {
            let parts = tensors
                .iter()
                .map(|&t| get(t))
                .collect::<Result<Vec<_>>>()?;
            shape::concat(&parts, *dimension, ty)?
        }
        MpsOp::GatherAlongAxis {
            axis,
            updates,
            indices,
        } => shape::gather_along_axis(*axis, get(*updates)?, get(*indices)?, ty)?,
        MpsOp::ScatterAlongAxisAdd {
            axis,
            data,
            updates,
            indices,
        } => shape::scatter_along_axis_add(*axis, get(*data)?, get(*updates)?, get(*indices)?)?,
        MpsOp::MatrixMultiplication { primary, secondary } => {
            nn::matmul(get(*primary)?, get(*secondary)?, ty)?
        }
        MpsOp::Convolution2D {
            source,
            weights,
            descriptor,
        } => nn::convolution(get(*source)?, get(*weights)?, descriptor, ty)?,
        MpsOp::Convolution2DDataGradient {
            incoming_gradient,
            weights,
            descriptor,
        } => {
            nn::convolution_data_gradient(get(*incoming_gradient)?, get(*weights)?, descriptor, ty)?
        }
        MpsOp::Convolution2DWeightsGradient {
            incoming_gradient,
            source,
            descriptor,
        } => nn::convolution_weights_gradient(
            get(*incoming_gradient)?,
            get(*source)?,
            descriptor,
            ty,
        )?,
        MpsOp::MaxPooling2D { source, descriptor } => nn::max_pool(get(*source)?, descriptor, ty)?,
        MpsOp::MaxPooling2DGradient {
            gradient,
            source,
            descriptor,
        } => nn::max_pool_gradient(get(*gradient)?, get(*source)?, descriptor)?,
        MpsOp::AvgPooling2D { source, descriptor } => nn::avg_pool(get(*source)?, descriptor, ty)?,
        MpsOp::AvgPooling2DGradient {
            gradient,
            source,
            descriptor,
        } => nn::avg_pool_gradient(get(*gradient)?, &get(*source)?.ty, descriptor)?,
        MpsOp::SoftMax { tensor, axis } => reduce::softmax(get(*tensor)?, *axis)?,
    })
}

/// Runs `program` on `feeds` (one per placeholder) and returns its targets.
///
/// ```
/// use ingot_metal::program::{MpsDataType, MpsNode, MpsOp, MpsProgram, MpsType, MpsUnary};
/// use ingot_metal::sim::{self, Data, Value};
/// let ty = MpsType { shape: vec![2], dtype: MpsDataType::Float32 };
/// let program = MpsProgram {
///     feeds: vec![ty.clone()],
///     nodes: vec![
///         MpsNode { op: MpsOp::Placeholder { index: 0 }, ty: ty.clone() },
///         MpsNode { op: MpsOp::Unary { op: MpsUnary::Negative, tensor: 0 }, ty: ty.clone() },
///     ],
///     targets: vec![1],
/// };
/// let plan = sim::plan(&program)?;
/// let out = sim::execute(&program, &plan, vec![Value::new(ty, Data::F(vec![1.0, -2.0]))])?;
/// assert_eq!(out[0].data, Data::F(vec![-1.0, 2.0]));
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn execute(program: &MpsProgram, plan: &Plan, feeds: Vec<Value>) -> Result<Vec<Value>> {
    if feeds.len() != program.feeds.len() {
        return Err(sim_error(format!(
            "{} feeds for {} placeholders",
            feeds.len(),
            program.feeds.len()
        )));
    }
    let mut feeds: Vec<Option<Value>> = feeds.into_iter().map(Some).collect();
    let mut values: Vec<Option<Value>> = vec![None; program.nodes.len()];
    for (i, node) in program.nodes.iter().enumerate() {
        let v = call(&node.op, &node.ty, &values, &mut feeds)?;
        if v.ty != node.ty || v.numel() != node.ty.numel() {
            return Err(sim_error(format!(
                "call %{i} ({}) made {:?} {:?} with {} elements, the program says {:?} {:?}",
                node.op.method(),
                v.ty.shape,
                v.ty.dtype,
                v.numel(),
                node.ty.shape,
                node.ty.dtype
            )));
        }
        values[i] = Some(v);
        for &t in &plan.frees_after[i] {
            values[t] = None;
        }
    }
    program
        .targets
        .iter()
        .map(|&t| {
            values[t]
                .clone()
                .ok_or_else(|| sim_error(format!("target %{t} missing")))
        })
        .collect()
}

/// The simulated device: host memory standing in for `MTLBuffer`s, and
/// [`execute`] standing in for `MPSGraphExecutable`.
pub struct Simulator {
    working_set: u64,
}

impl Simulator {
    /// A simulated GPU whose recommended working set is `working_set` bytes.
    pub fn new(working_set: u64) -> Simulator {
        Simulator { working_set }
    }
}

impl Runtime for Simulator {
    type Memory = Mutex<Vec<u8>>;
    type Compiled = Plan;

    fn location(&self) -> String {
        "metal-sim".into()
    }

    fn working_set_size(&self) -> u64 {
        self.working_set
    }

    fn allocate(&self, bytes: usize) -> Result<Self::Memory> {
        Ok(Mutex::new(vec![0; bytes]))
    }

    fn write(&self, memory: &Self::Memory, bytes: &[u8]) {
        memory.lock().unwrap_or_else(|e| e.into_inner())[..bytes.len()].copy_from_slice(bytes);
    }

    fn read(&self, memory: &Self::Memory, len: usize) -> Vec<u8> {
        memory.lock().unwrap_or_else(|e| e.into_inner())[..len].to_vec()
    }

    fn compile(&self, program: &MpsProgram) -> Result<Plan> {
        plan(program)
    }

    fn submit(
        &self,
        compiled: &Plan,
        program: &MpsProgram,
        inputs: &[&Self::Memory],
        outputs: &[&Self::Memory],
        done: Completion,
    ) {
        let run = || -> Result<()> {
            let feeds = program
                .feeds
                .iter()
                .zip(inputs)
                .map(|(ty, m)| Value::from_bytes(ty, &m.lock().unwrap_or_else(|e| e.into_inner())))
                .collect::<Result<Vec<_>>>()?;
            let results = execute(program, compiled, feeds)?;
            for (v, m) in results.iter().zip(outputs) {
                v.write_bytes(&mut m.lock().unwrap_or_else(|e| e.into_inner()))?;
            }
            Ok(())
        };
        done(run());
    }
}
