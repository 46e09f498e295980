//! Memory stays flat over long training loops: the CPU buffer pool keeps
//! what steps reuse, not one uploaded batch per step, and a loop over many
//! batch shapes keeps a bounded cache. Measured through `ingot::stats()`
//! and the process's resident memory (Linux's `/proc/self/status`).

use std::sync::Mutex;

use ingot::nn::{self, CrossEntropyLoss, Loss, Module};
use ingot::optim::{Adam, AdamConfig, Optimizer};
use ingot::{Device, Tensor};

static SERIAL: Mutex<()> = Mutex::new(());

/// Resident memory in bytes, where the system says.
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Checks that resident memory now is less than 64 MB above `before`
/// (taken at `then`), or says that the check was skipped.
fn assert_rss_grew_less_than_64_mb(before: Option<u64>, then: &str, now: &str) {
    match (before, rss()) {
        (Some(a), Some(b)) => {
            eprintln!("RSS: {a} bytes at {then}, {b} at {now}");
            assert!(
                b < a + (64 << 20),
                "RSS grew by more than 64 MB: {a} -> {b}"
            );
        }
        _ => eprintln!("SKIPPED the RSS check: this system has no /proc/self/status"),
    }
}

fn mlp(dev: &Device) -> nn::Sequential {
    nn::Sequential::new()
        .add(nn::Linear::new(784, 256, dev).unwrap())
        .add(nn::ReLU::new())
        .add(nn::Linear::new(256, 10, dev).unwrap())
}

/// A batch made on the host and uploaded, as a data loader delivers one.
fn batch(step: usize, n: usize, dev: &Device) -> (Tensor, Tensor) {
    let x: Vec<f32> = (0..n * 784)
        .map(|i| ((i * 31 + step * 17) % 255) as f32 / 255.0)
        .collect();
    let y: Vec<i64> = (0..n).map(|i| ((i + step) % 10) as i64).collect();
    (
        Tensor::from_vec(x, &[n, 784], dev).unwrap(),
        Tensor::from_vec(y, &[n], dev).unwrap(),
    )
}

fn train_step(model: &nn::Sequential, opt: &mut Adam, x: &Tensor, y: &Tensor) {
    opt.zero_grad();
    let loss = CrossEntropyLoss::default()
        .forward(&model.forward(x).unwrap(), y)
        .unwrap();
    loss.backward().unwrap();
    opt.step().unwrap();
}

#[test]
fn a_training_loop_over_fresh_batches_keeps_memory_flat() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let model = mlp(&dev);
    let mut opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    let mut at_500 = None;
    for step in 0..3000 {
        let (x, y) = batch(step, 64, &dev);
        train_step(&model, &mut opt, &x, &y);
        if step == 500 {
            at_500 = Some((rss(), ingot::stats().bytes_cached));
        }
    }
    let (rss_500, cached_500) = at_500.unwrap();
    let cached_3000 = ingot::stats().bytes_cached;
    eprintln!("bytes_cached: {cached_500} at step 500, {cached_3000} at step 3000");
    assert!(
        cached_3000 * 2 < cached_500 * 3,
        "bytes_cached grew by more than 50%: {cached_500} -> {cached_3000}"
    );
    assert_rss_grew_less_than_64_mb(rss_500, "step 500", "step 3000");
}

#[test]
fn a_loop_over_many_batch_shapes_keeps_memory_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let model = mlp(&dev);
    let mut opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    let mut at_100 = None;
    for n in 1..=300 {
        let (x, y) = batch(n, n, &dev);
        train_step(&model, &mut opt, &x, &y);
        if n == 100 {
            at_100 = rss();
        }
    }
    let s = ingot::stats();
    eprintln!(
        "after 300 batch shapes: bytes_cached {}, executables {}",
        s.bytes_cached, s.cached_executables
    );
    // The largest step's live buffers are a few MB; the pool keeps at most
    // its working-set bound of them.
    assert!(s.bytes_cached < 32 << 20, "bytes_cached {}", s.bytes_cached);
    assert_rss_grew_less_than_64_mb(at_100, "100 shapes", "300");
}
