//! A user-defined `Module`: a residual MLP block with layer norm, composed
//! into a model with ingot's layers, trained on the embedded MNIST subset.
//!
//! ```sh
//! cargo run --release -p ingot-ml --example custom_module
//! ```
//!
//! A module implements `forward`, names its children (or its own
//! parameters) and its type; parameters, PyTorch state-dict keys, train/eval
//! modes, saving and printing then come for free.

use ingot::data::{DataLoader, Mnist};
use ingot::nn::{self, CrossEntropyLoss, Module, StateDict};
use ingot::optim::{Adam, AdamConfig};
use ingot::train::{ProgressMode, Trainer, TrainerConfig};
use ingot::{Device, Result, Tensor};

/// `x + fc2(dropout(gelu(fc1(norm(x)))))`: a pre-norm residual block, as in
/// transformers' feed-forward layers.
struct ResidualBlock {
    norm: nn::LayerNorm,
    fc1: nn::Linear,
    act: nn::GELU,
    dropout: nn::Dropout,
    fc2: nn::Linear,
}

impl ResidualBlock {
    fn new(width: usize, hidden: usize, dev: &Device) -> Result<Self> {
        Ok(ResidualBlock {
            norm: nn::LayerNorm::new(&[width], dev)?,
            fc1: nn::Linear::new(width, hidden, dev)?,
            act: nn::GELU::new(),
            dropout: nn::Dropout::new(0.1),
            fc2: nn::Linear::new(hidden, width, dev)?,
        })
    }
}

impl Module for ResidualBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.fc1.forward(&self.norm.forward(x)?)?;
        let h = self
            .fc2
            .forward(&self.dropout.forward(&self.act.forward(&h)?)?)?;
        x.add(&h)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("norm".into(), &self.norm as &dyn Module),
            ("fc1".into(), &self.fc1),
            ("act".into(), &self.act),
            ("dropout".into(), &self.dropout),
            ("fc2".into(), &self.fc2),
        ]
    }

    fn type_name(&self) -> String {
        "ResidualBlock".into()
    }
}

fn main() -> Result<()> {
    let epochs: usize = std::env::var("INGOT_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let model = nn::Sequential::new()
        .add(nn::Flatten::new())
        .add(nn::Linear::new(784, 128, &dev)?)
        .add(ResidualBlock::new(128, 256, &dev)?)
        .add(ResidualBlock::new(128, 256, &dev)?)
        .add(nn::Linear::new(128, 10, &dev)?);
    println!("{}", nn::repr(&model));
    let keys = model.state_dict().keys();
    println!(
        "state-dict keys, as PyTorch names them: {} ... {}",
        keys[2],
        keys[keys.len() - 3]
    );

    let train = DataLoader::new(Mnist::embedded(true)?, 64)
        .shuffle(true)
        .seed(0)
        .num_workers(1);
    let test = DataLoader::new(Mnist::embedded(false)?, 500);
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )?;
    let loss = CrossEntropyLoss::default();
    let config = TrainerConfig {
        epochs,
        progress: ProgressMode::Lines,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&model, &mut opt, &loss, config);
    trainer.fit(&train, Some(&test))?;
    drop(trainer);

    // The weights round-trip through safetensors, dropout off in eval mode.
    let path = std::env::temp_dir().join("ingot-example-residual.safetensors");
    model.state_dict().save_safetensors(&path)?;
    model.eval();
    let x = Tensor::rand(&[4, 1, 28, 28], ingot::DType::F32, &dev)?;
    let before = model.forward(&x)?.to_vec::<f32>()?;
    model.load_state_dict(&StateDict::load_safetensors(&path, &dev)?, true)?;
    assert_eq!(before, model.forward(&x)?.to_vec::<f32>()?);
    println!("saved to {} and reloaded: same outputs", path.display());
    Ok(())
}
