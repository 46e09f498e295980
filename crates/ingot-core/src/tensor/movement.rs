//! Shape and layout ops. On the CPU most of them are views and cost nothing.

use crate::ir::{Literal, Op};
use crate::shape::{checked_numel, normalize_dim};
use crate::{DType, Error, Result, Tensor};

impl Tensor {
    /// The same elements under a new shape; one dimension may be `-1`
    /// (inferred).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::arange(0.0, 6.0, 1.0, DType::F32, &Device::cpu())?;
    /// assert_eq!(t.reshape(&[2, -1])?.shape(), &[2, 3]);
    /// assert!(t.reshape(&[4, -1]).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        let mut infer = None;
        let mut known = 1usize;
        for (i, &d) in shape.iter().enumerate() {
            match d {
                -1 if infer.is_none() => infer = Some(i),
                -1 => {
                    return Err(Error::shape(
                        "reshape",
                        format!("only one dimension can be -1 in {shape:?}"),
                    ));
                }
                d if d < 0 => {
                    return Err(Error::shape(
                        "reshape",
                        format!("invalid dimension {d} in {shape:?}"),
                    ));
                }
                d => {
                    known = known.checked_mul(d as usize).ok_or_else(|| {
                        Error::shape(
                            "reshape",
                            format!("shape {shape:?} is too large: its size overflows"),
                        )
                    })?
                }
            }
        }
        let mut dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        if let Some(i) = infer {
            if known == 0 || !self.numel().is_multiple_of(known) {
                return Err(Error::shape(
                    "reshape",
                    format!(
                        "shape {shape:?} is invalid for input of size {}",
                        self.numel()
                    ),
                ));
            }
            dims[i] = self.numel() / known;
        }
        self.reshape_to(&dims)
    }

    /// Reshape to known sizes.
    pub(crate) fn reshape_to(&self, dims: &[usize]) -> Result<Tensor> {
        if checked_numel(dims) != Some(self.numel()) {
            return Err(Error::shape(
                "reshape",
                format!(
                    "shape {dims:?} is invalid for input of shape {:?}",
                    self.shape()
                ),
            ));
        }
        if dims == self.shape() {
            return Ok(self.clone());
        }
        self.unary_op(Op::Reshape, dims.to_vec(), self.dtype())
    }

    /// Merges dimensions `start..=end` into one.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2, 3, 4], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.flatten(1, -1)?.shape(), &[2, 12]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.dim() == 0 {
            return self.reshape_to(&[1]);
        }
        let (s, e) = (
            normalize_dim("flatten", start, self.dim())?,
            normalize_dim("flatten", end, self.dim())?,
        );
        if s > e {
            return Err(Error::invalid(
                "flatten",
                format!("start dim {start} comes after end dim {end}"),
            ));
        }
        let mut dims = self.shape()[..s].to_vec();
        dims.push(self.shape()[s..=e].iter().product());
        dims.extend_from_slice(&self.shape()[e + 1..]);
        self.reshape_to(&dims)
    }

    /// Removes dimension `dim` if its size is 1 (otherwise returns `self`).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2, 1], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.squeeze(-1)?.shape(), &[2]);
    /// assert_eq!(t.squeeze(0)?.shape(), &[2, 1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn squeeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("squeeze", dim, self.dim())?;
        if self.dim() == 0 || self.shape()[d] != 1 {
            return Ok(self.clone());
        }
        let mut dims = self.shape().to_vec();
        dims.remove(d);
        self.reshape_to(&dims)
    }

    /// Inserts a dimension of size 1 at `dim` (`-1` appends).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2, 3], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.unsqueeze(1)?.shape(), &[2, 1, 3]);
    /// assert_eq!(t.unsqueeze(-1)?.shape(), &[2, 3, 1]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let d = normalize_dim("unsqueeze", dim, self.dim() + 1)?;
        let mut dims = self.shape().to_vec();
        dims.insert(d, 1);
        self.reshape_to(&dims)
    }

    /// Reorders dimensions: output dimension `i` is input dimension `dims[i]`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2, 3, 4], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.permute(&[2, 0, 1])?.shape(), &[4, 2, 3]);
    /// assert!(t.permute(&[0, 0, 1]).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.dim() {
            return Err(Error::shape(
                "permute",
                format!(
                    "{} dims given for a tensor of rank {}",
                    dims.len(),
                    self.dim()
                ),
            ));
        }
        let mut perm = Vec::with_capacity(dims.len());
        for &d in dims {
            let n = normalize_dim("permute", d, self.dim())?;
            if perm.contains(&n) {
                return Err(Error::invalid(
                    "permute",
                    format!("dimension {d} repeats in {dims:?}"),
                ));
            }
            perm.push(n);
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        let shape = perm.iter().map(|&p| self.shape()[p]).collect();
        self.unary_op(Op::Permute(perm), shape, self.dtype())
    }

    /// Swaps two dimensions.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2, 3, 4], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.transpose(0, -1)?.shape(), &[4, 3, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor> {
        let (a, b) = (
            normalize_dim("transpose", dim0, self.dim())?,
            normalize_dim("transpose", dim1, self.dim())?,
        );
        if self.dim() < 2 {
            return Ok(self.clone());
        }
        let mut perm: Vec<isize> = (0..self.dim() as isize).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Transpose of a matrix (tensors of rank below 2 are returned as is).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::zeros(&[2, 3], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.t()?.shape(), &[3, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn t(&self) -> Result<Tensor> {
        if self.dim() > 2 {
            return Err(Error::shape(
                "t",
                format!(
                    "expects a tensor of rank <= 2, got shape {:?}; use transpose",
                    self.shape()
                ),
            ));
        }
        self.transpose(0, -1)
    }

    /// Broadcasts to `shape`: size-1 dimensions grow, new leading
    /// dimensions are added.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::ones(&[3, 1], DType::F32, &Device::cpu())?;
    /// assert_eq!(t.expand(&[2, 3, 4])?.shape(), &[2, 3, 4]);
    /// assert!(t.expand(&[2, 2]).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        self.broadcast_to(shape, "expand")
    }

    /// `len` elements of dimension `dim` from `start`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::arange(0.0, 5.0, 1.0, DType::I64, &Device::cpu())?;
    /// assert_eq!(t.narrow(0, 1, 3)?.to_vec::<i64>()?, vec![1, 2, 3]);
    /// assert!(t.narrow(0, 4, 2).is_err());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let end = start.checked_add(len).ok_or_else(|| {
            Error::invalid("narrow", format!("start {start} + length {len} overflows"))
        })?;
        self.slice(dim, start, end, 1).map_err(|e| match e {
            Error::InvalidArgument { msg, .. } => Error::InvalidArgument { op: "narrow", msg },
            other => other,
        })
    }

    /// Elements `start, start + step, ...` below `end` of dimension `dim`
    /// (Python's `t[start:end:step]` on that dimension).
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::arange(0.0, 6.0, 1.0, DType::I64, &Device::cpu())?;
    /// assert_eq!(t.slice(0, 1, 6, 2)?.to_vec::<i64>()?, vec![1, 3, 5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn slice(&self, dim: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let d = normalize_dim("slice", dim, self.dim())?;
        if self.dim() == 0 {
            return Err(Error::shape("slice", "cannot slice a scalar"));
        }
        let size = self.shape()[d];
        if step == 0 || start > end || end > size {
            return Err(Error::invalid(
                "slice",
                format!(
                    "range {start}..{end} step {step} is invalid for dimension {dim} of size {size}"
                ),
            ));
        }
        let count = (end - start).div_ceil(step);
        if start == 0 && step == 1 && count == size {
            return Ok(self.clone());
        }
        let mut starts = vec![0; self.dim()];
        let mut steps = vec![1; self.dim()];
        starts[d] = start;
        steps[d] = step;
        let mut shape = self.shape().to_vec();
        shape[d] = count;
        self.unary_op(
            Op::Slice {
                start: starts,
                step: steps,
            },
            shape,
            self.dtype(),
        )
    }

    /// Splits into `chunks` pieces along `dim` (each of `ceil(size / chunks)`,
    /// the last possibly smaller; fewer pieces when they run out), like
    /// `torch.chunk`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::arange(0.0, 5.0, 1.0, DType::F32, &Device::cpu())?;
    /// let parts = t.chunk(2, 0)?;
    /// assert_eq!(parts.iter().map(|p| p.shape()[0]).collect::<Vec<_>>(), vec![3, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn chunk(&self, chunks: usize, dim: isize) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            return Err(Error::invalid("chunk", "number of chunks must be positive"));
        }
        let d = normalize_dim("chunk", dim, self.dim())?;
        let size = self.shape().get(d).copied().unwrap_or(1);
        let step = size.div_ceil(chunks).max(1);
        (0..size)
            .step_by(step)
            .map(|s| self.narrow(dim, s, step.min(size - s)))
            .collect()
    }

    /// Pads with `value`. `pads[0]` is `(before, after)` for the *last*
    /// dimension, `pads[1]` for the one before, and so on, as in
    /// `torch.nn.functional.pad`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let t = Tensor::ones(&[1, 2], DType::F32, &Device::cpu())?;
    /// let p = t.pad(&[(1, 0), (0, 1)], 0.0)?;
    /// assert_eq!(p.shape(), &[2, 3]);
    /// assert_eq!(p.to_vec::<f32>()?, vec![0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Tensor> {
        if pads.len() > self.dim() {
            return Err(Error::shape(
                "pad",
                format!(
                    "{} padded dimensions for a tensor of rank {}",
                    pads.len(),
                    self.dim()
                ),
            ));
        }
        let mut axis_pads = vec![(0, 0); self.dim()];
        for (i, &p) in pads.iter().enumerate() {
            axis_pads[self.dim() - 1 - i] = p;
        }
        if axis_pads.iter().all(|&p| p == (0, 0)) {
            return Ok(self.clone());
        }
        let shape = self
            .shape()
            .iter()
            .zip(&axis_pads)
            .map(|(&d, &(a, b))| d.checked_add(a)?.checked_add(b))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                Error::shape(
                    "pad",
                    format!("padding {pads:?} of shape {:?} overflows", self.shape()),
                )
            })?;
        self.unary_op(
            Op::Pad {
                pads: axis_pads,
                value: Literal(value),
            },
            shape,
            self.dtype(),
        )
    }

    /// Concatenates along `dim`; the other dimensions must match. Dtypes
    /// promote.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let a = Tensor::zeros(&[1, 2], DType::F32, &Device::cpu())?;
    /// let b = Tensor::ones(&[2, 2], DType::F32, &Device::cpu())?;
    /// assert_eq!(Tensor::cat(&[&a, &b], 0)?.shape(), &[3, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn cat(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("cat", "expects at least one tensor"))?;
        let dev = Tensor::same_device("cat", tensors)?;
        let d = normalize_dim("cat", dim, first.dim())?;
        if first.dim() == 0 {
            return Err(Error::shape(
                "cat",
                "zero-dimensional tensors cannot be concatenated",
            ));
        }
        let mut dtype = first.dtype();
        let mut total = 0;
        for t in tensors {
            let same_rest = t.dim() == first.dim()
                && (0..t.dim()).all(|i| i == d || t.shape()[i] == first.shape()[i]);
            if !same_rest {
                return Err(Error::shape(
                    "cat",
                    format!(
                        "shapes {:?} and {:?} differ outside dimension {dim}",
                        first.shape(),
                        t.shape()
                    ),
                ));
            }
            total = usize::checked_add(total, t.shape()[d]).ok_or_else(|| {
                Error::shape("cat", format!("the sizes along dimension {dim} overflow"))
            })?;
            dtype = DType::promote(dtype, t.dtype());
        }
        if tensors.len() == 1 {
            return first.to_dtype(dtype);
        }
        let args = tensors
            .iter()
            .map(|t| t.to_dtype(dtype))
            .collect::<Result<Vec<_>>>()?;
        let mut shape = first.shape().to_vec();
        shape[d] = total;
        Tensor::from_op(Op::Concat { axis: d }, args, shape, dtype, dev)
    }

    /// Stacks equal-shaped tensors along a new dimension `dim`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let a = Tensor::zeros(&[2], DType::F32, &Device::cpu())?;
    /// assert_eq!(Tensor::stack(&[&a, &a, &a], 1)?.shape(), &[2, 3]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn stack(tensors: &[&Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("stack", "expects at least one tensor"))?;
        if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
            return Err(Error::shape(
                "stack",
                format!(
                    "expects equal shapes, got {:?} and {:?}",
                    first.shape(),
                    t.shape()
                ),
            ));
        }
        let d = normalize_dim("stack", dim, first.dim() + 1)? as isize;
        let parts = tensors
            .iter()
            .map(|t| t.unsqueeze(d))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), d)
    }
}
