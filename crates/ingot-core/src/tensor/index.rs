//! Indexing with index tensors (`I64`). Indices are checked when the graph
//! runs: an index out of range is an [`Error::IndexOutOfBounds`] from the
//! evaluation, never a panic.

use crate::ir::Op;
use crate::shape::normalize_dim;
use crate::{DType, Error, Result, Tensor};

fn check_index(op: &'static str, idx: &Tensor) -> Result<()> {
    if idx.dtype() != DType::I64 {
        return Err(Error::dtype(
            op,
            format!("index must be int64, got {}", idx.dtype()),
        ));
    }
    Ok(())
}

impl Tensor {
    /// The entries of dimension `dim` listed by the 1-D `index`.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2], &dev)?;
    /// let idx = Tensor::from_vec(vec![2i64, 0], &[2], &dev)?;
    /// assert_eq!(t.index_select(0, &idx)?.to_vec::<f32>()?, vec![5.0, 6.0, 1.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn index_select(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        self.index_select_as("index_select", dim, index)
    }

    /// [`Tensor::index_select`] on behalf of the function `op` built on it
    /// (an embedding, say): every error, including an index found out of
    /// range when the graph runs, names `op`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let dev = Device::cpu();
    /// let table = Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1], &dev)?;
    /// let idx = Tensor::from_vec(vec![5i64], &[1], &dev)?;
    /// let err = table.index_select_as("embedding", 0, &idx)?.to_vec::<f32>().unwrap_err();
    /// assert_eq!(err.to_string(), "embedding: index 5 is out of bounds for dimension 0 with size 2");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn index_select_as(&self, op: &'static str, dim: isize, index: &Tensor) -> Result<Tensor> {
        Tensor::same_device(op, &[self, index])?;
        check_index(op, index)?;
        if index.dim() > 1 {
            return Err(Error::shape(
                op,
                format!("index must be 1-D, got shape {:?}", index.shape()),
            ));
        }
        let d = normalize_dim(op, dim, self.dim())?;
        if self.dim() == 0 {
            return Err(Error::shape(op, "cannot index a scalar"));
        }
        let n = index.numel();
        let mut out = self.shape().to_vec();
        out[d] = n;
        let mut column = vec![1; self.dim()];
        column[d] = n;
        let expanded = index.reshape_to(&column)?.broadcast_to(&out, op)?;
        self.gather_as(op, dim, &expanded)
    }

    /// `out[i][j] = self[index[i][j]][j]` for `dim = 0`, and so on
    /// (`torch.gather`). `index` has the rank of `self`; the output has its
    /// shape.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let dev = Device::cpu();
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2], &dev)?;
    /// let idx = Tensor::from_vec(vec![1i64, 0], &[2, 1], &dev)?;
    /// assert_eq!(t.gather(1, &idx)?.to_vec::<f32>()?, vec![2.0, 3.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn gather(&self, dim: isize, index: &Tensor) -> Result<Tensor> {
        self.gather_as("gather", dim, index)
    }

    /// [`Tensor::gather`] on behalf of the function `op` built on it (a
    /// loss, say): every error, including an index found out of range when
    /// the graph runs, names `op`.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let dev = Device::cpu();
    /// let logits = Tensor::from_vec(vec![0.5f32, 0.5], &[1, 2], &dev)?;
    /// let target = Tensor::from_vec(vec![3i64], &[1, 1], &dev)?;
    /// let err = logits.gather_as("nll_loss", 1, &target)?.to_vec::<f32>().unwrap_err();
    /// assert!(err.to_string().starts_with("nll_loss: index 3 is out of bounds"));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn gather_as(&self, op: &'static str, dim: isize, index: &Tensor) -> Result<Tensor> {
        let dev = Tensor::same_device(op, &[self, index])?;
        check_index(op, index)?;
        if self.dim() == 0 {
            return Err(Error::shape(op, "cannot gather from a scalar"));
        }
        let d = normalize_dim(op, dim, self.dim())?;
        if index.dim() != self.dim()
            || (0..self.dim()).any(|i| i != d && index.shape()[i] > self.shape()[i])
        {
            return Err(Error::shape(
                op,
                format!(
                    "index of shape {:?} does not fit input of shape {:?} along dimension {dim}",
                    index.shape(),
                    self.shape()
                ),
            ));
        }
        Tensor::from_op(
            Op::Gather { axis: d, op },
            vec![self.clone(), index.clone()],
            index.shape().to_vec(),
            self.dtype(),
            dev,
        )
    }

    /// A copy of `self` with `src` added at the positions `index` names along
    /// `dim` (`torch.scatter_add`); repeated indices accumulate.
    ///
    /// ```
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let base = Tensor::zeros(&[3], DType::F32, &dev)?;
    /// let idx = Tensor::from_vec(vec![0i64, 2, 0], &[3], &dev)?;
    /// let src = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3], &dev)?;
    /// assert_eq!(base.scatter_add(0, &idx, &src)?.to_vec::<f32>()?, vec![4.0, 0.0, 2.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn scatter_add(&self, dim: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        let dev = Tensor::same_device("scatter_add", &[self, index, src])?;
        check_index("scatter_add", index)?;
        if self.dim() == 0 {
            return Err(Error::shape("scatter_add", "cannot scatter into a scalar"));
        }
        let d = normalize_dim("scatter_add", dim, self.dim())?;
        let fits = index.dim() == self.dim()
            && src.dim() == self.dim()
            && (0..self.dim()).all(|i| {
                index.shape()[i] <= src.shape()[i]
                    && (i == d || index.shape()[i] <= self.shape()[i])
            });
        if !fits {
            return Err(Error::shape(
                "scatter_add",
                format!(
                    "index {:?} and src {:?} do not fit self {:?} along dimension {dim}",
                    index.shape(),
                    src.shape(),
                    self.shape()
                ),
            ));
        }
        let src = src.to_dtype(self.dtype())?;
        Tensor::from_op(
            Op::ScatterAdd { axis: d },
            vec![self.clone(), index.clone(), src],
            self.shape().to_vec(),
            self.dtype(),
            dev,
        )
    }
}
