//! Multi-head attention and the transformer encoder layer, with PyTorch's
//! parameter layout (`in_proj_weight` packs the query, key and value
//! projections; `out_proj` is a `Linear`).

use ingot_core::{DType, Device, Error, Result, Tensor};

use super::{Dropout, LayerNorm, Linear, py_bool};
use crate::init;
use crate::{Mode, Module, Parameter, functional};

/// Multi-head attention (`torch.nn.MultiheadAttention`). As a [`Module`] it
/// is self-attention without masks; [`MultiheadAttention::attention`] takes
/// separate query, key and value and optional masks.
///
/// ```
/// use ingot::nn::{Module, MultiheadAttention};
/// use ingot::{DType, Device, Tensor};
/// let mha = MultiheadAttention::new(16, 4, true, &Device::cpu())?; // batch_first
/// let x = Tensor::randn(&[2, 5, 16], DType::F32, &Device::cpu())?;
/// assert_eq!(mha.forward(&x)?.shape(), &[2, 5, 16]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct MultiheadAttention {
    pub in_proj_weight: Parameter,
    pub in_proj_bias: Parameter,
    pub out_proj: Linear,
    embed_dim: usize,
    num_heads: usize,
    dropout: f64,
    batch_first: bool,
    mode: Mode,
}

impl MultiheadAttention {
    /// `num_heads` heads over `embed_dim` features (no dropout). With
    /// `batch_first`, inputs are `[batch, seq, embed]`, else
    /// `[seq, batch, embed]` as PyTorch's default.
    ///
    /// ```
    /// assert!(ingot::nn::MultiheadAttention::new(10, 3, true, &ingot::Device::cpu()).is_err());
    /// ```
    pub fn new(
        embed_dim: usize,
        num_heads: usize,
        batch_first: bool,
        device: &Device,
    ) -> Result<Self> {
        Self::with_dropout(embed_dim, num_heads, 0.0, batch_first, device)
    }

    /// As [`MultiheadAttention::new`], with dropout on the attention weights.
    ///
    /// ```
    /// let _ = ingot::nn::MultiheadAttention::with_dropout(8, 2, 0.1, true, &ingot::Device::cpu())?;
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_dropout(
        embed_dim: usize,
        num_heads: usize,
        dropout: f64,
        batch_first: bool,
        device: &Device,
    ) -> Result<Self> {
        if num_heads == 0 || !embed_dim.is_multiple_of(num_heads) {
            return Err(Error::InvalidArgument {
                op: "MultiheadAttention",
                msg: format!("embed_dim {embed_dim} must be divisible by num_heads {num_heads}"),
            });
        }
        let in_proj_weight = Parameter::new(
            "in_proj_weight",
            Tensor::zeros(&[3 * embed_dim, embed_dim], DType::F32, device)?,
        );
        init::xavier_uniform_(&in_proj_weight, 1.0)?;
        let in_proj_bias = Parameter::new(
            "in_proj_bias",
            Tensor::zeros(&[3 * embed_dim], DType::F32, device)?,
        );
        let out_proj = Linear::new(embed_dim, embed_dim, device)?;
        if let Some(b) = &out_proj.bias {
            init::zeros_(b)?;
        }
        Ok(MultiheadAttention {
            in_proj_weight,
            in_proj_bias,
            out_proj,
            embed_dim,
            num_heads,
            dropout,
            batch_first,
            mode: Mode::default(),
        })
    }

    /// Attention of `query` over `key`/`value`. `attn_mask` (`[L, S]` or
    /// `[batch * heads, L, S]`) is either `Bool`, where `true` blocks a
    /// position, or a float added to the scores; `key_padding_mask`
    /// (`[batch, S]`, `Bool`) blocks padded keys. Returns the output and,
    /// with `need_weights`, the attention weights averaged over heads
    /// (`[batch, L, S]`).
    ///
    /// ```
    /// use ingot::nn::MultiheadAttention;
    /// use ingot::{DType, Device, Tensor};
    /// let dev = Device::cpu();
    /// let mha = MultiheadAttention::new(8, 2, true, &dev)?;
    /// let q = Tensor::randn(&[1, 3, 8], DType::F32, &dev)?;
    /// let kv = Tensor::randn(&[1, 4, 8], DType::F32, &dev)?;
    /// let (out, w) = mha.attention(&q, &kv, &kv, None, None, true)?;
    /// assert_eq!((out.shape(), w.unwrap().shape()), (&[1, 3, 8][..], &[1, 3, 4][..]));
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn attention(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        attn_mask: Option<&Tensor>,
        key_padding_mask: Option<&Tensor>,
        need_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let e = self.embed_dim;
        for t in [query, key, value] {
            if t.dim() != 3 || t.shape()[2] != e {
                return Err(Error::Shape {
                    op: "MultiheadAttention",
                    msg: format!(
                        "expects inputs of rank 3 ending in {e}, got {:?}",
                        t.shape()
                    ),
                });
            }
        }
        let to_batch_first = |t: &Tensor| {
            if self.batch_first {
                Ok(t.clone())
            } else {
                t.transpose(0, 1)
            }
        };
        let (q, k, v) = (
            to_batch_first(query)?,
            to_batch_first(key)?,
            to_batch_first(value)?,
        );
        let (b, l, s) = (
            q.shape()[0] as isize,
            q.shape()[1] as isize,
            k.shape()[1] as isize,
        );
        let (h, d) = (self.num_heads as isize, (e / self.num_heads) as isize);
        let w = self.in_proj_weight.tensor();
        let bias = self.in_proj_bias.tensor();
        let project = |x: &Tensor, i: usize, len: isize| -> Result<Tensor> {
            let wi = w.narrow(0, i * e, e)?;
            let bi = bias.narrow(0, i * e, e)?;
            functional::linear(x, &wi, Some(&bi))?
                .reshape(&[b, len, h, d])?
                .permute(&[0, 2, 1, 3])
        };
        let (q, k, v) = (project(&q, 0, l)?, project(&k, 1, s)?, project(&v, 2, s)?);
        let mut scores = q
            .matmul(&k.transpose(-2, -1)?)?
            .mul_scalar(1.0 / (d as f64).sqrt())?;
        if let Some(mask) = attn_mask {
            let mask = if mask.dim() == 3 {
                mask.reshape(&[b, h, l, s])?
            } else {
                mask.clone()
            };
            scores = apply_mask(&scores, &mask)?;
        }
        if let Some(pad) = key_padding_mask {
            if pad.shape() != [b as usize, s as usize] {
                return Err(Error::Shape {
                    op: "MultiheadAttention",
                    msg: format!("key_padding_mask must be [{b}, {s}], got {:?}", pad.shape()),
                });
            }
            scores = apply_mask(&scores, &pad.reshape(&[b, 1, 1, s])?)?;
        }
        let weights =
            functional::dropout(&scores.softmax(-1)?, self.dropout, self.mode.is_training())?;
        let out = weights
            .matmul(&v)?
            .permute(&[0, 2, 1, 3])?
            .reshape(&[b, l, e as isize])?;
        let out = self.out_proj.forward(&out)?;
        let out = if self.batch_first {
            out
        } else {
            out.transpose(0, 1)?
        };
        let avg = if need_weights {
            Some(weights.mean(&[1], false)?)
        } else {
            None
        };
        Ok((out, avg))
    }
}

/// Blocks (`Bool` mask, `true` = blocked) or offsets (float mask) scores.
fn apply_mask(scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if mask.dtype() == DType::Bool {
        let blocked = scores.full_like(f64::NEG_INFINITY)?;
        Tensor::where_cond(mask, &blocked, scores)
    } else {
        scores.add(mask)
    }
}

impl Module for MultiheadAttention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.attention(x, x, x, None, None, false)?.0)
    }
    fn own_parameters(&self) -> Vec<Parameter> {
        vec![self.in_proj_weight.clone(), self.in_proj_bias.clone()]
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("out_proj".into(), &self.out_proj)]
    }
    fn type_name(&self) -> String {
        "MultiheadAttention".into()
    }
    fn mode(&self) -> Option<&Mode> {
        Some(&self.mode)
    }
}

/// The feed-forward activation of a transformer layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    #[default]
    Relu,
    Gelu,
}

/// Options of [`TransformerEncoderLayer`]; `Default` is PyTorch's
/// (feed-forward 2048, dropout 0.1, ReLU, eps 1e-5, sequence-first, post-norm).
///
/// ```
/// let c = ingot::nn::TransformerEncoderLayerConfig { batch_first: true, ..Default::default() };
/// assert_eq!(c.dim_feedforward, 2048);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerEncoderLayerConfig {
    pub dim_feedforward: usize,
    pub dropout: f64,
    pub activation: Activation,
    pub layer_norm_eps: f64,
    pub batch_first: bool,
    pub norm_first: bool,
}

impl Default for TransformerEncoderLayerConfig {
    fn default() -> Self {
        TransformerEncoderLayerConfig {
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
        }
    }
}

/// Self-attention plus a feed-forward block, each with a residual and layer
/// norm (`torch.nn.TransformerEncoderLayer`).
///
/// ```
/// use ingot::nn::{Module, TransformerEncoderLayer, TransformerEncoderLayerConfig};
/// use ingot::{DType, Device, Tensor};
/// let config = TransformerEncoderLayerConfig { dim_feedforward: 32, batch_first: true, ..Default::default() };
/// let layer = TransformerEncoderLayer::new(16, 4, config, &Device::cpu())?;
/// let x = Tensor::randn(&[2, 6, 16], DType::F32, &Device::cpu())?;
/// assert_eq!(layer.forward_with_mask(&x, None, true)?.shape(), &[2, 6, 16]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    dropout1: Dropout,
    dropout2: Dropout,
    config: TransformerEncoderLayerConfig,
}

impl TransformerEncoderLayer {
    /// A layer of width `d_model` with `nhead` attention heads.
    ///
    /// ```
    /// use ingot::nn::TransformerEncoderLayer;
    /// let layer = TransformerEncoderLayer::new(8, 2, Default::default(), &ingot::Device::cpu())?;
    /// assert_eq!(layer.linear1.weight.shape(), vec![2048, 8]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn new(
        d_model: usize,
        nhead: usize,
        config: TransformerEncoderLayerConfig,
        device: &Device,
    ) -> Result<Self> {
        let c = config;
        Ok(TransformerEncoderLayer {
            self_attn: MultiheadAttention::with_dropout(
                d_model,
                nhead,
                c.dropout,
                c.batch_first,
                device,
            )?,
            linear1: Linear::new(d_model, c.dim_feedforward, device)?,
            dropout: Dropout::new(c.dropout),
            linear2: Linear::new(c.dim_feedforward, d_model, device)?,
            norm1: LayerNorm::with_options(&[d_model], c.layer_norm_eps, true, device)?,
            norm2: LayerNorm::with_options(&[d_model], c.layer_norm_eps, true, device)?,
            dropout1: Dropout::new(c.dropout),
            dropout2: Dropout::new(c.dropout),
            config,
        })
    }

    /// The layer with an optional attention mask (as in
    /// [`MultiheadAttention::attention`]) and, with `is_causal`, a causal
    /// mask blocking attention to later positions.
    ///
    /// ```
    /// # use ingot::nn::{TransformerEncoderLayer, TransformerEncoderLayerConfig};
    /// # use ingot::{DType, Device, Tensor};
    /// let config = TransformerEncoderLayerConfig { dim_feedforward: 16, dropout: 0.0, ..Default::default() };
    /// let layer = TransformerEncoderLayer::new(8, 2, config, &Device::cpu())?;
    /// let x = Tensor::randn(&[5, 1, 8], DType::F32, &Device::cpu())?; // [seq, batch, d]
    /// let y = layer.forward_with_mask(&x, None, true)?;
    /// // The first position only sees itself: changing later ones leaves it alone.
    /// let x2 = Tensor::cat(&[&x.narrow(0, 0, 1)?, &x.narrow(0, 1, 4)?.mul_scalar(3.0)?], 0)?;
    /// let y2 = layer.forward_with_mask(&x2, None, true)?;
    /// let first = |t: &Tensor| t.narrow(0, 0, 1).and_then(|t| t.to_vec::<f32>());
    /// assert_eq!(first(&y)?, first(&y2)?);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn forward_with_mask(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        is_causal: bool,
    ) -> Result<Tensor> {
        let seq_dim = if self.config.batch_first { 1 } else { 0 };
        let causal = if is_causal {
            let n = x.shape().get(seq_dim).copied().unwrap_or(0);
            let i = Tensor::arange(0.0, n as f64, 1.0, DType::I64, x.device())?;
            Some(i.unsqueeze(0)?.gt(&i.unsqueeze(1)?)?)
        } else {
            None
        };
        let mask = match (mask, &causal) {
            (Some(m), Some(c)) if m.dtype() == DType::Bool => Some(m.logical_or(c)?),
            (Some(m), Some(c)) => Some(apply_mask(m, c)?),
            (Some(m), None) => Some(m.clone()),
            (None, c) => c.clone(),
        };
        let sa = |t: &Tensor| -> Result<Tensor> {
            self.dropout1.forward(
                &self
                    .self_attn
                    .attention(t, t, t, mask.as_ref(), None, false)?
                    .0,
            )
        };
        let ff = |t: &Tensor| -> Result<Tensor> {
            let hidden = self.linear1.forward(t)?;
            let hidden = match self.config.activation {
                Activation::Relu => hidden.relu()?,
                Activation::Gelu => hidden.gelu()?,
            };
            self.dropout2
                .forward(&self.linear2.forward(&self.dropout.forward(&hidden)?)?)
        };
        if self.config.norm_first {
            let x = x.add(&sa(&self.norm1.forward(x)?)?)?;
            x.add(&ff(&self.norm2.forward(&x)?)?)
        } else {
            let x = self.norm1.forward(&x.add(&sa(x)?)?)?;
            self.norm2.forward(&x.add(&ff(&x)?)?)
        }
    }
}

impl Module for TransformerEncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with_mask(x, None, false)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("self_attn".into(), &self.self_attn as &dyn Module),
            ("linear1".into(), &self.linear1),
            ("dropout".into(), &self.dropout),
            ("linear2".into(), &self.linear2),
            ("norm1".into(), &self.norm1),
            ("norm2".into(), &self.norm2),
            ("dropout1".into(), &self.dropout1),
            ("dropout2".into(), &self.dropout2),
        ]
    }
    fn type_name(&self) -> String {
        "TransformerEncoderLayer".into()
    }
    fn extra_repr(&self) -> String {
        format!(
            "batch_first={}, norm_first={}",
            py_bool(self.config.batch_first),
            py_bool(self.config.norm_first)
        )
    }
}
