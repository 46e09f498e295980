//! `ingot predict CKPT IMAGE...`: the most likely classes of image files,
//! with their probabilities.

use std::path::Path;

use ingot::Tensor;
use ingot::data::{Resize, Sample, SampleRng, Target, Transform, decode_image};
use ingot::nn::Module;

use crate::args::{DEVICE, Opt, Parsed, Spec};
use crate::failure::Failure;
use crate::run_info::load_model;

pub const SPEC: Spec = Spec {
    name: "predict",
    about: "classify image files with a trained model",
    positional: "CKPT IMAGE...",
    arity: (2, usize::MAX),
    opts: &[
        Opt {
            name: "top-k",
            value: "K",
            help: "How many classes to list per image (default: 3)",
        },
        Opt {
            name: "invert",
            value: "",
            help: "Invert the images first (dark digits on white paper, for MNIST models)",
        },
        DEVICE,
    ],
    after: "Images (PNG or JPEG) are scaled to [0, 1], turned to grey for one-channel models\n\
            and resized to the model's input, as the training data were.",
};

/// One image file as the model's input `[C, H, W]`.
fn load_image(path: &Path, shape: &[usize], invert: bool) -> Result<Vec<f32>, Failure> {
    let (rgb, rgb_shape) = decode_image(path)?;
    let (h, w) = (rgb_shape[1], rgb_shape[2]);
    let &[channels, th, tw] = shape else {
        return Err(Failure::run(format!(
            "the model's input {shape:?} is not an image [C, H, W]"
        )));
    };
    let mut pixels = match channels {
        3 => rgb,
        // ITU-R BT.601 luma, as PIL's convert("L").
        1 => (0..h * w)
            .map(|i| 0.299 * rgb[i] + 0.587 * rgb[h * w + i] + 0.114 * rgb[2 * h * w + i])
            .collect(),
        c => {
            return Err(Failure::run(format!(
                "the model takes {c}-channel images; only 1 (grey) and 3 (RGB) are supported"
            )));
        }
    };
    if invert {
        pixels.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    let sample = Sample::new(pixels, vec![channels, h, w], Target::Class(0));
    let sized = if (h, w) == (th, tw) {
        sample
    } else {
        Resize::new((th, tw)).apply(sample, &mut SampleRng::new(0, 0, 0))?
    };
    Ok(sized.features)
}

/// `name (p%)` for the `k` most likely classes, most likely first.
fn top_k(probs: &[f32], names: &[String], k: usize) -> String {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    order
        .iter()
        .take(k)
        .map(|&c| format!("{} ({:.2}%)", names[c], 100.0 * probs[c]))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(p: &Parsed) -> Result<(), Failure> {
    let device = p.device()?;
    let path = Path::new(&p.positional[0]);
    let (info, model) = load_model(path, &device)?;
    let k = p.count("top-k", 1)?.unwrap_or(3);
    let images = &p.positional[1..];
    let mut batch = Vec::new();
    for image in images {
        batch.extend(load_image(
            Path::new(image),
            &info.input_shape,
            p.switch("invert"),
        )?);
    }
    let mut shape = vec![images.len()];
    shape.extend_from_slice(&info.input_shape);
    let x = Tensor::from_vec(batch, &shape, &device)?;
    model.eval();
    let probs = ingot::no_grad(|| model.forward(&x)?.softmax(-1))?.to_vec::<f32>()?;
    let classes = info.class_names.len();
    for (image, row) in images.iter().zip(probs.chunks(classes)) {
        println!("{image}: {}", top_k(row, &info.class_names, k));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_most_likely_classes_first() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(top_k(&[0.2, 0.7, 0.1], &names, 2), "b (70.00%), a (20.00%)");
        assert_eq!(top_k(&[0.2, 0.7, 0.1], &names, 9).matches('%').count(), 3);
    }

    #[test]
    fn images_become_grey_resized_model_inputs() {
        let dir = std::env::temp_dir().join(format!("ingot-predict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("white.png");
        image::RgbImage::from_pixel(56, 56, image::Rgb([255, 255, 255]))
            .save(&path)
            .unwrap();
        let grey = load_image(&path, &[1, 28, 28], false).unwrap();
        assert_eq!(grey.len(), 28 * 28);
        assert!(grey.iter().all(|v| (v - 1.0).abs() < 1e-5));
        let inverted = load_image(&path, &[3, 28, 28], true).unwrap();
        assert!(inverted.len() == 3 * 28 * 28 && inverted.iter().all(|v| v.abs() < 1e-5));
        std::fs::write(dir.join("bad.png"), b"not a png").unwrap();
        let err = load_image(&dir.join("bad.png"), &[1, 28, 28], false).unwrap_err();
        assert!(err.to_string().contains("bad.png"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
