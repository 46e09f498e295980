//! # ingot-core
//!
//! The foundation of [ingot](https://github.com/ingot-rs/ingot): lazy tensors,
//! the graph IR, autograd, the per-device compile cache and the CPU backend.
//! Users depend on the `ingot` facade crate, which re-exports everything here.
//!
//! ```
//! use ingot::{DType, Device, Tensor};
//! let dev = Device::cpu();
//! let w = Tensor::randn(&[3, 2], DType::F32, &dev)?.requires_grad_(true);
//! let x = Tensor::ones(&[4, 3], DType::F32, &dev)?;
//! let loss = x.matmul(&w)?.relu()?.sum_all()?;
//! loss.backward()?;
//! assert_eq!(w.grad().unwrap().shape(), &[3, 2]);
//! # Ok::<(), ingot::Error>(())
//! ```
//!
//! How it works: every op records a pending node; reading a value (or
//! [`eval`]) turns the pending nodes into one [`ir::Graph`], which the device
//! compiles once per distinct structure and replays afterwards. See
//! `DESIGN.md` in the repository for the whole architecture.

pub mod backend;
mod backprop;
pub mod cpu;
mod device;
mod dtype;
mod error;
mod eval;
mod grad_mode;
pub mod ir;
pub mod rng;
pub mod shape;
mod tensor;

pub use device::{DEFAULT_COMPILE_CACHE_CAPACITY, Device, Stats, stats};
pub use dtype::{DType, Element, HostData};
pub use error::{Error, Result};
pub use eval::{defer, eval};
pub use grad_mode::{is_eager, is_grad_enabled, no_grad, set_eager};
pub use rng::manual_seed;
pub use tensor::Tensor;
