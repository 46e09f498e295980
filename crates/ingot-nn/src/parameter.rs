//! [`Parameter`] and [`Buffer`]: named, shared, swappable slots holding the
//! tensors of a module.
//!
//! An optimizer step builds new values lazily and swaps them into the slots;
//! every clone of a slot sees the new value, so the model and the optimizer
//! always agree on the current weights.

use std::sync::{Arc, Mutex, MutexGuard};

use ingot_core::{DType, Device, Tensor};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Slot {
    name: String,
    tensor: Mutex<Tensor>,
}

/// A trainable tensor: a shared slot whose value requires grad.
///
/// ```
/// use ingot::nn::Parameter;
/// use ingot::{DType, Device, Tensor};
/// let p = Parameter::new("weight", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
/// let alias = p.clone();
/// p.set(Tensor::ones(&[2], DType::F32, &Device::cpu())?);
/// assert_eq!(alias.tensor().to_vec::<f32>()?, vec![1.0, 1.0]);
/// assert!(alias.tensor().requires_grad());
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone)]
pub struct Parameter(Arc<Slot>);

impl Parameter {
    /// A parameter named `name` (its local name in its module, such as
    /// `weight`) holding `tensor`, which is marked as requiring grad.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("bias", Tensor::zeros(&[3], DType::F32, &Device::cpu())?);
    /// assert_eq!(p.name(), "bias");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Parameter {
        Parameter(Arc::new(Slot {
            name: name.into(),
            tensor: Mutex::new(tensor.detach().requires_grad_(true)),
        }))
    }

    /// The local name given at construction.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::zeros(&[1], DType::F32, &Device::cpu())?);
    /// assert_eq!(p.name(), "w");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The current value.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// assert_eq!(p.tensor().shape(), &[2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn tensor(&self) -> Tensor {
        lock(&self.0.tensor).clone()
    }

    /// Replaces the value (detached from any graph, marked as requiring
    /// grad). The gradient accumulated so far moves to the new value, as an
    /// in-place update keeps it in PyTorch.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// p.tensor().sum_all()?.backward()?;
    /// p.set(p.tensor().mul_scalar(2.0)?);
    /// assert!(p.grad().is_some());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn set(&self, value: Tensor) {
        let mut slot = lock(&self.0.tensor);
        let grad = slot.grad();
        let new = value.detach().requires_grad_(true);
        new.set_grad(grad);
        *slot = new;
    }

    /// The accumulated gradient of the current value.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// assert!(p.grad().is_none());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn grad(&self) -> Option<Tensor> {
        lock(&self.0.tensor).grad()
    }

    /// Replaces the accumulated gradient (`None` clears it).
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// p.set_grad(Some(Tensor::ones(&[2], DType::F32, &Device::cpu())?));
    /// assert!(p.grad().is_some());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn set_grad(&self, grad: Option<Tensor>) {
        lock(&self.0.tensor).set_grad(grad);
    }

    /// Clears the gradient.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// p.tensor().sum_all()?.backward()?;
    /// p.zero_grad();
    /// assert!(p.grad().is_none());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn zero_grad(&self) {
        lock(&self.0.tensor).zero_grad();
    }

    /// Whether two handles share one slot.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// assert!(p.same_slot(&p.clone()));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn same_slot(&self, other: &Parameter) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The slot's identity, for sets of parameters: equal exactly when
    /// [`Parameter::same_slot`] is.
    pub(crate) fn slot_id(&self) -> *const () {
        Arc::as_ptr(&self.0).cast()
    }

    /// Shape of the current value.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2, 3], DType::F32, &Device::cpu())?);
    /// assert_eq!(p.shape(), vec![2, 3]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn shape(&self) -> Vec<usize> {
        lock(&self.0.tensor).shape().to_vec()
    }

    /// Number of elements.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2, 3], DType::F32, &Device::cpu())?);
    /// assert_eq!(p.numel(), 6);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn numel(&self) -> usize {
        lock(&self.0.tensor).numel()
    }

    /// Dtype of the current value.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F64, &Device::cpu())?);
    /// assert_eq!(p.dtype(), DType::F64);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn dtype(&self) -> DType {
        lock(&self.0.tensor).dtype()
    }

    /// Device of the current value.
    ///
    /// ```
    /// # use ingot::{nn::Parameter, DType, Device, Tensor};
    /// let p = Parameter::new("w", Tensor::ones(&[2], DType::F32, &Device::cpu())?);
    /// assert_eq!(p.device(), Device::cpu());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn device(&self) -> Device {
        lock(&self.0.tensor).device().clone()
    }
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parameter({}, {:?})", self.name(), self.tensor())
    }
}

/// A non-trainable tensor a module keeps between calls, such as BatchNorm's
/// running statistics; saved in the state dict like a parameter.
///
/// ```
/// use ingot::nn::Buffer;
/// use ingot::{DType, Device, Tensor};
/// let b = Buffer::new("running_mean", Tensor::zeros(&[4], DType::F32, &Device::cpu())?);
/// b.set(b.tensor().add_scalar(1.0)?);
/// assert_eq!(b.tensor().to_vec::<f32>()?, vec![1.0; 4]);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone)]
pub struct Buffer(Arc<Slot>);

impl Buffer {
    /// A buffer named `name` holding `tensor` (detached).
    ///
    /// ```
    /// # use ingot::{nn::Buffer, DType, Device, Tensor};
    /// let b = Buffer::new("num_batches_tracked", Tensor::zeros(&[], DType::I64, &Device::cpu())?);
    /// assert_eq!(b.name(), "num_batches_tracked");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Buffer {
        Buffer(Arc::new(Slot {
            name: name.into(),
            tensor: Mutex::new(tensor.detach()),
        }))
    }

    /// The local name.
    ///
    /// ```
    /// # use ingot::{nn::Buffer, DType, Device, Tensor};
    /// let b = Buffer::new("b", Tensor::zeros(&[1], DType::F32, &Device::cpu())?);
    /// assert_eq!(b.name(), "b");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The current value.
    ///
    /// ```
    /// # use ingot::{nn::Buffer, DType, Device, Tensor};
    /// let b = Buffer::new("b", Tensor::zeros(&[1], DType::F32, &Device::cpu())?);
    /// assert_eq!(b.tensor().numel(), 1);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn tensor(&self) -> Tensor {
        lock(&self.0.tensor).clone()
    }

    /// Replaces the value (detached).
    ///
    /// ```
    /// # use ingot::{nn::Buffer, DType, Device, Tensor};
    /// let b = Buffer::new("b", Tensor::zeros(&[1], DType::F32, &Device::cpu())?);
    /// b.set(Tensor::ones(&[1], DType::F32, &Device::cpu())?);
    /// assert_eq!(b.tensor().item::<f32>()?, 1.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn set(&self, value: Tensor) {
        *lock(&self.0.tensor) = value.detach();
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buffer({}, {:?})", self.name(), self.tensor())
    }
}
