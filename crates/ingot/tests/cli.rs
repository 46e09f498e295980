//! The `ingot` program, run as a user runs it: training with its defaults,
//! the run directory, resume, eval/predict/inspect/bench, and errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A fresh directory for one test, removed when the test passes (a failed
/// test leaves it behind, to be looked at).
struct Workdir(PathBuf);

impl std::ops::Deref for Workdir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn workdir(name: &str) -> Workdir {
    let dir = std::env::temp_dir().join(format!("ingot-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Workdir(dir)
}

fn ingot(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ingot"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the ingot binary runs")
}

/// Runs a command that must succeed; returns its stdout.
fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = ingot(cwd, args);
    assert!(
        out.status.success(),
        "ingot {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(cwd: &Path, args: &[&str], code: i32) -> String {
    let out = ingot(cwd, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "ingot {args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// The arguments of a command line without quoting.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn summary(run: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn the_default_job_reaches_95_percent_and_writes_a_run_directory() {
    let dir = workdir("default");
    let stdout = ok(&dir, &["train", "--progress", "lines"]);
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let run = dir.join("runs/embedded-mlp-1");
    assert!(stdout.contains("runs/embedded-mlp-1"), "{stdout}");
    let s = summary(&run);
    let acc = s["test_accuracy"].as_f64().unwrap();
    assert!((0.95..=1.0).contains(&acc), "test accuracy {acc}");
    assert!(s["test_loss"].as_f64().unwrap() < 0.3);
    assert_eq!(s["epochs"], 10);
    assert!(s["train_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(s["device"], "cpu");
    assert_eq!(s["test_samples"], 1000);
    let jsonl = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 10);
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 11);
    let png = std::fs::read(run.join("plot.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    for ckpt in ["checkpoint-last", "checkpoint-best"] {
        for file in ["model.safetensors", "optimizer.safetensors", "state.json"] {
            assert!(run.join(ckpt).join(file).is_file(), "{ckpt}/{file}");
        }
    }
    // A second run picks the next free directory.
    ok(&dir, &["train", "--epochs", "1", "--progress", "quiet"]);
    assert!(dir.join("runs/embedded-mlp-2/summary.json").is_file());
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let dir = workdir("resume");
    let common = ["--progress", "quiet", "--val-split", "0.05", "--seed", "3"];
    let run = |args: &[&str]| ok(&dir, &[&["train"], args, &common].concat());
    run(&["--epochs", "1", "--out", "split"]);
    run(&["--resume", "split/checkpoint-last", "--epochs", "2"]);
    run(&["--epochs", "2", "--out", "whole"]);
    for file in ["model.safetensors", "optimizer.safetensors"] {
        let a = std::fs::read(dir.join("split/checkpoint-last").join(file)).unwrap();
        let b = std::fs::read(dir.join("whole/checkpoint-last").join(file)).unwrap();
        assert!(a == b, "{file} differs after resume");
    }
    let (a, b) = (summary(&dir.join("split")), summary(&dir.join("whole")));
    assert_eq!(a["test_loss"], b["test_loss"]);
    let log = std::fs::read_to_string(dir.join("split/metrics.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2, "the resumed run continues the log");
    // The time covers the whole run, not only the session after the resume.
    let epoch_seconds = |d: &str| -> f64 {
        std::fs::read_to_string(dir.join(d).join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["epoch_seconds"]
                    .as_f64()
                    .unwrap()
            })
            .sum()
    };
    let seconds = a["train_seconds"].as_f64().unwrap();
    assert!(
        seconds >= epoch_seconds("split"),
        "{seconds} s for the whole run"
    );
    // Resuming a finished run trains nothing and changes nothing.
    let before = snapshot(&dir.join("split"));
    let out = run(&["--resume", "split/checkpoint-last", "--epochs", "2"]);
    assert!(out.contains("nothing to train"), "{out}");
    assert!(
        before == snapshot(&dir.join("split")),
        "the finished run changed"
    );
    let err = fails(
        &dir,
        &words("train --resume split/checkpoint-last --model cnn"),
        2,
    );
    assert!(err.contains("--model cnn contradicts"), "{err}");
}

/// Every file under `dir` with its bytes, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_crash_at_any_step_of_checkpointing_leaves_a_run_that_resumes_exactly() {
    let dir = workdir("crash");
    let common = ["--progress", "quiet", "--epochs", "2", "--seed", "5"];
    ok(&dir, &[&["train", "--out", "whole"], &common[..]].concat());
    let expected = std::fs::read(dir.join("whole/checkpoint-last/model.safetensors")).unwrap();
    let mut outcomes = Vec::new();
    for at in 0.. {
        let run = format!("crash-{at}");
        let crashed = Command::new(env!("CARGO_BIN_EXE_ingot"))
            .args([&["train", "--out", &run], &common[..]].concat())
            .env("INGOT_CHECKPOINT_FAULT_AT", at.to_string())
            .current_dir(&*dir)
            .output()
            .unwrap();
        if crashed.status.success() {
            // Past the last step of the last save: the run finished.
            assert!(at > 20, "only {at} checkpoint steps in two epochs");
            break;
        }
        let stderr = String::from_utf8_lossy(&crashed.stderr);
        assert!(stderr.contains("aborting at checkpoint step"), "{stderr}");
        let last = format!("{run}/checkpoint-last");
        let resumed = ingot(&dir, &[&["train", "--resume", &last], &common[..]].concat());
        if !resumed.status.success() {
            // Killed before the first checkpoint-last was whole: there is
            // nothing to resume, and the error says so.
            let err = String::from_utf8_lossy(&resumed.stderr);
            assert!(err.contains("no checkpoint here"), "step {at}: {err}");
            outcomes.push("nothing to resume");
            continue;
        }
        let got = std::fs::read(dir.join(&last).join("model.safetensors")).unwrap();
        assert!(
            got == expected,
            "step {at}: the resumed run ended elsewhere"
        );
        assert!(summary(&dir.join(&run))["test_accuracy"].as_f64().is_some());
        let mut names: Vec<_> = std::fs::read_dir(dir.join(&run))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        names.sort();
        assert!(names.is_empty(), "step {at}: left {names:?}");
        outcomes.push("resumed");
    }
    let resumed = outcomes.iter().filter(|o| **o == "resumed").count();
    eprintln!(
        "{} crash points: {resumed} resumed to the uninterrupted weights, {} before any checkpoint-last",
        outcomes.len(),
        outcomes.len() - resumed
    );
    assert!(resumed > 0, "{outcomes:?}");
}

/// Writes test image `index` of the embedded MNIST as a PNG; returns its
/// label.
fn write_digit(index: usize, path: &Path) -> u8 {
    let test = ingot::data::Mnist::embedded(false).unwrap();
    let pixels = test.pixels()[index * 784..(index + 1) * 784].to_vec();
    image::GrayImage::from_raw(28, 28, pixels)
        .unwrap()
        .save(path)
        .unwrap();
    test.labels()[index]
}

#[test]
fn eval_predict_and_inspect_read_a_trained_checkpoint() {
    let dir = workdir("use");
    ok(&dir, &words("train --epochs 3 --out run --progress quiet"));
    let s = summary(&dir.join("run"));

    let eval = ok(&dir, &["eval", "run/checkpoint-last"]);
    let expected = format!(
        "accuracy   {:.2}%",
        100.0 * s["test_accuracy"].as_f64().unwrap()
    );
    assert!(eval.contains(&expected), "{eval}\nexpected {expected}");
    assert!(
        eval.contains("confusion matrix") && eval.contains("1000 images"),
        "{eval}"
    );

    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..8 {
        let path = dir.join(format!("digit{i}.png"));
        labels.push(write_digit(i, &path));
        images.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["predict", "run/checkpoint-last", "--top-k", "2"];
    args.extend(images.iter().map(String::as_str));
    let predicted = ok(&dir, &args);
    let lines: Vec<&str> = predicted.lines().collect();
    assert_eq!(lines.len(), 8, "{predicted}");
    let mut right = 0;
    for (line, label) in lines.iter().zip(&labels) {
        let (_, guesses) = line.rsplit_once(": ").unwrap();
        let guesses: Vec<(&str, f64)> = guesses
            .split(", ")
            .map(|g| {
                let (class, p) = g.split_once(" (").unwrap();
                (class, p.trim_end_matches("%)").parse().unwrap())
            })
            .collect();
        assert_eq!(guesses.len(), 2, "{line}");
        assert!(
            guesses[0].1 >= guesses[1].1 && guesses[0].1 <= 100.0,
            "{line}"
        );
        right += usize::from(guesses[0].0 == label.to_string());
    }
    assert!(right >= 7, "{right}/8 right:\n{predicted}");

    let inspect = ok(&dir, &["inspect", "run/checkpoint-best"]);
    for want in [
        "1.weight",
        "[256, 784]",
        "F32",
        "203530",
        "mlp",
        "optimizer state",
    ] {
        assert!(inspect.contains(want), "{want} missing from\n{inspect}");
    }
    let bare = ok(&dir, &["inspect", "run/checkpoint-best/model.safetensors"]);
    assert!(bare.contains("3.bias") && bare.contains("203530"), "{bare}");
}

/// A CIFAR-10 binary file of `n` records: label byte, then 3×32×32 pixels.
fn write_cifar(path: &Path, n: usize) {
    let bytes: Vec<u8> = (0..n)
        .flat_map(|i| {
            let mut rec = vec![(i % 10) as u8];
            rec.extend((0..3072).map(|p| ((p * 7 + i * 13) % 256) as u8));
            rec
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_cnn_trains_on_colour_images_of_another_size() {
    let dir = workdir("cifar");
    let data = dir.join("cifar");
    std::fs::create_dir_all(&data).unwrap();
    for i in 1..=5 {
        write_cifar(&data.join(format!("data_batch_{i}.bin")), 20);
    }
    write_cifar(&data.join("test_batch.bin"), 10);
    ok(
        &dir,
        &words(
            "train --dataset cifar10 --data-dir cifar --model cnn --epochs 1 --out run --progress quiet --batch-size 16",
        ),
    );
    let s = summary(&dir.join("run"));
    assert_eq!(
        (s["dataset"].as_str(), s["test_samples"].as_u64()),
        (Some("cifar10"), Some(10))
    );
    let inspect = ok(&dir, &["inspect", "run/checkpoint-last"]);
    assert!(inspect.contains("[16, 3, 5, 5]"), "{inspect}");
    let img = dir.join("car.png");
    image::RgbImage::from_pixel(40, 24, image::Rgb([200, 10, 10]))
        .save(&img)
        .unwrap();
    let predicted = ok(
        &dir,
        &["predict", "run/checkpoint-last", img.to_str().unwrap()],
    );
    let names = words("airplane automobile bird cat deer dog frog horse ship truck");
    assert!(names.iter().any(|n| predicted.contains(n)), "{predicted}");
}

#[test]
fn full_mnist_loads_from_its_directory() {
    // As in ingot-data's tests: INGOT_MNIST_DIR names the data; without
    // it the test is skipped, unless INGOT_REQUIRE_MNIST=1 (CI) says not to.
    let mnist = std::env::var_os("INGOT_MNIST_DIR").map(PathBuf::from);
    let Some(mnist) = mnist.filter(|d| d.is_dir()) else {
        assert!(
            std::env::var("INGOT_REQUIRE_MNIST").as_deref() != Ok("1"),
            "INGOT_REQUIRE_MNIST=1, but INGOT_MNIST_DIR names no directory with the full MNIST"
        );
        eprintln!(
            "SKIPPED full_mnist_loads_from_its_directory: INGOT_MNIST_DIR names no directory"
        );
        return;
    };
    let dir = workdir("mnist");
    let data = mnist.to_str().unwrap();
    let mut args = words("train --dataset mnist --epochs 1 --out run --progress quiet --data-dir");
    args.push(data);
    ok(&dir, &args);
    let s = summary(&dir.join("run"));
    assert_eq!(
        (s["train_samples"].as_u64(), s["test_samples"].as_u64()),
        (Some(54_000), Some(10_000))
    );
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.95, "{s}");
    // eval finds the data where training did, from another directory.
    let eval = ok(
        &std::env::temp_dir(),
        &["eval", dir.join("run/checkpoint-last").to_str().unwrap()],
    );
    assert!(eval.contains("10000 images"), "{eval}");
}

#[test]
fn bench_times_each_standard_model() {
    let dir = workdir("bench");
    let out = ok(&dir, &["bench", "--steps", "2", "--batch-size", "8"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("ms/step")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("mlp") && lines[1].starts_with("cnn"),
        "{out}"
    );
    assert!(out.contains("0 graphs compiled while timed"), "{out}");
}

#[test]
fn mistakes_get_one_clear_line_and_a_nonzero_status() {
    let dir = workdir("errors");
    let cases: &[(&[&str], i32, &str)] = &[
        (&["frobnicate"], 2, "unknown command \"frobnicate\""),
        (
            &["train", "--model", "resnet"],
            2,
            "--model \"resnet\": expected mlp or cnn",
        ),
        (&["train", "--epochs", "ten"], 2, "--epochs \"ten\""),
        (
            &["train", "--lr", "-1"],
            2,
            "--lr must be a positive number",
        ),
        (
            &["train", "--data-dir", "x"],
            2,
            "--data-dir needs --dataset",
        ),
        (
            &["train", "--dataset", "mnist", "--data-dir", "missing"],
            1,
            "missing does not exist",
        ),
        (&["train", "--device", "cuda:1"], 2, "no CUDA backend"),
        (&["train", "--device", "gpu"], 2, "known devices: cpu"),
        (
            &["train", "--epochs", "0"],
            2,
            "--epochs \"0\": expected a whole number of at least 1",
        ),
        (
            &["train", "--batch-size", "-5"],
            2,
            "--batch-size \"-5\": expected a whole number of at least 1",
        ),
        (
            &["eval", "nowhere", "--batch-size", "0"],
            2,
            "--batch-size \"0\": expected a whole number",
        ),
        (&["eval", "nowhere"], 1, "nowhere: no checkpoint here"),
        (
            &["inspect", "notes.txt"],
            1,
            "notes.txt: not a checkpoint: a checkpoint is a directory",
        ),
        (&["eval"], 2, "missing CKPT"),
        (&["predict", "nowhere"], 2, "missing CKPT IMAGE..."),
        (&["inspect", "a", "b"], 2, "unexpected argument \"b\""),
    ];
    std::fs::write(dir.join("notes.txt"), b"not a checkpoint").unwrap();
    let mut cases = cases.to_vec();
    if cfg!(not(target_os = "macos")) {
        cases.push((
            &["train", "--device", "metal"],
            2,
            "\"metal-sim\" runs the same",
        ));
    }
    for (args, code, want) in &cases {
        let err = fails(&dir, args, *code);
        assert!(err.contains(want), "ingot {args:?}: {err:?} lacks {want:?}");
    }
    // A corrupt checkpoint is named, not loaded.
    ok(&dir, &words("train --epochs 1 --out run --progress quiet"));
    let weights = dir.join("run/checkpoint-last/model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    for cmd in ["eval", "inspect"] {
        let err = fails(&dir, &[cmd, "run/checkpoint-last"], 1);
        assert!(
            err.contains("model.safetensors") && err.contains("truncated"),
            "{err}"
        );
    }
    let img = dir.join("x.png");
    std::fs::write(&img, b"not an image").unwrap();
    let err = fails(
        &dir,
        &["predict", "run/checkpoint-best", img.to_str().unwrap()],
        1,
    );
    assert!(err.contains("x.png") && err.contains("decode"), "{err}");
}

#[test]
fn every_command_has_help() {
    let dir = workdir("help");
    let top = ok(&dir, &["--help"]);
    for cmd in ["train", "eval", "predict", "inspect", "bench"] {
        assert!(top.contains(cmd), "{top}");
        let help = ok(&dir, &[cmd, "--help"]);
        assert!(help.starts_with(&format!("ingot {cmd} — ")), "{help}");
        assert!(help.contains("--help"), "{help}");
    }
    let train = ok(&dir, &["train", "--help"]);
    for flag in [
        "--model",
        "--dataset",
        "--data-dir",
        "--epochs",
        "--batch-size",
        "--lr",
        "--optimizer",
        "--device",
        "--seed",
        "--workers",
        "--out",
        "--resume",
    ] {
        assert!(train.contains(flag), "{flag} missing from train --help");
    }
    assert!(ok(&dir, &["--version"]).starts_with("ingot "));
    assert_eq!(ok(&dir, &["help", "train"]), train);
    assert!(fails(&dir, &["help", "nope"], 2).contains("unknown command \"nope\""));
}
