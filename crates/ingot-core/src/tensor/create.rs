//! Creating tensors: from host data, constants, ranges and random draws.
//! Constants and ranges are lazy graph leaves: they cost no memory until a
//! kernel that is not fused with them needs them.

use crate::ir::{Literal, Op, RandDist};
use crate::{DType, Device, Element, Error, HostData, Result, Tensor, rng};

impl Tensor {
    /// A tensor holding `data` (row-major) with `shape`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1u8, 2, 3, 4, 5, 6], &[2, 3], &Device::cpu())?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// assert!(Tensor::from_vec(vec![1.0f32; 5], &[2, 3], &Device::cpu()).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize], device: &Device) -> Result<Tensor> {
        Tensor::from_host(T::into_host(data), shape, device)
    }

    /// A tensor holding host data of any dtype.
    ///
    /// ```
    /// use ingot::{Device, HostData, Tensor};
    /// let t = Tensor::from_host(HostData::from(vec![1i32, 2]), &[2], &Device::cpu())?;
    /// assert_eq!(t.dtype(), ingot::DType::I32);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn from_host(data: HostData, shape: &[usize], device: &Device) -> Result<Tensor> {
        let n = crate::shape::check_size("from_vec", shape, data.dtype())?;
        if data.len() != n {
            return Err(Error::shape(
                "from_vec",
                format!(
                    "{} values cannot fill shape {:?} ({} elements)",
                    data.len(),
                    shape,
                    n
                ),
            ));
        }
        let dtype = data.dtype();
        let buffer = device.backend().upload(data)?;
        Ok(Tensor::from_buffer(buffer, shape, dtype, device))
    }

    /// A tensor filled with `value` (converted to `dtype`).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::full(&[2], 1.5, DType::F64, &Device::cpu())?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![1.5, 1.5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn full(shape: &[usize], value: f64, dtype: DType, device: &Device) -> Result<Tensor> {
        crate::shape::check_size("full", shape, dtype)?;
        Tensor::from_op(
            Op::Const(Literal(value)),
            Vec::new(),
            shape.to_vec(),
            dtype,
            device,
        )
    }

    /// A tensor of zeros.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// assert_eq!(Tensor::zeros(&[2], DType::I64, &Device::cpu())?.to_vec::<i64>()?, vec![0, 0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn zeros(shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype, device)
    }

    /// A tensor of ones.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// assert_eq!(Tensor::ones(&[2], DType::Bool, &Device::cpu())?.to_vec::<bool>()?, vec![true, true]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn ones(shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::full(shape, 1.0, dtype, device)
    }

    /// Zeros with the shape, dtype and device of `self`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::ones(&[3], DType::F16, &Device::cpu())?;
    /// assert_eq!(t.zeros_like()?.dtype(), DType::F16);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn zeros_like(&self) -> Result<Tensor> {
        self.full_like(0.0)
    }

    /// Ones with the shape, dtype and device of `self`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.ones_like()?.to_vec::<f32>()?, vec![1.0, 1.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn ones_like(&self) -> Result<Tensor> {
        self.full_like(1.0)
    }

    /// `value` everywhere, with the shape, dtype and device of `self`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.full_like(7.0)?.to_vec::<f32>()?, vec![7.0, 7.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn full_like(&self, value: f64) -> Result<Tensor> {
        Tensor::full(self.shape(), value, self.dtype(), self.device())
    }

    /// `start, start + step, ...` up to but excluding `end`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::arange(0.0, 1.0, 0.25, DType::F32, &Device::cpu())?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![0.0, 0.25, 0.5, 0.75]);
    /// assert!(Tensor::arange(0.0, 1.0, -1.0, DType::F32, &Device::cpu()).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn arange(
        start: f64,
        end: f64,
        step: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("start {start}, end {end} and step {step} must be finite, step nonzero"),
            ));
        }
        if (end - start) * step < 0.0 {
            return Err(Error::invalid(
                "arange",
                format!("step {step} does not lead from {start} to {end}"),
            ));
        }
        let n = ((end - start) / step).ceil();
        if n >= usize::MAX as f64 {
            return Err(Error::shape(
                "arange",
                format!("{start}..{end} by {step} has too many elements ({n})"),
            ));
        }
        let n = n as usize;
        crate::shape::check_size("arange", &[n], dtype)?;
        Tensor::from_op(
            Op::Arange {
                start: Literal(start),
                step: Literal(step),
            },
            Vec::new(),
            vec![n],
            dtype,
            device,
        )
    }

    /// The `n x n` identity matrix.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::eye(2, DType::I64, &Device::cpu())?;
    /// assert_eq!(t.to_vec::<i64>()?, vec![1, 0, 0, 1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn eye(n: usize, dtype: DType, device: &Device) -> Result<Tensor> {
        let i = Tensor::arange(0.0, n as f64, 1.0, DType::I64, device)?;
        i.unsqueeze(1)?.eq(&i.unsqueeze(0)?)?.to_dtype(dtype)
    }

    /// Uniform random numbers in `[0, 1)` from the global generator (see
    /// [`crate::manual_seed`]); `dtype` must be a float.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::rand(&[1000], DType::F32, &Device::cpu())?;
    /// let v = t.to_vec::<f32>()?;
    /// assert!(v.iter().all(|&x| (0.0..1.0).contains(&x)));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn rand(shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::random(RandDist::Uniform, shape, dtype, device)
    }

    /// Standard normal random numbers from the global generator; `dtype`
    /// must be a float.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::randn(&[10000], DType::F64, &Device::cpu())?;
    /// let mean = t.mean_all()?.item::<f64>()?;
    /// assert!(mean.abs() < 0.05);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn randn(shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        Tensor::random(RandDist::Normal, shape, dtype, device)
    }

    fn random(dist: RandDist, shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        let name = if dist == RandDist::Uniform {
            "rand"
        } else {
            "randn"
        };
        if !dtype.is_float() {
            return Err(Error::dtype(
                name,
                format!("random numbers need a float dtype, got {dtype}"),
            ));
        }
        let n = crate::shape::check_size(name, shape, dtype)?;
        let (seed, offset) = rng::reserve(n, dtype);
        let state = Tensor::from_vec(vec![seed as i64, offset as i64], &[2], device)?;
        Tensor::from_op(Op::Rand(dist), vec![state], shape.to_vec(), dtype, device)
    }
}
