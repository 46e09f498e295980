//! `ingot inspect CKPT`: what a checkpoint (or any safetensors state dict)
//! holds: tensor names, shapes, dtypes, parameter count, training progress.

use std::path::Path;

use ingot::Device;
use ingot::nn::StateDict;
use ingot::train::Checkpoint;

use crate::args::{Parsed, Spec};
use crate::failure::Failure;
use crate::run_info::RunInfo;

pub const SPEC: Spec = Spec {
    name: "inspect",
    about: "list the tensors and training state of a checkpoint",
    positional: "CKPT",
    arity: (1, 1),
    opts: &[],
    after: "CKPT is a checkpoint directory written by `ingot train`, or a .safetensors file\n\
            (PyTorch's safetensors.torch.save_file writes those).",
};

/// Names of state-dict entries that are buffers, not trained parameters
/// (PyTorch's BatchNorm running statistics).
fn is_buffer(name: &str) -> bool {
    ["running_mean", "running_var", "num_batches_tracked"]
        .iter()
        .any(|b| name.rsplit('.').next() == Some(b))
}

/// The tensor table and the parameter/buffer totals.
fn table(sd: &StateDict) -> String {
    let rows: Vec<[String; 4]> = sd
        .iter()
        .map(|(name, t)| {
            [
                name.to_string(),
                format!("{:?}", t.shape()),
                format!("{:?}", t.dtype()),
                t.numel().to_string(),
            ]
        })
        .collect();
    let header = ["name", "shape", "dtype", "values"].map(String::from);
    let widths: Vec<usize> = (0..4)
        .map(|c| {
            rows.iter()
                .chain([&header])
                .map(|r| r[c].len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String; 4]| {
        format!(
            "  {:w0$}  {:w1$}  {:w2$}  {:>w3$}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let mut out = line(&header);
    for r in &rows {
        out += &line(r);
    }
    let (mut params, mut buffers, mut bytes) = (0usize, 0usize, 0usize);
    for (name, t) in sd.iter() {
        bytes += t.numel() * t.dtype().size_in_bytes();
        if is_buffer(name) {
            buffers += t.numel();
        } else {
            params += t.numel();
        }
    }
    out += &format!(
        "parameters: {} values in {} tensors ({} bytes in all)",
        params,
        sd.len(),
        bytes
    );
    if buffers > 0 {
        out += &format!("; buffers (running statistics): {}", buffers);
    }
    out + "\n"
}

pub fn run(p: &Parsed) -> Result<(), Failure> {
    let path = Path::new(&p.positional[0]);
    let ckpt = Checkpoint::load(path, &Device::cpu())?;
    println!("{}", path.display());
    if let Ok(info) = RunInfo::from_checkpoint(&ckpt, path) {
        println!(
            "model: {} for {:?} inputs, {} classes; trained on {} with {} (lr {}, batch {}, seed {})",
            info.model,
            info.input_shape,
            info.class_names.len(),
            info.dataset,
            info.optimizer,
            info.lr,
            info.batch_size,
            info.seed
        );
    }
    let state = &ckpt.state;
    if let (Some(epochs), Some(steps)) = (state["epochs_done"].as_u64(), state["steps"].as_u64()) {
        let mut line = format!("progress: {epochs} epochs, {steps} optimizer steps");
        if let Some(last) = state["history"].as_array().and_then(|h| h.last()) {
            for key in ["train_loss", "val_loss", "val_accuracy"] {
                if let Some(v) = last["metrics"][key].as_f64() {
                    line += &format!(", {key} {v:.4}");
                }
            }
        }
        println!("{line}");
    }
    print!("{}", table(&ckpt.model));
    if let Some(opt) = &ckpt.optimizer {
        let values: usize = opt.tensors.iter().map(|(_, t)| t.numel()).sum();
        println!(
            "optimizer state: {} tensors, {} values",
            opt.tensors.len(),
            values
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot::nn::{BatchNorm1d, Module};

    #[test]
    fn counts_parameters_apart_from_running_statistics() {
        let sd = BatchNorm1d::new(4, &Device::cpu()).unwrap().state_dict();
        let t = table(&sd);
        assert!(t.contains("running_mean") && t.contains("I64"), "{t}");
        assert!(t.contains("parameters: 8 values in 5 tensors"), "{t}");
        assert!(t.contains("buffers (running statistics): 9"), "{t}");
    }
}
