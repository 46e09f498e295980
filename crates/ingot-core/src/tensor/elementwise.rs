//! Elementwise ops with NumPy/PyTorch broadcasting and type promotion.
//!
//! Tensor-tensor ops promote like PyTorch ([`DType::promote`]). A scalar
//! argument (`add_scalar(2.0)`, ...) keeps the tensor's dtype when the tensor
//! is a float, or when it is an integer and the scalar is integral; otherwise
//! the result is `F32`, PyTorch's default float. Division of integers is true
//! division (result `F32`), as `torch.div`.

use crate::ir::{BinaryOp, Literal, Op, UnaryOp};
use crate::shape::broadcast_shapes;
use crate::{DType, Error, Result, Tensor};

fn integral(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0
}

impl Tensor {
    /// Converts to another dtype (float to integer truncates toward zero; to
    /// `Bool` tests `!= 0`). Returns the same tensor if the dtype matches.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.7f32, -1.7], &[2], &Device::cpu())?;
    /// assert_eq!(t.to_dtype(DType::I64)?.to_vec::<i64>()?, vec![1, -1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        self.unary_op(Op::Cast, self.shape().to_vec(), dtype)
    }

    /// Broadcasts to `shape` (adding leading axes and growing size-1 axes).
    pub(crate) fn broadcast_to(&self, shape: &[usize], op: &'static str) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let target = broadcast_shapes(op, self.shape(), shape)?;
        if target != shape {
            return Err(Error::shape(
                op,
                format!("cannot broadcast {:?} to {:?}", self.shape(), shape),
            ));
        }
        let mut t = self.clone();
        if t.dim() < shape.len() {
            let mut padded = vec![1; shape.len() - t.dim()];
            padded.extend_from_slice(t.shape());
            t = t.unary_op(Op::Reshape, padded, t.dtype())?;
        }
        if t.shape() == shape {
            return Ok(t);
        }
        t.unary_op(Op::Expand, shape.to_vec(), t.dtype())
    }

    /// A constant of this tensor's shape and device.
    pub(crate) fn scalar_like(&self, value: f64, dtype: DType) -> Result<Tensor> {
        Tensor::full(self.shape(), value, dtype, self.device())
    }

    /// The dtype of `self op scalar`.
    fn scalar_result_dtype(&self, value: f64) -> DType {
        match self.dtype() {
            d if d.is_float() => d,
            _ if integral(value) => {
                if self.dtype() == DType::Bool {
                    DType::I64
                } else {
                    self.dtype()
                }
            }
            _ => DType::F32,
        }
    }

    /// Builds `op(a, b)` after broadcasting both and converting to `dtype`.
    fn binary_in(
        &self,
        other: &Tensor,
        op: BinaryOp,
        name: &'static str,
        dtype: DType,
        out: DType,
    ) -> Result<Tensor> {
        let dev = Tensor::same_device(name, &[self, other])?;
        let shape = broadcast_shapes(name, self.shape(), other.shape())?;
        let a = self.broadcast_to(&shape, name)?.to_dtype(dtype)?;
        let b = other.broadcast_to(&shape, name)?.to_dtype(dtype)?;
        Tensor::from_op(Op::Binary(op), vec![a, b], shape, out, dev)
    }

    fn arith(&self, other: &Tensor, op: BinaryOp, name: &'static str) -> Result<Tensor> {
        let dtype = DType::promote(self.dtype(), other.dtype());
        if dtype == DType::Bool && matches!(op, BinaryOp::Sub | BinaryOp::Pow) {
            return Err(Error::dtype(
                name,
                "not supported on bool tensors; use logical ops or convert with to_dtype",
            ));
        }
        self.binary_in(other, op, name, dtype, dtype)
    }

    fn compare(&self, other: &Tensor, op: BinaryOp, name: &'static str) -> Result<Tensor> {
        let dtype = DType::promote(self.dtype(), other.dtype());
        self.binary_in(other, op, name, dtype, DType::Bool)
    }

    fn with_scalar(&self, value: f64, op: BinaryOp) -> Result<Tensor> {
        let dtype = self.scalar_result_dtype(value);
        let s = self.scalar_like(value, dtype)?;
        let a = self.to_dtype(dtype)?;
        Tensor::from_op(
            Op::Binary(op),
            vec![a, s],
            self.shape().to_vec(),
            dtype,
            self.device(),
        )
    }

    /// `self + other`, broadcasting.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1], &dev)?;
    /// let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3], &dev)?;
    /// assert_eq!(a.add(&b)?.to_vec::<f32>()?, vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        self.arith(other, BinaryOp::Add, "add")
    }

    /// `self - other`, broadcasting.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![5i64, 7], &[2], &Device::cpu())?;
    /// assert_eq!(a.sub(&a)?.to_vec::<i64>()?, vec![0, 0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        self.arith(other, BinaryOp::Sub, "sub")
    }

    /// `self * other`, broadcasting.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![2.0f64, 3.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.mul(&a)?.to_vec::<f64>()?, vec![4.0, 9.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        self.arith(other, BinaryOp::Mul, "mul")
    }

    /// `self / other` (true division: integers give `F32`), broadcasting.
    ///
    /// ```
    /// # use ingot::{DType, Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 3], &[2], &Device::cpu())?;
    /// let q = a.div(&Tensor::full(&[2], 2.0, DType::I64, &Device::cpu())?)?;
    /// assert_eq!(q.dtype(), DType::F32);
    /// assert_eq!(q.to_vec::<f32>()?, vec![0.5, 1.5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        let mut dtype = DType::promote(self.dtype(), other.dtype());
        if !dtype.is_float() {
            dtype = DType::F32;
        }
        self.binary_in(other, BinaryOp::Div, "div", dtype, dtype)
    }

    /// `self ** other`, broadcasting.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![2.0f32, 3.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.pow(&a)?.to_vec::<f32>()?, vec![4.0, 27.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn pow(&self, other: &Tensor) -> Result<Tensor> {
        self.arith(other, BinaryOp::Pow, "pow")
    }

    /// Elementwise maximum (NaN wins), broadcasting.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1.0f32, 5.0], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![3.0f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.maximum(&b)?.to_vec::<f32>()?, vec![3.0, 5.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        self.arith(other, BinaryOp::Maximum, "maximum")
    }

    /// Elementwise minimum (NaN wins), broadcasting.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1.0f32, 5.0], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![3.0f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.minimum(&b)?.to_vec::<f32>()?, vec![1.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        self.arith(other, BinaryOp::Minimum, "minimum")
    }

    /// `self + value`.
    ///
    /// ```
    /// # use ingot::{DType, Device, Tensor};
    /// let a = Tensor::ones(&[2], DType::I64, &Device::cpu())?;
    /// assert_eq!(a.add_scalar(2.0)?.to_vec::<i64>()?, vec![3, 3]);
    /// assert_eq!(a.add_scalar(0.5)?.dtype(), DType::F32);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn add_scalar(&self, value: f64) -> Result<Tensor> {
        self.with_scalar(value, BinaryOp::Add)
    }

    /// `self - value`.
    ///
    /// ```
    /// # use ingot::{DType, Device, Tensor};
    /// let a = Tensor::ones(&[1], DType::F32, &Device::cpu())?;
    /// assert_eq!(a.sub_scalar(3.0)?.item::<f32>()?, -2.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn sub_scalar(&self, value: f64) -> Result<Tensor> {
        self.with_scalar(value, BinaryOp::Sub)
    }

    /// `self * value`.
    ///
    /// ```
    /// # use ingot::{DType, Device, Tensor};
    /// let a = Tensor::ones(&[1], DType::F32, &Device::cpu())?;
    /// assert_eq!(a.mul_scalar(3.0)?.item::<f32>()?, 3.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn mul_scalar(&self, value: f64) -> Result<Tensor> {
        self.with_scalar(value, BinaryOp::Mul)
    }

    /// `self / value` (integers give `F32`).
    ///
    /// ```
    /// # use ingot::{DType, Device, Tensor};
    /// let a = Tensor::ones(&[1], DType::I32, &Device::cpu())?;
    /// assert_eq!(a.div_scalar(4.0)?.item::<f32>()?, 0.25);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn div_scalar(&self, value: f64) -> Result<Tensor> {
        let dtype = if self.dtype().is_float() {
            self.dtype()
        } else {
            DType::F32
        };
        let a = self.to_dtype(dtype)?;
        let s = self.scalar_like(value, dtype)?;
        Tensor::from_op(
            Op::Binary(BinaryOp::Div),
            vec![a, s],
            self.shape().to_vec(),
            dtype,
            self.device(),
        )
    }

    /// `self ** exponent`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![4.0f32, 9.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.powf(0.5)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn powf(&self, exponent: f64) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            return Err(Error::dtype("powf", "not supported on bool tensors"));
        }
        let dtype = if integral(exponent) && exponent >= 0.0 {
            self.scalar_result_dtype(exponent)
        } else {
            self.scalar_result_dtype(0.5)
        };
        self.to_dtype(dtype)?.with_scalar(exponent, BinaryOp::Pow)
    }

    /// Limits values to `[min, max]` (NaN stays NaN). The gradient is 1
    /// inside the range, bounds included, and 0 outside, as in PyTorch.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-2.0f32, 0.5, 7.0], &[3], &Device::cpu())?;
    /// assert_eq!(a.clamp(0.0, 1.0)?.to_vec::<f32>()?, vec![0.0, 0.5, 1.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        if min > max {
            return Err(Error::invalid(
                "clamp",
                format!("min {min} is greater than max {max}"),
            ));
        }
        self.clamp_min(min)?.clamp_max(max)
    }

    /// `self`, checked when evaluated: an element outside `lo..=hi` (or
    /// NaN) makes the evaluation an error naming `op`. For functions whose
    /// input must lie in a range, such as a loss over probabilities; the
    /// gradient passes through unchanged.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let p = Tensor::from_vec(vec![0.25f32, 1.5], &[2], &Device::cpu())?;
    /// let err = p.check_range("my_loss", 0.0, 1.0)?.to_vec::<f32>().unwrap_err();
    /// assert_eq!(err.to_string(), "my_loss: all elements of input should be between 0 and 1, found 1.5");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn check_range(&self, op: &'static str, lo: f64, hi: f64) -> Result<Tensor> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(Error::invalid(
                "check_range",
                format!("{lo}..={hi} is not a range"),
            ));
        }
        self.unary_op(
            Op::CheckRange {
                lo: Literal(lo),
                hi: Literal(hi),
                op,
            },
            self.shape().to_vec(),
            self.dtype(),
        )
    }

    /// `max(self, min)` with PyTorch's clamp gradient.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-2.0f32, 3.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.clamp_min(0.0)?.to_vec::<f32>()?, vec![0.0, 3.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn clamp_min(&self, min: f64) -> Result<Tensor> {
        let dtype = self.scalar_result_dtype(min);
        let x = self.to_dtype(dtype)?;
        let bound = x.scalar_like(min, dtype)?;
        Tensor::where_cond(&x.lt(&bound)?, &bound, &x)
    }

    /// `min(self, max)` with PyTorch's clamp gradient.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-2.0f32, 3.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.clamp_max(1.0)?.to_vec::<f32>()?, vec![-2.0, 1.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn clamp_max(&self, max: f64) -> Result<Tensor> {
        let dtype = self.scalar_result_dtype(max);
        let x = self.to_dtype(dtype)?;
        let bound = x.scalar_like(max, dtype)?;
        Tensor::where_cond(&x.gt(&bound)?, &bound, &x)
    }

    /// `a` where `cond` is true, else `b` (all three broadcast; `cond` must
    /// be `Bool`).
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let dev = Device::cpu();
    /// let c = Tensor::from_vec(vec![true, false], &[2], &dev)?;
    /// let a = Tensor::from_vec(vec![1.0f32, 2.0], &[2], &dev)?;
    /// let b = Tensor::from_vec(vec![-1.0f32], &[1], &dev)?;
    /// assert_eq!(Tensor::where_cond(&c, &a, &b)?.to_vec::<f32>()?, vec![1.0, -1.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let dev = Tensor::same_device("where", &[cond, a, b])?;
        if cond.dtype() != DType::Bool {
            return Err(Error::dtype(
                "where",
                format!("condition must be bool, got {}", cond.dtype()),
            ));
        }
        let shape = broadcast_shapes(
            "where",
            &broadcast_shapes("where", cond.shape(), a.shape())?,
            b.shape(),
        )?;
        let dtype = DType::promote(a.dtype(), b.dtype());
        let args = vec![
            cond.broadcast_to(&shape, "where")?,
            a.broadcast_to(&shape, "where")?.to_dtype(dtype)?,
            b.broadcast_to(&shape, "where")?.to_dtype(dtype)?,
        ];
        Tensor::from_op(Op::Where, args, shape, dtype, dev)
    }

    /// `self == other` elementwise, as `Bool`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![1.0f32, 3.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.eq(&b)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn eq(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Eq, "eq")
    }

    /// `self != other` elementwise.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2], &Device::cpu())?;
    /// assert_eq!(a.ne(&a)?.to_vec::<bool>()?, vec![false, false]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn ne(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Ne, "ne")
    }

    /// `self < other` elementwise.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![2i64], &[1], &Device::cpu())?;
    /// assert_eq!(a.lt(&b)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn lt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Lt, "lt")
    }

    /// `self <= other` elementwise.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![1i64], &[1], &Device::cpu())?;
    /// assert_eq!(a.le(&b)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn le(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Le, "le")
    }

    /// `self > other` elementwise.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![1i64], &[1], &Device::cpu())?;
    /// assert_eq!(a.gt(&b)?.to_vec::<bool>()?, vec![false, true]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn gt(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Gt, "gt")
    }

    /// `self >= other` elementwise.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i64, 2], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![2i64], &[1], &Device::cpu())?;
    /// assert_eq!(a.ge(&b)?.to_vec::<bool>()?, vec![false, true]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn ge(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Ge, "ge")
    }

    /// Elementwise logical and (nonzero is true), as `Bool`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![true, true], &[2], &Device::cpu())?;
    /// let b = Tensor::from_vec(vec![true, false], &[2], &Device::cpu())?;
    /// assert_eq!(a.logical_and(&b)?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn logical_and(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::And, "logical_and")
    }

    /// Elementwise logical or (nonzero is true), as `Bool`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![false, true], &[2], &Device::cpu())?;
    /// assert_eq!(a.logical_or(&a)?.to_vec::<bool>()?, vec![false, true]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn logical_or(&self, other: &Tensor) -> Result<Tensor> {
        self.compare(other, BinaryOp::Or, "logical_or")
    }

    /// Elementwise logical not (zero is false), as `Bool`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.logical_not()?.to_vec::<bool>()?, vec![true, false]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn logical_not(&self) -> Result<Tensor> {
        self.to_dtype(DType::Bool)?.unary_op(
            Op::Unary(UnaryOp::Not),
            self.shape().to_vec(),
            DType::Bool,
        )
    }

    /// Applies a unary op; `float_only` ops promote integers and bools to
    /// `F32`, the others reject bools.
    fn unary(&self, op: UnaryOp, float_only: bool) -> Result<Tensor> {
        if float_only && !self.dtype().is_float() {
            return self.to_dtype(DType::F32)?.unary(op, true);
        }
        if self.dtype() == DType::Bool {
            return Err(Error::dtype(
                unary_name(op),
                "not supported on bool tensors",
            ));
        }
        self.unary_op(Op::Unary(op), self.shape().to_vec(), self.dtype())
    }

    /// `-self`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1i32, -2], &[2], &Device::cpu())?;
    /// assert_eq!(a.neg()?.to_vec::<i32>()?, vec![-1, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn neg(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Neg, false)
    }

    /// `|self|`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-1.5f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.abs()?.to_vec::<f32>()?, vec![1.5, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn abs(&self) -> Result<Tensor> {
        if self.dtype() == DType::Bool {
            return Ok(self.clone());
        }
        self.unary(UnaryOp::Abs, false)
    }

    /// Sign: -1, 0 or 1 (NaN stays NaN).
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-3.0f32, 0.0, 2.0], &[3], &Device::cpu())?;
    /// assert_eq!(a.sign()?.to_vec::<f32>()?, vec![-1.0, 0.0, 1.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn sign(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Sign, false)
    }

    /// `max(self, 0)`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-1.0f32, 2.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.relu()?.to_vec::<f32>()?, vec![0.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn relu(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Relu, false)
    }

    /// Rounds down (integers are unchanged).
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-1.5f32, 1.5], &[2], &Device::cpu())?;
    /// assert_eq!(a.floor()?.to_vec::<f32>()?, vec![-2.0, 1.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn floor(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Floor, false)
    }

    /// Rounds up (integers are unchanged).
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![-1.5f32, 1.5], &[2], &Device::cpu())?;
    /// assert_eq!(a.ceil()?.to_vec::<f32>()?, vec![-1.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn ceil(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Ceil, false)
    }

    /// Rounds to nearest, half to even (as `torch.round`).
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.5f32, 1.5, 2.5], &[3], &Device::cpu())?;
    /// assert_eq!(a.round()?.to_vec::<f32>()?, vec![0.0, 2.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn round(&self) -> Result<Tensor> {
        self.unary(UnaryOp::Round, false)
    }
}

fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "neg",
        UnaryOp::Abs => "abs",
        UnaryOp::Exp => "exp",
        UnaryOp::Log => "log",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Rsqrt => "rsqrt",
        UnaryOp::Recip => "reciprocal",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Sigmoid => "sigmoid",
        UnaryOp::Relu => "relu",
        UnaryOp::Gelu => "gelu",
        UnaryOp::Erf => "erf",
        UnaryOp::Floor => "floor",
        UnaryOp::Ceil => "ceil",
        UnaryOp::Round => "round",
        UnaryOp::Sign => "sign",
        UnaryOp::Not => "logical_not",
    }
}

macro_rules! float_unary {
    ($($(#[$doc:meta])* $name:ident => $op:ident;)*) => {
        impl Tensor {
            $(
                $(#[$doc])*
                pub fn $name(&self) -> Result<Tensor> {
                    self.unary(UnaryOp::$op, true)
                }
            )*
        }
    };
}

float_unary! {
    /// `e^self` (integers promote to `F32`).
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f64], &[1], &Device::cpu())?;
    /// assert_eq!(a.exp()?.item::<f64>()?, 1.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    exp => Exp;
    /// Natural logarithm.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![1.0f64], &[1], &Device::cpu())?;
    /// assert_eq!(a.log()?.item::<f64>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    log => Log;
    /// Square root.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![9.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.sqrt()?.item::<f32>()?, 3.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    sqrt => Sqrt;
    /// `1 / sqrt(self)`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![4.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.rsqrt()?.item::<f32>()?, 0.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    rsqrt => Rsqrt;
    /// `1 / self`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![4.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.recip()?.item::<f32>()?, 0.25);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    recip => Recip;
    /// Sine.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.sin()?.item::<f32>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    sin => Sin;
    /// Cosine.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.cos()?.item::<f32>()?, 1.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    cos => Cos;
    /// Hyperbolic tangent.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.tanh()?.item::<f32>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    tanh => Tanh;
    /// `1 / (1 + e^-self)`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f32], &[1], &Device::cpu())?;
    /// assert_eq!(a.sigmoid()?.item::<f32>()?, 0.5);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    sigmoid => Sigmoid;
    /// GELU, exact form: `x * (1 + erf(x / sqrt 2)) / 2`.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f32, 10.0], &[2], &Device::cpu())?;
    /// assert_eq!(a.gelu()?.to_vec::<f32>()?, vec![0.0, 10.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    gelu => Gelu;
    /// Error function.
    ///
    /// ```
    /// # use ingot::{Device, Tensor};
    /// let a = Tensor::from_vec(vec![0.0f64], &[1], &Device::cpu())?;
    /// assert_eq!(a.erf()?.item::<f64>()?, 0.0);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    erf => Erf;
}

macro_rules! std_binary {
    ($($trait:ident $method:ident => $op:ident),*) => {$(
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$op(self, rhs)
            }
        }
        impl std::ops::$trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            fn $method(self, rhs: f64) -> Result<Tensor> {
                paste_scalar!($op)(self, rhs)
            }
        }
    )*};
}

macro_rules! paste_scalar {
    (add) => {
        Tensor::add_scalar
    };
    (sub) => {
        Tensor::sub_scalar
    };
    (mul) => {
        Tensor::mul_scalar
    };
    (div) => {
        Tensor::div_scalar
    };
}

std_binary!(Add add => add, Sub sub => sub, Mul mul => mul, Div div => div);

impl std::ops::Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
