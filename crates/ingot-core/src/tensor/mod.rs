//! [`Tensor`]: a cheap handle to a lazy node of the computation graph.
//!
//! A node is *ready* (it holds a backend buffer) or *pending* (it holds the
//! op that will compute it and that op's argument tensors). Building an op only
//! checks and infers the result type; [`crate::eval`] computes pending nodes.
//! The op methods live in the sibling modules, grouped by kind.

mod create;
mod display;
mod elementwise;
mod index;
mod movement;
mod nn_ops;
mod reduce;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::Buffer;
use crate::ir::{Op, TensorType};
use crate::{DType, Device, Element, Error, Result};

/// An n-dimensional array on a [`Device`], with autograd.
///
/// Cloning a `Tensor` clones the handle, not the data. Ops are lazy: they
/// return at once with the result's shape and dtype, and the values are
/// computed when something reads them (or at [`crate::eval`]), as one
/// compiled graph.
///
/// ```
/// use ingot::{Device, Tensor};
/// let dev = Device::cpu();
/// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2], &dev)?;
/// let b = a.matmul(&a)?.relu()?;
/// assert_eq!(b.shape(), &[2, 2]);
/// assert_eq!(b.to_vec::<f32>()?, vec![7.0, 10.0, 15.0, 22.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorNode>);

pub(crate) struct TensorNode {
    pub(crate) ty: TensorType,
    pub(crate) device: Device,
    pub(crate) state: Mutex<State>,
    /// How to differentiate this node; `None` for leaves and constants.
    pub(crate) grad_fn: Mutex<Option<GradFn>>,
    /// Set by `requires_grad_` on leaves.
    pub(crate) leaf_requires_grad: AtomicBool,
    /// Set when `backward` has released this node's graph.
    pub(crate) graph_released: AtomicBool,
    /// Accumulated gradient of a leaf.
    pub(crate) grad: Mutex<Option<Tensor>>,
}

/// Whether a node has its value yet.
pub(crate) enum State {
    Ready(Buffer),
    Pending(Arc<PendingOp>),
}

/// An IR op and its arguments, waiting to be evaluated.
pub(crate) struct PendingOp {
    pub(crate) op: Op,
    pub(crate) args: Vec<Tensor>,
}

/// The autograd edge of a node.
#[derive(Clone)]
pub(crate) enum GradFn {
    /// Produced by an IR op; shares the `PendingOp` with the node's state.
    Op(Arc<PendingOp>),
    /// Copied from another device by `to_device`.
    Transfer(Tensor),
}

impl GradFn {
    pub(crate) fn inputs(&self) -> Vec<Tensor> {
        match self {
            GradFn::Op(p) => p.args.clone(),
            GradFn::Transfer(t) => vec![t.clone()],
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TensorNode {
    /// Moves every tensor this node holds into `out`, so that dropping a long
    /// chain of pending nodes is a loop, not a deep recursion.
    fn take_children(&mut self, out: &mut Vec<Tensor>) {
        // The grad_fn goes first: it may share the `PendingOp` with the state,
        // which is then unique and can give up its arguments.
        match self
            .grad_fn
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(GradFn::Op(p)) => {
                if let Ok(p) = Arc::try_unwrap(p) {
                    out.extend(p.args);
                }
            }
            Some(GradFn::Transfer(t)) => out.push(t),
            None => {}
        }
        if let State::Pending(p) = self.state.get_mut().unwrap_or_else(|e| e.into_inner())
            && let Some(p) = Arc::get_mut(p)
        {
            out.append(&mut p.args);
        }
        out.extend(
            self.grad
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
    }
}

impl Drop for TensorNode {
    fn drop(&mut self) {
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(t) = stack.pop() {
            if let Ok(mut node) = Arc::try_unwrap(t.0) {
                node.take_children(&mut stack);
            }
        }
    }
}

impl Tensor {
    /// A ready tensor over an existing backend buffer (for backend crates).
    ///
    /// ```
    /// use ingot::{Device, HostData, Tensor};
    /// let dev = Device::cpu();
    /// let buf = dev.backend().upload(HostData::from(vec![1i64, 2]))?;
    /// let t = Tensor::from_buffer(buf, &[2], ingot::DType::I64, &dev);
    /// assert_eq!(t.to_vec::<i64>()?, vec![1, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn from_buffer(buffer: Buffer, shape: &[usize], dtype: DType, device: &Device) -> Tensor {
        Tensor::new_node(
            TensorType {
                shape: shape.to_vec(),
                dtype,
            },
            device.clone(),
            State::Ready(buffer),
            None,
        )
    }

    fn new_node(ty: TensorType, device: Device, state: State, grad_fn: Option<GradFn>) -> Tensor {
        Tensor(Arc::new(TensorNode {
            ty,
            device,
            state: Mutex::new(state),
            grad_fn: Mutex::new(grad_fn),
            leaf_requires_grad: AtomicBool::new(false),
            graph_released: AtomicBool::new(false),
            grad: Mutex::new(None),
        }))
    }

    /// Records a pending op. `args` must all be on `device` (callers check).
    /// Records the autograd edge when gradients are on, the result is a float
    /// and an argument requires grad; evaluates at once in eager mode.
    pub(crate) fn from_op(
        op: Op,
        args: Vec<Tensor>,
        shape: Vec<usize>,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        crate::shape::check_size(op.name(), &shape, dtype)?;
        let differentiable = dtype.is_float()
            && crate::grad_mode::is_grad_enabled()
            && args.iter().any(Tensor::requires_grad);
        let pending = Arc::new(PendingOp { op, args });
        let grad_fn = differentiable.then(|| GradFn::Op(pending.clone()));
        let t = Tensor::new_node(
            TensorType { shape, dtype },
            device.clone(),
            State::Pending(pending),
            grad_fn,
        );
        if crate::grad_mode::is_eager() {
            crate::eval(&[&t])?;
        }
        Ok(t)
    }

    /// An op of one argument whose result lives on the argument's device.
    pub(crate) fn unary_op(&self, op: Op, shape: Vec<usize>, dtype: DType) -> Result<Tensor> {
        Tensor::from_op(op, vec![self.clone()], shape, dtype, &self.0.device)
    }

    /// Checks that all tensors are on one device and returns it.
    pub(crate) fn same_device<'a>(op: &'static str, tensors: &[&'a Tensor]) -> Result<&'a Device> {
        let first = &tensors[0].0.device;
        for t in &tensors[1..] {
            if t.0.device != *first {
                return Err(Error::DeviceMismatch {
                    op,
                    lhs: first.location().to_string(),
                    rhs: t.0.device.location().to_string(),
                });
            }
        }
        Ok(first)
    }

    /// The shape.
    ///
    /// ```
    /// let t = ingot::Tensor::zeros(&[2, 3], ingot::DType::F32, &ingot::Device::cpu())?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn shape(&self) -> &[usize] {
        &self.0.ty.shape
    }

    /// The element type.
    ///
    /// ```
    /// let t = ingot::Tensor::zeros(&[2], ingot::DType::BF16, &ingot::Device::cpu())?;
    /// assert_eq!(t.dtype(), ingot::DType::BF16);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn dtype(&self) -> DType {
        self.0.ty.dtype
    }

    /// The device holding the tensor.
    ///
    /// ```
    /// let t = ingot::Tensor::zeros(&[2], ingot::DType::F32, &ingot::Device::cpu())?;
    /// assert_eq!(t.device(), &ingot::Device::cpu());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn device(&self) -> &Device {
        &self.0.device
    }

    /// Number of elements.
    ///
    /// ```
    /// let t = ingot::Tensor::zeros(&[2, 3], ingot::DType::F32, &ingot::Device::cpu())?;
    /// assert_eq!(t.numel(), 6);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn numel(&self) -> usize {
        self.0.ty.numel()
    }

    /// Number of dimensions.
    ///
    /// ```
    /// let t = ingot::Tensor::zeros(&[2, 3], ingot::DType::F32, &ingot::Device::cpu())?;
    /// assert_eq!(t.dim(), 2);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn dim(&self) -> usize {
        self.0.ty.shape.len()
    }

    pub(crate) fn ty(&self) -> &TensorType {
        &self.0.ty
    }

    /// Whether the value has been computed.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let x = Tensor::ones(&[2], DType::F32, &Device::cpu())?.exp()?;
    /// assert!(!x.is_evaluated());
    /// ingot::eval(&[&x])?;
    /// assert!(x.is_evaluated());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn is_evaluated(&self) -> bool {
        matches!(*lock(&self.0.state), State::Ready(_))
    }

    /// The backend buffer, evaluating first if needed.
    ///
    /// ```
    /// let t = ingot::Tensor::ones(&[2], ingot::DType::F32, &ingot::Device::cpu())?;
    /// let _buffer = t.buffer()?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn buffer(&self) -> Result<Buffer> {
        if let State::Ready(b) = &*lock(&self.0.state) {
            return Ok(b.clone());
        }
        crate::eval(&[self])?;
        match &*lock(&self.0.state) {
            State::Ready(b) => Ok(b.clone()),
            State::Pending(_) => Err(Error::Backend {
                backend: self.0.device.location().to_string(),
                msg: "evaluation left the tensor pending".into(),
            }),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.0.state)
    }

    /// The values in row-major order, converted to `T` (evaluates).
    ///
    /// ```
    /// let t = ingot::Tensor::arange(0.0, 3.0, 1.0, ingot::DType::I64, &ingot::Device::cpu())?;
    /// assert_eq!(t.to_vec::<i64>()?, vec![0, 1, 2]);
    /// assert_eq!(t.to_vec::<f32>()?, vec![0.0, 1.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(self.to_host()?.into_vec())
    }

    /// The values as [`crate::HostData`] of the tensor's own dtype (evaluates).
    ///
    /// ```
    /// let t = ingot::Tensor::ones(&[2], ingot::DType::U8, &ingot::Device::cpu())?;
    /// assert_eq!(t.to_host()?, ingot::HostData::from(vec![1u8, 1]));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn to_host(&self) -> Result<crate::HostData> {
        let buffer = self.buffer()?;
        self.0.device.backend().download(&buffer, &self.0.ty)
    }

    /// The value of a one-element tensor (evaluates).
    ///
    /// ```
    /// let t = ingot::Tensor::full(&[1, 1], 2.5, ingot::DType::F32, &ingot::Device::cpu())?;
    /// assert_eq!(t.item::<f32>()?, 2.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::shape(
                "item",
                format!(
                    "a tensor with {} elements (shape {:?}) cannot be converted to a scalar",
                    self.numel(),
                    self.shape()
                ),
            ));
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// Marks a leaf tensor as requiring gradients (in place, like PyTorch) and
    /// returns it. Only float tensors can require gradients: on other dtypes
    /// the flag stays off. On a tensor computed from others (a non-leaf) this
    /// changes nothing; use [`Tensor::detach`] to cut it from the graph.
    ///
    /// ```
    /// let w = ingot::Tensor::ones(&[2], ingot::DType::F32, &ingot::Device::cpu())?.requires_grad_(true);
    /// assert!(w.requires_grad());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn requires_grad_(&self, requires_grad: bool) -> Tensor {
        if self.is_leaf() {
            self.0
                .leaf_requires_grad
                .store(requires_grad && self.dtype().is_float(), Ordering::Relaxed);
        }
        self.clone()
    }

    /// Whether gradients flow to or through this tensor.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let w = Tensor::ones(&[2], DType::F32, &Device::cpu())?.requires_grad_(true);
    /// assert!(w.exp()?.requires_grad());
    /// assert!(!ingot::no_grad(|| w.exp())?.requires_grad());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn requires_grad(&self) -> bool {
        self.0.leaf_requires_grad.load(Ordering::Relaxed) || lock(&self.0.grad_fn).is_some()
    }

    /// Whether this is a leaf of the autograd graph (not computed from a tensor
    /// that requires grad).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let w = Tensor::ones(&[2], DType::F32, &Device::cpu())?.requires_grad_(true);
    /// assert!(w.is_leaf());
    /// assert!(!w.mul_scalar(2.0)?.is_leaf());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn is_leaf(&self) -> bool {
        lock(&self.0.grad_fn).is_none() && !self.0.graph_released.load(Ordering::Relaxed)
    }

    pub(crate) fn grad_fn(&self) -> Option<GradFn> {
        lock(&self.0.grad_fn).clone()
    }

    pub(crate) fn release_graph(&self) {
        if lock(&self.0.grad_fn).take().is_some() {
            self.0.graph_released.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn graph_released(&self) -> bool {
        self.0.graph_released.load(Ordering::Relaxed)
    }

    /// The gradient accumulated by [`Tensor::backward`], if any.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let w = Tensor::full(&[2], 3.0, DType::F32, &Device::cpu())?.requires_grad_(true);
    /// w.mul(&w)?.sum_all()?.backward()?;
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![6.0, 6.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn grad(&self) -> Option<Tensor> {
        lock(&self.0.grad).clone()
    }

    /// Replaces the accumulated gradient (what optimizers and gradient
    /// clipping do); `None` clears it.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let w = Tensor::ones(&[2], DType::F32, &Device::cpu())?.requires_grad_(true);
    /// w.set_grad(Some(Tensor::full(&[2], 0.5, DType::F32, &Device::cpu())?));
    /// assert_eq!(w.grad().unwrap().to_vec::<f32>()?, vec![0.5, 0.5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn set_grad(&self, grad: Option<Tensor>) {
        *lock(&self.0.grad) = grad;
    }

    /// Clears the accumulated gradient (sets it to `None`, like PyTorch's
    /// default `set_to_none=True`).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let w = Tensor::ones(&[2], DType::F32, &Device::cpu())?.requires_grad_(true);
    /// w.sum_all()?.backward()?;
    /// w.zero_grad();
    /// assert!(w.grad().is_none());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn zero_grad(&self) {
        self.set_grad(None);
    }

    /// The same values, cut from the autograd graph (shares the data).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let w = Tensor::ones(&[2], DType::F32, &Device::cpu())?.requires_grad_(true);
    /// let d = w.exp()?.detach();
    /// assert!(!d.requires_grad());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn detach(&self) -> Tensor {
        let state = match &*self.state() {
            State::Ready(b) => State::Ready(b.clone()),
            State::Pending(_) => State::Pending(Arc::new(PendingOp {
                op: Op::Reshape,
                args: vec![self.clone()],
            })),
        };
        let t = Tensor::new_node(self.0.ty.clone(), self.0.device.clone(), state, None);
        if crate::grad_mode::is_eager() {
            // Eager mode keeps every tensor ready; a failure here would have
            // surfaced when `self` was built.
            let _ = crate::eval(&[&t]);
        }
        t
    }

    /// Whether two handles point at the same node.
    ///
    /// ```
    /// let a = ingot::Tensor::zeros(&[1], ingot::DType::F32, &ingot::Device::cpu())?;
    /// assert!(a.same_node(&a.clone()));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn same_node(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn node_ptr(&self) -> *const TensorNode {
        Arc::as_ptr(&self.0)
    }

    /// Copies the tensor to another device (evaluates it first). Gradients
    /// flow back to the source device.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::ones(&[2], DType::F32, &Device::cpu())?;
    /// let u = t.to_device(&Device::cpu())?;
    /// assert!(u.same_node(&t));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if *device == self.0.device {
            return Ok(self.clone());
        }
        let host = self.to_host()?;
        let buffer = device.backend().upload(host)?;
        let grad_fn = (crate::grad_mode::is_grad_enabled() && self.requires_grad())
            .then(|| GradFn::Transfer(self.clone()));
        Ok(Tensor::new_node(
            self.0.ty.clone(),
            device.clone(),
            State::Ready(buffer),
            grad_fn,
        ))
    }
}
