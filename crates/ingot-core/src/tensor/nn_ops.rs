//! Matrix multiplication and the coarse neural-network primitives: 2-D
//! convolution, pooling and (log-)softmax. Images are NCHW, weights OIHW.

use crate::ir::{Conv2dParams, Op, Pool2dParams};
use crate::shape::{broadcast_shapes, normalize_dim};
use crate::{DType, Error, Result, Tensor};

fn float_dtype(op: &'static str, a: DType, b: DType) -> Result<DType> {
    let d = DType::promote(a, b);
    if !d.is_float() {
        return Err(Error::dtype(
            op,
            format!("expects float tensors, got {a} and {b}"),
        ));
    }
    Ok(d)
}

impl Tensor {
    /// Matrix product with PyTorch's rules: 1-D operands are vectors
    /// (a dot product for two of them), and leading batch dimensions
    /// broadcast.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let a = Tensor::ones(&[5, 2, 3], DType::F32, &dev)?;
    /// let b = Tensor::ones(&[3, 4], DType::F32, &dev)?;
    /// assert_eq!(a.matmul(&b)?.shape(), &[5, 2, 4]);
    /// let v = Tensor::ones(&[3], DType::F32, &dev)?;
    /// assert_eq!(v.matmul(&v)?.item::<f32>()?, 3.0);
    /// assert!(a.matmul(&a).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        let dev = Tensor::same_device("matmul", &[self, other])?;
        let dtype = DType::promote(self.dtype(), other.dtype());
        if dtype == DType::Bool {
            return Err(Error::dtype("matmul", "not supported on bool tensors"));
        }
        if self.dim() == 0 || other.dim() == 0 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "both arguments need at least 1 dimension, got {:?} and {:?}",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        let a = if self.dim() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        }
        .to_dtype(dtype)?;
        let b = if other.dim() == 1 {
            other.unsqueeze(-1)?
        } else {
            other.clone()
        }
        .to_dtype(dtype)?;
        let (ra, rb) = (a.dim(), b.dim());
        let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
        let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "shapes {:?} and {:?} cannot be multiplied ({k} vs {k2})",
                    self.shape(),
                    other.shape()
                ),
            ));
        }
        let batch = broadcast_shapes("matmul", &a.shape()[..ra - 2], &b.shape()[..rb - 2])?;
        let product = if rb == 2 && ra > 2 {
            // [..., m, k] @ [k, n]: one 2-D product over all rows.
            let rows = a.reshape_to(&[a.numel() / k.max(1), k])?;
            let p = Tensor::from_op(
                Op::MatMul,
                vec![rows, b],
                vec![a.numel() / k.max(1), n],
                dtype,
                dev,
            )?;
            let mut shape = batch.clone();
            shape.extend([m, n]);
            p.reshape_to(&shape)?
        } else {
            let mut sa = batch.clone();
            sa.extend([m, k]);
            let mut sb = batch.clone();
            sb.extend([k, n]);
            let mut so = batch.clone();
            so.extend([m, n]);
            let (a, b) = (
                a.broadcast_to(&sa, "matmul")?,
                b.broadcast_to(&sb, "matmul")?,
            );
            Tensor::from_op(Op::MatMul, vec![a, b], so, dtype, dev)?
        };
        let mut out = product.shape().to_vec();
        if other.dim() == 1 {
            out.pop();
        }
        if self.dim() == 1 {
            out.remove(out.len() - if other.dim() == 1 { 1 } else { 2 });
        }
        product.reshape_to(&out)
    }

    /// 2-D convolution (cross-correlation, like `torch.nn.functional.conv2d`)
    /// of `self` (`[N, C, H, W]` or `[C, H, W]`) with `weight`
    /// (`[O, C / groups, kh, kw]`), plus an optional `bias` (`[O]`).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let x = Tensor::ones(&[1, 1, 4, 4], DType::F32, &dev)?;
    /// let w = Tensor::ones(&[2, 1, 3, 3], DType::F32, &dev)?;
    /// let y = x.conv2d(&w, None, 1, 1, 1, 1)?;
    /// assert_eq!(y.shape(), &[1, 2, 4, 4]);
    /// assert_eq!(y.to_vec::<f32>()?[0], 4.0); // a corner sees 2x2 ones
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn conv2d(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
    ) -> Result<Tensor> {
        self.conv2d_with(
            weight,
            bias,
            (stride, stride),
            (padding, padding),
            (dilation, dilation),
            groups,
        )
    }

    /// [`Tensor::conv2d`] with separate `(h, w)` stride, padding and dilation.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let x = Tensor::ones(&[1, 1, 5, 5], DType::F32, &dev)?;
    /// let w = Tensor::ones(&[1, 1, 3, 1], DType::F32, &dev)?;
    /// let y = x.conv2d_with(&w, None, (2, 1), (0, 0), (1, 1), 1)?;
    /// assert_eq!(y.shape(), &[1, 1, 2, 5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn conv2d_with(
        &self,
        weight: &Tensor,
        bias: Option<&Tensor>,
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
        groups: usize,
    ) -> Result<Tensor> {
        if self.dim() == 3 {
            return self
                .unsqueeze(0)?
                .conv2d_with(weight, bias, stride, padding, dilation, groups)?
                .squeeze(0);
        }
        let dev = Tensor::same_device("conv2d", &[self, weight])?;
        let dtype = float_dtype("conv2d", self.dtype(), weight.dtype())?;
        if self.dim() != 4 || weight.dim() != 4 {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "expects input [N, C, H, W] and weight [O, C/groups, kh, kw], got {:?} and {:?}",
                    self.shape(),
                    weight.shape()
                ),
            ));
        }
        let (xs, ws) = (self.shape(), weight.shape());
        if groups == 0 || xs[1] != ws[1] * groups || ws[0] % groups != 0 {
            return Err(Error::shape(
                "conv2d",
                format!(
                    "input {xs:?} and weight {ws:?} do not fit groups={groups} (input channels must be weight.shape[1] * groups, out channels divisible by groups)"
                ),
            ));
        }
        if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 {
            return Err(Error::invalid(
                "conv2d",
                format!("stride {stride:?} and dilation {dilation:?} must be positive"),
            ));
        }
        if ws[2] == 0 || ws[3] == 0 || ws[0] == 0 {
            return Err(Error::shape(
                "conv2d",
                format!("weight {ws:?} is empty: kernel sizes and out channels must be positive"),
            ));
        }
        let p = Conv2dParams {
            stride: [stride.0, stride.1],
            padding: [padding.0, padding.1],
            dilation: [dilation.0, dilation.1],
            groups,
        };
        let [oh, ow] = p
            .output_hw([xs[2], xs[3]], [ws[2], ws[3]])
            .filter(|o| o[0] > 0 && o[1] > 0)
            .ok_or_else(|| {
                Error::shape(
                    "conv2d",
                    format!(
                        "kernel {:?} (dilation {dilation:?}) is larger than the padded input {:?}",
                        &ws[2..],
                        &xs[2..]
                    ),
                )
            })?;
        let x = self.to_dtype(dtype)?;
        let w = weight.to_dtype(dtype)?;
        let y = Tensor::from_op(
            Op::Conv2d(p),
            vec![x, w],
            vec![xs[0], ws[0], oh, ow],
            dtype,
            dev,
        )?;
        match bias {
            None => Ok(y),
            Some(b) => {
                if b.shape() != [ws[0]] {
                    return Err(Error::shape(
                        "conv2d",
                        format!("bias must have shape [{}], got {:?}", ws[0], b.shape()),
                    ));
                }
                y.add(&b.reshape_to(&[1, ws[0], 1, 1])?)
            }
        }
    }

    fn pool2d(
        &self,
        name: &'static str,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        count_include_pad: bool,
    ) -> Result<(Tensor, Pool2dParams, Vec<usize>)> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                name,
                format!("expects a float tensor, got {}", self.dtype()),
            ));
        }
        if self.dim() != 4 {
            return Err(Error::shape(
                name,
                format!("expects input [N, C, H, W], got {:?}", self.shape()),
            ));
        }
        if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
            return Err(Error::invalid(
                name,
                format!("kernel {kernel:?} and stride {stride:?} must be positive"),
            ));
        }
        if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
            return Err(Error::invalid(
                name,
                format!("padding {padding:?} must be at most half the kernel {kernel:?}"),
            ));
        }
        let p = Pool2dParams {
            kernel: [kernel.0, kernel.1],
            stride: [stride.0, stride.1],
            padding: [padding.0, padding.1],
            count_include_pad,
        };
        let s = self.shape();
        let [oh, ow] = p
            .output_hw([s[2], s[3]])
            .filter(|o| o[0] > 0 && o[1] > 0)
            .ok_or_else(|| {
                Error::shape(
                    name,
                    format!(
                        "kernel {kernel:?} is larger than the padded input {:?}",
                        &s[2..]
                    ),
                )
            })?;
        Ok((self.clone(), p, vec![s[0], s[1], oh, ow]))
    }

    /// 2-D max pooling over `[N, C, H, W]` (padding counts as `-inf`).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2], &Device::cpu())?;
    /// assert_eq!(x.max_pool2d(2, 2, 0)?.to_vec::<f32>()?, vec![4.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn max_pool2d(&self, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
        self.max_pool2d_with((kernel, kernel), (stride, stride), (padding, padding))
    }

    /// [`Tensor::max_pool2d`] with separate `(h, w)` sizes.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let x = Tensor::ones(&[1, 1, 4, 6], DType::F32, &Device::cpu())?;
    /// assert_eq!(x.max_pool2d_with((2, 3), (2, 3), (0, 0))?.shape(), &[1, 1, 2, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn max_pool2d_with(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Tensor> {
        let (x, p, shape) = self.pool2d("max_pool2d", kernel, stride, padding, false)?;
        let dtype = x.dtype();
        x.unary_op(Op::MaxPool2d(p), shape, dtype)
    }

    /// 2-D average pooling over `[N, C, H, W]`; windows divide by their full
    /// size, padding included (PyTorch's default `count_include_pad=True`).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[1, 1, 2, 2], &Device::cpu())?;
    /// assert_eq!(x.avg_pool2d(2, 2, 0)?.to_vec::<f32>()?, vec![2.5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn avg_pool2d(&self, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
        self.avg_pool2d_with((kernel, kernel), (stride, stride), (padding, padding), true)
    }

    /// [`Tensor::avg_pool2d`] with separate `(h, w)` sizes and the choice of
    /// `count_include_pad`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let x = Tensor::ones(&[1, 1, 2, 2], DType::F32, &Device::cpu())?;
    /// let y = x.avg_pool2d_with((2, 2), (1, 1), (1, 1), false)?;
    /// assert_eq!(y.to_vec::<f32>()?, vec![1.0; 9]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn avg_pool2d_with(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        count_include_pad: bool,
    ) -> Result<Tensor> {
        let (x, p, shape) =
            self.pool2d("avg_pool2d", kernel, stride, padding, count_include_pad)?;
        let dtype = x.dtype();
        x.unary_op(Op::AvgPool2d(p), shape, dtype)
    }

    fn softmax_op(&self, name: &'static str, dim: isize, log: bool) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return Err(Error::dtype(
                name,
                format!("expects a float tensor, got {}", self.dtype()),
            ));
        }
        if self.dim() == 0 {
            return self
                .reshape_to(&[1])?
                .softmax_op(name, 0, log)?
                .reshape_to(&[]);
        }
        let axis = normalize_dim(name, dim, self.dim())?;
        let op = if log {
            Op::LogSoftmax { axis }
        } else {
            Op::Softmax { axis }
        };
        self.unary_op(op, self.shape().to_vec(), self.dtype())
    }

    /// Softmax along `dim`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![0.0f64, 0.0], &[2], &Device::cpu())?;
    /// assert_eq!(x.softmax(0)?.to_vec::<f64>()?, vec![0.5, 0.5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_op("softmax", dim, false)
    }

    /// Log-softmax along `dim`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![0.0f64, 0.0], &[2], &Device::cpu())?;
    /// let y = x.log_softmax(-1)?.to_vec::<f64>()?;
    /// assert!((y[0] + 2f64.ln()).abs() < 1e-12);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn log_softmax(&self, dim: isize) -> Result<Tensor> {
        self.softmax_op("log_softmax", dim, true)
    }
}
