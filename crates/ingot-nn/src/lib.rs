//! # ingot-nn
//!
//! `torch.nn` and `torch.optim` for ingot: the [`Module`] trait, layers,
//! losses, [`functional`] ops, initialization, optimizers and LR schedulers,
//! and state dicts that load from and save to PyTorch's safetensors files
//! with PyTorch's key names and layouts. Users reach it as `ingot::nn` and
//! `ingot::optim`.
//!
//! ```
//! use ingot::nn::{self, Module};
//! use ingot::optim::{Adam, AdamConfig, Optimizer};
//! use ingot::{DType, Device, Tensor};
//! let dev = Device::cpu();
//! let model = nn::Sequential::new().add(nn::Linear::new(4, 8, &dev)?).add(nn::ReLU::new()).add(nn::Linear::new(8, 3, &dev)?);
//! let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
//! let (x, y) = (Tensor::randn(&[16, 4], DType::F32, &dev)?, Tensor::zeros(&[16], DType::I64, &dev)?);
//! for _ in 0..3 {
//!     opt.zero_grad();
//!     let loss = nn::functional::cross_entropy(&model.forward(&x)?, &y, &Default::default())?;
//!     loss.backward()?;
//!     opt.step()?; // forward, backward and update run as one compiled graph
//! }
//! # Ok::<(), ingot::Error>(())
//! ```

pub mod functional;
pub mod init;
mod layers;
mod loss;
mod module;
pub mod optim;
mod parameter;
mod state_dict;

pub use layers::*;
pub use loss::{
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, Loss, MSELoss,
    NLLLoss, SmoothL1Loss,
};
pub use module::{Mode, Module, repr};
pub use parameter::{Buffer, Parameter};
pub use state_dict::{StateDict, write_atomically};
