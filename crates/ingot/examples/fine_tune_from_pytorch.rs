//! Fine-tune a model trained in PyTorch: load its `safetensors` state dict
//! into the equivalent ingot model, check it gives PyTorch's accuracy, train
//! it further, and save it back for PyTorch.
//!
//! ```sh
//! cargo run --release -p ingot-ml --example fine_tune_from_pytorch
//! cargo run --release -p ingot-ml --example fine_tune_from_pytorch -- my_model.safetensors
//! ```
//!
//! The default file, `examples/data/pytorch_digits_0_4.safetensors`, holds
//! `nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))`
//! trained in PyTorch on the digits 0–4 only (made by
//! `examples/data/make_pytorch_model.py`, which prints its accuracy). It
//! knows nothing of 5–9 until ingot fine-tunes it on all ten digits.

use std::path::PathBuf;
use std::sync::Arc;

use ingot::data::{DataLoader, Dataset, Mnist, Subset};
use ingot::nn::{self, CrossEntropyLoss, Module, StateDict};
use ingot::optim::{Adam, AdamConfig};
use ingot::train::{ProgressMode, Task, Trainer, TrainerConfig, evaluate};
use ingot::{Device, Result};

fn main() -> Result<()> {
    let epochs: usize = std::env::var("INGOT_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/data/pytorch_digits_0_4.safetensors")
        });

    // The same architecture as the PyTorch model, so the keys (1.weight,
    // 1.bias, 3.weight, 3.bias) and shapes line up; strict loading reports
    // any key that does not.
    let model = nn::Sequential::new()
        .add(nn::Flatten::new())
        .add(nn::Linear::new(784, 64, &dev)?)
        .add(nn::ReLU::new())
        .add(nn::Linear::new(64, 10, &dev)?);
    model.load_state_dict(&StateDict::load_safetensors(&path, &dev)?, true)?;
    println!("loaded {}", path.display());

    let test = Arc::new(Mnist::embedded(false)?);
    let low: Vec<usize> = (0..test.len()).filter(|&i| test.labels()[i] < 5).collect();
    let test_low = DataLoader::new(Subset::new(test.clone(), low)?, 500);
    let all: Vec<usize> = (0..test.len()).collect();
    let test_all = DataLoader::new(Subset::new(test, all)?, 500);
    let loss = CrossEntropyLoss::default();
    let task = Task::Classification {
        classes: 10,
        top_k: 1,
    };
    let accuracy =
        |loader| -> Result<f64> { Ok(evaluate(&model, &loss, task, loader)?.metrics["accuracy"]) };
    println!(
        "as trained in PyTorch: digits 0-4 {:.2}%, all digits {:.2}%",
        100.0 * accuracy(&test_low)?,
        100.0 * accuracy(&test_all)?
    );

    let train = DataLoader::new(Mnist::embedded(true)?, 64)
        .shuffle(true)
        .seed(0)
        .num_workers(1);
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    )?;
    let config = TrainerConfig {
        epochs,
        progress: ProgressMode::Lines,
        ..Default::default()
    };
    Trainer::new(&model, &mut opt, &loss, config).fit(&train, None::<&DataLoader<Mnist>>)?;
    println!(
        "fine-tuned in ingot:   digits 0-4 {:.2}%, all digits {:.2}%",
        100.0 * accuracy(&test_low)?,
        100.0 * accuracy(&test_all)?
    );

    let out = std::env::temp_dir().join("ingot-fine-tuned.safetensors");
    model.state_dict().save_safetensors(&out)?;
    println!(
        "saved {}; in PyTorch: model.load_state_dict(safetensors.torch.load_file(path))",
        out.display()
    );
    Ok(())
}
