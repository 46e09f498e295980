//! `Embedding`.

use ingot_core::{DType, Device, Error, Result, Tensor};

use crate::init;
use crate::{Module, Parameter};

/// A lookup table of `num_embeddings` vectors of size `embedding_dim`
/// (`torch.nn.Embedding`, weights drawn from `N(0, 1)`). The input is an
/// `I64` tensor of indices of any shape; the output appends `embedding_dim`.
///
/// ```
/// use ingot::nn::{Embedding, Module};
/// use ingot::{Device, Tensor};
/// let e = Embedding::new(10, 3, &Device::cpu())?;
/// let idx = Tensor::from_vec(vec![1i64, 4, 4, 9], &[2, 2], &Device::cpu())?;
/// assert_eq!(e.forward(&idx)?.shape(), &[2, 2, 3]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Embedding {
    pub weight: Parameter,
    num_embeddings: usize,
    embedding_dim: usize,
}

impl Embedding {
    /// A table of `num_embeddings` vectors of size `embedding_dim`.
    ///
    /// ```
    /// let e = ingot::nn::Embedding::new(5, 2, &ingot::Device::cpu())?;
    /// assert_eq!(e.weight.shape(), vec![5, 2]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(num_embeddings: usize, embedding_dim: usize, device: &Device) -> Result<Self> {
        let weight = Parameter::new(
            "weight",
            Tensor::zeros(&[num_embeddings, embedding_dim], DType::F32, device)?,
        );
        init::normal_(&weight, 0.0, 1.0)?;
        Ok(Embedding {
            weight,
            num_embeddings,
            embedding_dim,
        })
    }
}

impl Module for Embedding {
    fn forward(&self, idx: &Tensor) -> Result<Tensor> {
        if idx.dtype() != DType::I64 {
            return Err(Error::DType {
                op: "Embedding",
                msg: format!("indices must be int64, got {}", idx.dtype()),
            });
        }
        let rows = self
            .weight
            .tensor()
            .index_select_as("embedding", 0, &idx.reshape(&[-1])?)?;
        let mut shape: Vec<isize> = idx.shape().iter().map(|&d| d as isize).collect();
        shape.push(self.embedding_dim as isize);
        rows.reshape(&shape)
    }
    fn own_parameters(&self) -> Vec<Parameter> {
        vec![self.weight.clone()]
    }
    fn type_name(&self) -> String {
        "Embedding".into()
    }
    fn extra_repr(&self) -> String {
        format!("{}, {}", self.num_embeddings, self.embedding_dim)
    }
}
