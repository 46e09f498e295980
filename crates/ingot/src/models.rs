//! The standard models of the `ingot` program (`--model mlp|cnn`), sized
//! from an input shape and a class count, with PyTorch's layouts and key
//! names so their checkpoints load in the equivalent `torch.nn.Sequential`.

use std::fmt;
use std::str::FromStr;

use ingot_core::{Device, Error, Result};
use ingot_nn as nn;

/// Which standard model to build.
///
/// ```
/// use ingot::models::ModelKind;
/// let kind: ModelKind = "cnn".parse()?;
/// assert_eq!(kind, ModelKind::Cnn);
/// assert_eq!(kind.to_string(), "cnn");
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// [`mlp`]: one hidden layer of 256 ReLU units.
    Mlp,
    /// [`cnn`]: two 5×5 convolutions with max pooling, then two linear
    /// layers (LeNet-like).
    Cnn,
}

impl ModelKind {
    /// Every kind, in the order the help text lists them.
    pub const ALL: [ModelKind; 2] = [ModelKind::Mlp, ModelKind::Cnn];

    /// The model of this kind for inputs `[C, H, W]` and `classes` outputs.
    ///
    /// ```
    /// use ingot::models::ModelKind;
    /// use ingot::nn::Module;
    /// let m = ModelKind::Mlp.build(&[1, 28, 28], 10, &ingot::Device::cpu())?;
    /// assert_eq!(m.state_dict().keys(), vec!["1.weight", "1.bias", "3.weight", "3.bias"]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn build(self, input: &[usize], classes: usize, device: &Device) -> Result<nn::Sequential> {
        match self {
            ModelKind::Mlp => mlp(input, classes, device),
            ModelKind::Cnn => cnn(input, classes, device),
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        })
    }
}

impl FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<ModelKind> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.to_string().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidArgument {
                op: "ModelKind",
                msg: format!("unknown model {s:?}; known models: mlp, cnn"),
            })
    }
}

fn check_classes(op: &'static str, classes: usize) -> Result<()> {
    if classes == 0 {
        return Err(Error::InvalidArgument {
            op,
            msg: "needs at least one class".into(),
        });
    }
    Ok(())
}

/// `Flatten → Linear(C·H·W, 256) → ReLU → Linear(256, classes)`.
///
/// ```
/// use ingot::nn::Module;
/// use ingot::{DType, Device, Tensor};
/// let dev = Device::cpu();
/// let m = ingot::models::mlp(&[1, 28, 28], 10, &dev)?;
/// let y = m.forward(&Tensor::zeros(&[2, 1, 28, 28], DType::F32, &dev)?)?;
/// assert_eq!(y.shape(), &[2, 10]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn mlp(input: &[usize], classes: usize, device: &Device) -> Result<nn::Sequential> {
    check_classes("mlp", classes)?;
    let features: usize = input.iter().product();
    if input.is_empty() || features == 0 {
        return Err(Error::Shape {
            op: "mlp",
            msg: format!("input shape {input:?} has no features"),
        });
    }
    Ok(nn::Sequential::new()
        .add(nn::Flatten::new())
        .add(nn::Linear::new(features, 256, device)?)
        .add(nn::ReLU::new())
        .add(nn::Linear::new(256, classes, device)?))
}

/// A LeNet-like network for images `[C, H, W]` (at least 12×12):
/// `Conv2d(C, 16, 5, padding 2) → ReLU → MaxPool2d(2) → Conv2d(16, 32, 5) →
/// ReLU → MaxPool2d(2) → Flatten → Linear(·, 128) → ReLU → Linear(128, classes)`.
///
/// ```
/// use ingot::nn::Module;
/// use ingot::{DType, Device, Tensor};
/// let dev = Device::cpu();
/// let m = ingot::models::cnn(&[3, 32, 32], 10, &dev)?;
/// let y = m.forward(&Tensor::zeros(&[2, 3, 32, 32], DType::F32, &dev)?)?;
/// assert_eq!(y.shape(), &[2, 10]);
/// assert!(ingot::models::cnn(&[1, 8, 8], 10, &dev).is_err());
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn cnn(input: &[usize], classes: usize, device: &Device) -> Result<nn::Sequential> {
    check_classes("cnn", classes)?;
    let &[channels, h, w] = input else {
        return Err(Error::Shape {
            op: "cnn",
            msg: format!("expects images [C, H, W], got input shape {input:?}"),
        });
    };
    // 5×5 "same" conv, pool, 5×5 "valid" conv, pool.
    let side = |n: usize| (n / 2).checked_sub(4).map(|v| v / 2).filter(|&v| v > 0);
    let (Some(oh), Some(ow)) = (side(h), side(w)) else {
        return Err(Error::Shape {
            op: "cnn",
            msg: format!("images of {h}×{w} are too small; the CNN needs at least 12×12"),
        });
    };
    if channels == 0 {
        return Err(Error::Shape {
            op: "cnn",
            msg: "images have no channels".into(),
        });
    }
    let conv = |cin, cout, padding| {
        let config = nn::Conv2dConfig {
            padding,
            ..Default::default()
        };
        nn::Conv2d::new(cin, cout, 5, config, device)
    };
    Ok(nn::Sequential::new()
        .add(conv(channels, 16, 2)?)
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(conv(16, 32, 0)?)
        .add(nn::ReLU::new())
        .add(nn::MaxPool2d::new(2))
        .add(nn::Flatten::new())
        .add(nn::Linear::new(32 * oh * ow, 128, device)?)
        .add(nn::ReLU::new())
        .add(nn::Linear::new(128, classes, device)?))
}
