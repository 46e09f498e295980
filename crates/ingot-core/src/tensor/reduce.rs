//! Reductions. Dimensions are `isize` (negative counts from the end); an
//! empty list reduces over every dimension, as in PyTorch. Sums and products
//! of integers and bools are `I64`.

use crate::ir::{ArgReduceOp, Op, ReduceOp};
use crate::shape::{normalize_dim, normalize_dims};
use crate::{DType, Error, Result, Tensor};

impl Tensor {
    /// Normalized reduction axes and the output shape.
    fn reduction(
        &self,
        op: &'static str,
        dims: &[isize],
        keepdim: bool,
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        let axes = if dims.is_empty() {
            (0..self.dim()).collect()
        } else {
            normalize_dims(op, dims, self.dim())?
        };
        let shape = self
            .shape()
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (axes.contains(&i), keepdim) {
                (false, _) => Some(d),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect();
        Ok((axes, shape))
    }

    fn reduce(
        &self,
        op: ReduceOp,
        name: &'static str,
        dims: &[isize],
        keepdim: bool,
    ) -> Result<Tensor> {
        let (axes, shape) = self.reduction(name, dims, keepdim)?;
        let x = match op {
            ReduceOp::Sum | ReduceOp::Prod if !self.dtype().is_float() => {
                self.to_dtype(DType::I64)?
            }
            _ => self.clone(),
        };
        if matches!(op, ReduceOp::Max | ReduceOp::Min)
            && let Some(&a) = axes.iter().find(|&&a| self.shape()[a] == 0)
        {
            return Err(Error::shape(
                name,
                format!(
                    "cannot reduce over dimension {a} of size 0 (shape {:?})",
                    self.shape()
                ),
            ));
        }
        if axes.is_empty() {
            return x.reshape_to(&shape);
        }
        let dtype = x.dtype();
        x.unary_op(Op::Reduce { op, axes, keepdim }, shape, dtype)
    }

    /// Sum over `dims`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.sum(&[0], false)?.to_vec::<f32>()?, vec![4.0, 6.0]);
    /// assert_eq!(t.sum(&[-1], true)?.shape(), &[2, 1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn sum(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, "sum", dims, keepdim)
    }

    /// Mean over `dims` (float tensors only).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.mean(&[1], false)?.to_vec::<f32>()?, vec![1.5, 3.5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn mean(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                "mean",
                format!("input dtype must be a float, got {}", self.dtype()),
            ));
        }
        let (axes, _) = self.reduction("mean", dims, keepdim)?;
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        self.sum(dims, keepdim)?.div_scalar(n as f64)
    }

    /// Maximum over `dims` (NaN propagates; gradients are shared among ties,
    /// like `torch.amax`).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1i32, 5, 3, 4], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.max(&[1], false)?.to_vec::<i32>()?, vec![5, 4]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn max(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, "max", dims, keepdim)
    }

    /// Minimum over `dims` (NaN propagates).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1i32, 5, 3, 4], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.min(&[0], false)?.to_vec::<i32>()?, vec![1, 4]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn min(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, "min", dims, keepdim)
    }

    /// Product over `dims`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.prod(&[], false)?.item::<f64>()?, 24.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn prod(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Prod, "prod", dims, keepdim)
    }

    /// `log(sum(exp(x)))` over `dims`, computed stably.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1000.0f64, 1000.0], &[2], &Device::cpu())?;
    /// let v = t.logsumexp(&[0], false)?.item::<f64>()?;
    /// assert!((v - (1000.0 + 2f64.ln())).abs() < 1e-9);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        let x = if self.dtype().is_float() {
            self.clone()
        } else {
            self.to_dtype(DType::F32)?
        };
        let m = x.max(dims, true)?.detach();
        // Rows of +-inf shift by 0 so that inf - inf gives no NaN.
        let infinite = m.abs()?.eq(&m.full_like(f64::INFINITY)?)?;
        let shift = Tensor::where_cond(&infinite, &m.zeros_like()?, &m)?;
        let lse = x.sub(&shift)?.exp()?.sum(dims, true)?.log()?.add(&shift)?;
        if keepdim {
            Ok(lse)
        } else {
            let (_, shape) = self.reduction("logsumexp", dims, false)?;
            lse.reshape_to(&shape)
        }
    }

    /// Variance over `dims`, with Bessel's correction when `unbiased`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[4], &Device::cpu())?;
    /// assert!((t.var(&[0], true, false)?.item::<f64>()? - 5.0 / 3.0).abs() < 1e-12);
    /// assert_eq!(t.var(&[0], false, false)?.item::<f64>()?, 1.25);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn var(&self, dims: &[isize], unbiased: bool, keepdim: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                "var",
                format!("input dtype must be a float, got {}", self.dtype()),
            ));
        }
        let (axes, _) = self.reduction("var", dims, keepdim)?;
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        let centered = self.sub(&self.mean(dims, true)?)?;
        let denom = n as f64 - if unbiased { 1.0 } else { 0.0 };
        centered
            .mul(&centered)?
            .sum(dims, keepdim)?
            .div_scalar(denom)
    }

    /// Standard deviation over `dims`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f64, 3.0], &[2], &Device::cpu())?;
    /// assert_eq!(t.std(&[0], false, false)?.item::<f64>()?, 1.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn std(&self, dims: &[isize], unbiased: bool, keepdim: bool) -> Result<Tensor> {
        self.var(dims, unbiased, keepdim)?.sqrt()
    }

    /// Sum of all elements, as a scalar tensor.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::ones(&[2, 3], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.sum_all()?.item::<f32>()?, 6.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&[], false)
    }

    /// Mean of all elements, as a scalar tensor.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(t.mean_all()?.item::<f32>()?, 1.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&[], false)
    }

    fn arg_reduce(
        &self,
        op: ArgReduceOp,
        name: &'static str,
        dim: isize,
        keepdim: bool,
    ) -> Result<Tensor> {
        let axis = normalize_dim(name, dim, self.dim())?;
        if self.dim() == 0 {
            return Tensor::zeros(&[], DType::I64, self.device());
        }
        if self.shape()[axis] == 0 {
            return Err(Error::shape(
                name,
                format!("cannot reduce over dimension {axis} of size 0"),
            ));
        }
        let (_, shape) = self.reduction(name, &[dim], keepdim)?;
        self.unary_op(Op::ArgReduce { op, axis, keepdim }, shape, DType::I64)
    }

    /// Index of the maximum along `dim` (first occurrence; NaN counts as
    /// the maximum), as `I64`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 5.0, 5.0, 0.0], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.argmax(1, false)?.to_vec::<i64>()?, vec![1, 0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce(ArgReduceOp::ArgMax, "argmax", dim, keepdim)
    }

    /// Index of the minimum along `dim` (first occurrence), as `I64`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 5.0, 5.0, 0.0], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.argmin(0, true)?.to_vec::<i64>()?, vec![0, 1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Result<Tensor> {
        self.arg_reduce(ArgReduceOp::ArgMin, "argmin", dim, keepdim)
    }
}
