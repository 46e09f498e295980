//! # ingot
//!
//! A PyTorch-like deep-learning library for Rust. Tensors are lazy: ops
//! record a graph, and reading a value (or [`eval`]) compiles the whole
//! pending graph once per distinct structure and replays it afterwards, so a
//! training step runs as one compiled program.
//!
//! ```
//! use ingot::{DType, Device, Tensor};
//! let dev = Device::cpu();
//! ingot::manual_seed(0);
//! let w = Tensor::randn(&[4, 2], DType::F32, &dev)?.requires_grad_(true);
//! let x = Tensor::randn(&[8, 4], DType::F32, &dev)?;
//! let loss = x.matmul(&w)?.relu()?.mean_all()?;
//! loss.backward()?;
//! let g = w.grad().expect("w requires grad");
//! assert_eq!(g.shape(), &[4, 2]);
//! # Ok::<(), ingot::Error>(())
//! ```
//!
//! This crate is the facade: it re-exports `ingot-core` (tensors, autograd,
//! the CPU backend) at the top level, `ingot-nn` as [`nn`] and [`optim`],
//! `ingot-data` as [`data`] and `ingot-train` as [`train`]; it adds
//! [`device`] (a device by name) and the standard [`models`] of the `ingot`
//! command-line program, which this package also builds.

mod device_spec;
pub mod models;

pub use device_spec::device;
#[doc(inline)]
pub use ingot_core::*;
#[doc(inline)]
pub use ingot_data as data;
#[doc(inline)]
pub use ingot_nn as nn;
#[doc(inline)]
pub use ingot_nn::optim;
#[doc(inline)]
pub use ingot_train as train;

/// The Apple-GPU backend (facade feature `metal`, on by default):
/// [`metal::device`] on macOS, and on every OS
/// [`metal::simulated_device`], which runs graphs through the same
/// MPSGraph lowering with a CPU simulator.
#[cfg(feature = "metal")]
#[doc(inline)]
pub use ingot_metal as metal;

/// The README's code blocks, compiled and run as doctests so they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
