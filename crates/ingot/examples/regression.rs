//! Regression from a CSV file: predict a house price from its features with
//! an MLP, mean-squared error and Adam; report RMSE and R² on held-out rows.
//!
//! ```sh
//! cargo run --release -p ingot-ml --example regression
//! INGOT_EPOCHS=5 cargo run --release -p ingot-ml --example regression
//! ```
//!
//! The example writes its own CSV (a synthetic market where the price
//! depends non-linearly on the features, plus noise), the way a real one
//! would come out of a spreadsheet, then reads it back with `CsvDataset`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use ingot::data::{CsvDataset, DataLoader, Dataset, SampleRng, random_split};
use ingot::nn::{self, MSELoss, Module};
use ingot::optim::{Adam, AdamConfig};
use ingot::train::{ProgressMode, Task, Trainer, TrainerConfig};
use ingot::{Device, Result};

/// `rows` houses: area (100 m²), rooms, age (decades), distance to the
/// centre (10 km), and the price (a non-linear function of them, plus noise).
fn write_houses(path: &Path, rows: usize) -> std::io::Result<()> {
    let mut rng = SampleRng::new(42, 0, 0);
    let mut csv = String::from("area,rooms,age,distance,price\n");
    for _ in 0..rows {
        let area = 0.4 + 1.6 * rng.next_f32();
        let rooms = (1 + rng.below(6)) as f32;
        let age = 5.0 * rng.next_f32();
        let distance = 3.0 * rng.next_f32();
        let noise = 0.1 * (rng.next_f32() - 0.5);
        let price = 2.0 * area + 0.15 * rooms - 0.3 * age.sqrt() + 1.5 * (-distance).exp() + noise;
        writeln!(csv, "{area},{rooms},{age},{distance},{price}").unwrap();
    }
    std::fs::write(path, csv)
}

fn main() -> Result<()> {
    let epochs: usize = std::env::var("INGOT_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let path = std::env::temp_dir().join("ingot-example-houses.csv");
    write_houses(&path, 4000).map_err(|source| ingot::Error::Io {
        path: path.clone(),
        source,
    })?;
    let houses = CsvDataset::load_regression(&path, "price")?;
    println!(
        "{} rows, features {:?}",
        houses.len(),
        houses.feature_names()
    );

    let mut parts = random_split(Arc::new(houses), &[3200, 800], 0)?;
    let (val, train) = (parts.pop().unwrap(), parts.pop().unwrap());
    let train = DataLoader::new(train, 32).shuffle(true).seed(0);
    let val = DataLoader::new(val, 400);

    let model = nn::Sequential::new()
        .add(nn::Linear::new(4, 64, &dev)?)
        .add(nn::Tanh::new())
        .add(nn::Linear::new(64, 64, &dev)?)
        .add(nn::Tanh::new())
        .add(nn::Linear::new(64, 1, &dev)?);
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 3e-3,
            ..Default::default()
        },
    )?;
    let loss = MSELoss::default();
    let config = TrainerConfig {
        epochs,
        task: Task::Regression,
        progress: ProgressMode::Lines,
        ..Default::default()
    };
    let mut trainer = Trainer::new(&model, &mut opt, &loss, config);
    trainer.fit(&train, Some(&val))?;
    let m = trainer.evaluate(&val)?.metrics;
    println!(
        "held-out rows: RMSE {:.4}, MAE {:.4}, R² {:.4}",
        m["rmse"], m["mae"], m["r2"]
    );
    Ok(())
}
