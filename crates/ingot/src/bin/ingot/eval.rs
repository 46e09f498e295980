//! `ingot eval CKPT`: loss, accuracy and the confusion matrix of a trained
//! model on its data set's test split.

use std::path::{Path, PathBuf};

use ingot::data::{DataLoader, Dataset};
use ingot::nn::CrossEntropyLoss;
use ingot::train::{Task, evaluate};

use crate::args::{DEVICE, Opt, Parsed, Spec};
use crate::datasets::DataSetKind;
use crate::failure::Failure;
use crate::run_info::load_model;

pub const SPEC: Spec = Spec {
    name: "eval",
    about: "evaluate a checkpoint on its data set's test split",
    positional: "CKPT",
    arity: (1, 1),
    opts: &[
        Opt {
            name: "dataset",
            value: "NAME",
            help: "Evaluate on another data set with the same images (default: the checkpoint's)",
        },
        Opt {
            name: "data-dir",
            value: "DIR",
            help: "Where the data set's files are (default: where training found them)",
        },
        Opt {
            name: "split",
            value: "test|train",
            help: "Which split (default: test)",
        },
        Opt {
            name: "batch-size",
            value: "N",
            help: "Batch size (default: 500)",
        },
        DEVICE,
    ],
    after: "CKPT is a checkpoint directory written by `ingot train` (e.g. runs/embedded-mlp-1/checkpoint-best).",
};

pub fn run(p: &Parsed) -> Result<(), Failure> {
    let path = Path::new(&p.positional[0]);
    let device = p.device()?;
    let batch = p.count("batch-size", 1)?.unwrap_or(500);
    let (info, model) = load_model(path, &device)?;
    let dataset = p.get::<DataSetKind>("dataset")?.unwrap_or(info.dataset);
    if dataset.input_shape() != info.input_shape {
        return Err(Failure::usage(
            "eval",
            format!(
                "--dataset {dataset} has images {:?}, the model takes {:?}",
                dataset.input_shape(),
                info.input_shape
            ),
        ));
    }
    let train = match p.value("split").unwrap_or("test") {
        "test" => false,
        "train" => true,
        other => {
            return Err(Failure::usage(
                "eval",
                format!("--split {other:?}: expected test or train"),
            ));
        }
    };
    let dir = match p.value("data-dir") {
        Some(d) => PathBuf::from(d),
        None if dataset == info.dataset => info.data_dir.clone().unwrap_or_default(),
        None => dataset.default_dir(),
    };
    let data = dataset.load(&dir, train)?;
    let n = data.len();
    let loader = DataLoader::new(data, batch).device(&device);
    let classes = info.class_names.len();
    let task = Task::Classification {
        classes,
        top_k: 5.min(classes),
    };
    let result = evaluate(&model, &CrossEntropyLoss::default(), task, &loader)?;
    let m = |k: &str| result.metrics.get(k).copied().unwrap_or(f64::NAN);
    println!(
        "{} on {dataset} ({} split, {n} images) on {device}",
        info.model,
        if train { "train" } else { "test" }
    );
    println!("loss       {:.4}", m("loss"));
    println!("accuracy   {:.2}%", 100.0 * m("accuracy"));
    if classes > 5 {
        println!("top-5      {:.2}%", 100.0 * m("top5_accuracy"));
    }
    println!(
        "macro precision {:.4}  recall {:.4}  F1 {:.4}",
        m("precision"),
        m("recall"),
        m("f1")
    );
    if let Some(matrix) = result.confusion_matrix {
        print!("{}", confusion_table(&matrix, &info.class_names));
    }
    Ok(())
}

/// The confusion matrix as text: a row per true class, a column per
/// predicted one, both headed by class index; rows end with the class's
/// name where it is not just its index.
fn confusion_table(matrix: &[Vec<u64>], names: &[String]) -> String {
    let width = matrix
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(names.len().to_string().len());
    let mut out = String::from("confusion matrix (rows: true class, columns: predicted)\n");
    out += &format!("{:>width$} ", "");
    for c in 0..matrix.len() {
        out += &format!(" {c:>width$}");
    }
    out += "\n";
    for (t, row) in matrix.iter().enumerate() {
        out += &format!("{t:>width$} ");
        for v in row {
            out += &format!(" {v:>width$}");
        }
        match names.get(t).filter(|n| **n != t.to_string()) {
            Some(name) => out += &format!("  {name}\n"),
            None => out += "\n",
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confusion_table_aligns_counts() {
        let names = vec!["cat".to_string(), "dog".to_string()];
        let t = confusion_table(&[vec![12, 0], vec![3, 7]], &names);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "     0  1");
        assert_eq!(lines[2], " 0  12  0  cat");
        assert_eq!(lines[3], " 1   3  7  dog");
        let digits = vec!["0".to_string(), "1".to_string()];
        let t = confusion_table(&[vec![1, 0], vec![0, 1]], &digits);
        assert_eq!(t.lines().nth(2), Some("0  1 0"));
    }
}
