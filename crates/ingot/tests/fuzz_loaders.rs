//! Every loader against damaged input: each valid sample file is truncated at
//! every length (or a spread of lengths, for large files), has each byte
//! flipped, and has its size fields overwritten with absurd values; JSON
//! files also get absurd numbers in place of each of theirs. Each input must
//! end in a clean `Error` or a valid load: no panic, no hang, and no
//! allocation larger than the input can justify (a counting allocator
//! records the largest one).
//!
//! The loaders: safetensors, checkpoint directories (each of their files),
//! a checkpoint's `state.json` read by `Trainer::resume`, MNIST IDX files raw
//! and gzipped, PNG and JPEG images, and CSV.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ingot::data::{CsvDataset, Dataset, Mnist, decode_image};
use ingot::nn::{CrossEntropyLoss, Linear, Module, StateDict};
use ingot::optim::{Adam, AdamConfig};
use ingot::train::{Checkpoint, ProgressMode, Trainer, TrainerConfig};
use ingot::{Device, Tensor};

/// The system allocator, recording the largest single request.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the
// only addition is an atomic maximum, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (see above).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and the caller's contract for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Damaged versions of `good`, each with a description.
fn mutations(good: &[u8], json: bool) -> Vec<(String, Vec<u8>)> {
    let n = good.len();
    let mut out = Vec::new();
    // Truncations: every length of a small file; of a large one, every
    // length near either end and a spread in between.
    let mut cuts: Vec<usize> = if n <= 4096 {
        (0..n).collect()
    } else {
        (0..1024)
            .chain(n - 256..n)
            .chain((0..512).map(|k| k * n / 512))
            .collect()
    };
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        out.push((format!("truncated to {cut} bytes"), good[..cut].to_vec()));
    }
    // Byte flips: every byte of a small file, the first 2 KiB and a spread
    // of a large one.
    let flips: Vec<usize> = if n <= 4096 {
        (0..n).collect()
    } else {
        (0..2048).chain((0..1024).map(|k| k * n / 1024)).collect()
    };
    for i in flips {
        for mask in [0xff, 0x01] {
            let mut b = good.to_vec();
            b[i] ^= mask;
            out.push((format!("byte {i} ^ {mask:#x}"), b));
        }
    }
    // Absurd sizes over each 4-byte-aligned window of the first 512 bytes.
    for i in (0..n.min(512).saturating_sub(3)).step_by(4) {
        let absurd: [&[u8]; 5] = [
            &u32::MAX.to_be_bytes(),
            &u32::MAX.to_le_bytes(),
            &0x7fff_ffffu32.to_be_bytes(),
            &u64::MAX.to_le_bytes(),
            &(1u64 << 62).to_le_bytes(),
        ];
        for (k, bytes) in absurd.iter().enumerate() {
            if i + bytes.len() <= n {
                let mut b = good.to_vec();
                b[i..i + bytes.len()].copy_from_slice(bytes);
                out.push((format!("absurd size {k} at byte {i}"), b));
            }
        }
    }
    if json {
        out.extend(absurd_numbers(good));
    }
    out
}

/// `good` with each of its JSON numbers replaced by absurd ones.
fn absurd_numbers(good: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < good.len() {
        let starts = (good[i].is_ascii_digit() || good[i] == b'-')
            && (i == 0 || !good[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let end = (i + 1..good.len())
            .find(|&j| !(good[j].is_ascii_digit() || b".eE+-".contains(&good[j])))
            .unwrap_or(good.len());
        for absurd in [
            "18446744073709551615",
            "-1",
            "1e308",
            "-0",
            "99999999999999999999999",
            "0.5",
        ] {
            let mut b = good[..i].to_vec();
            b.extend_from_slice(absurd.as_bytes());
            b.extend_from_slice(&good[end..]);
            out.push((format!("number at byte {i} -> {absurd}"), b));
        }
        i = end;
    }
    out
}

/// What a loader's inputs came to.
#[derive(Default)]
struct Tally {
    inputs: usize,
    errors: usize,
    loaded: usize,
    panics: Vec<String>,
    largest_alloc: usize,
}

/// Runs `load` on every mutation of `good`; `bound` is the largest
/// allocation an input of `n` bytes may make.
fn fuzz(
    good: &[u8],
    json: bool,
    bound: impl Fn(usize) -> usize,
    mut load: impl FnMut(&[u8]) -> ingot::Result<()>,
) -> Tally {
    if let Err(e) = load(good) {
        panic!("the undamaged sample does not load: {e}");
    }
    let mut t = Tally::default();
    for (what, bytes) in mutations(good, json) {
        t.inputs += 1;
        LARGEST.store(0, Ordering::Relaxed);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(&bytes)));
        let largest = LARGEST.load(Ordering::Relaxed);
        t.largest_alloc = t.largest_alloc.max(largest);
        assert!(
            largest <= bound(bytes.len()),
            "{what}: an allocation of {largest} bytes for an input of {}",
            bytes.len()
        );
        match result {
            Ok(Ok(())) => t.loaded += 1,
            Ok(Err(_)) => t.errors += 1,
            Err(_) => t.panics.push(what),
        }
    }
    t
}

/// At most 8 times the input and 1 MiB more (buffers, a compiled graph).
fn small(n: usize) -> usize {
    8 * n + (1 << 20)
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ingot-fuzz-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(body);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn model(dev: &Device) -> Linear {
    Linear::new(6, 3, dev).unwrap()
}

/// A checkpoint of a trained-for-one-step model, with optimizer state.
fn checkpoint(dir: &Path) {
    let dev = Device::cpu();
    ingot::manual_seed(0);
    let m = model(&dev);
    let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
    let loss = CrossEntropyLoss::default();
    let config = TrainerConfig {
        epochs: 1,
        progress: ProgressMode::Quiet,
        ..Default::default()
    };
    Trainer::new(&m, &mut opt, &loss, config)
        .save_checkpoint(dir)
        .unwrap();
}

#[test]
fn every_loader_ends_damaged_input_in_a_clean_error() {
    let dev = Device::cpu();
    let scratch = Scratch::new("loaders");
    let mut table: Vec<(&str, Tally)> = Vec::new();

    // safetensors
    let mut sd = StateDict::new();
    sd.insert(
        "a.weight",
        Tensor::from_vec(vec![1.5f32; 12], &[3, 4], &dev).unwrap(),
    );
    sd.insert("a.step", Tensor::from_vec(vec![7i64], &[], &dev).unwrap());
    sd.insert(
        "mask",
        Tensor::from_vec(vec![true, false], &[2], &dev).unwrap(),
    );
    let st = scratch.0.join("sample.safetensors");
    sd.save_safetensors(&st).unwrap();
    let good = std::fs::read(&st).unwrap();
    let path = scratch.0.join("fuzz.safetensors");
    table.push((
        "safetensors",
        fuzz(&good, true, small, |b| {
            std::fs::write(&path, b).unwrap();
            StateDict::load_safetensors(&path, &dev).map(drop)
        }),
    ));

    // Checkpoint directories: each file in turn.
    let ckpt = scratch.0.join("ckpt");
    checkpoint(&ckpt);
    for file in ["model.safetensors", "optimizer.safetensors", "state.json"] {
        let good = std::fs::read(ckpt.join(file)).unwrap();
        let name = match file {
            "model.safetensors" => "checkpoint: model",
            "optimizer.safetensors" => "checkpoint: optimizer",
            _ => "checkpoint: state.json",
        };
        let tally = fuzz(&good, file.ends_with(".json"), small, |b| {
            std::fs::write(ckpt.join(file), b).unwrap();
            Checkpoint::load(&ckpt, &dev).map(drop)
        });
        std::fs::write(ckpt.join(file), &good).unwrap();
        table.push((name, tally));
    }

    // state.json read by Trainer::resume: every field checked.
    let good = std::fs::read(ckpt.join("state.json")).unwrap();
    let loss = CrossEntropyLoss::default();
    table.push((
        "Trainer::resume (state.json)",
        fuzz(&good, true, small, |b| {
            std::fs::write(ckpt.join("state.json"), b).unwrap();
            let m = model(&dev);
            let mut opt = Adam::new(m.parameters(), AdamConfig::default())?;
            let config = TrainerConfig {
                progress: ProgressMode::Quiet,
                ..Default::default()
            };
            Trainer::new(&m, &mut opt, &loss, config).resume(&ckpt)
        }),
    ));

    // MNIST IDX, raw and gzipped (the images; the labels stay valid).
    let mnist = Scratch::new("mnist");
    let pixels: Vec<u8> = (0..4 * 784).map(|i| (i % 251) as u8).collect();
    let images = idx(0x803, &[4, 28, 28], &pixels);
    mnist.write("t10k-labels-idx1-ubyte", &idx(0x801, &[4], &[1, 2, 3, 4]));
    let mnist_load = |name: &str, b: &[u8]| -> ingot::Result<()> {
        mnist.write(name, b);
        let m = Mnist::load(&mnist.0, false)?;
        (0..m.len()).try_for_each(|i| m.get(i).map(drop))
    };
    table.push((
        "MNIST IDX",
        fuzz(&images, false, small, |b| {
            mnist_load("t10k-images-idx3-ubyte", b)
        }),
    ));
    std::fs::remove_file(mnist.0.join("t10k-images-idx3-ubyte")).unwrap();
    // An IDX file inflates to what it declares, so a gzipped one may
    // allocate that much; no more than 64 KiB more than the raw sample.
    let raw_len = images.len();
    table.push((
        "MNIST IDX, gzipped",
        fuzz(
            &gz(&images),
            false,
            |_| small(raw_len),
            |b| mnist_load("t10k-images-idx3-ubyte.gz", b),
        ),
    ));

    // PNG and JPEG images: the decoder is bounded by ingot's image limits.
    let images_dir = Scratch::new("images");
    let png = images_dir.0.join("sample.png");
    image::RgbImage::from_fn(12, 8, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 30) as u8, 7])
    })
    .save(&png)
    .unwrap();
    let jpeg = images_dir.0.join("sample.jpg");
    image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([(x * 16) as u8, (y * 16) as u8, 99])
    })
    .save(&jpeg)
    .unwrap();
    // The decoder's buffers (8 bytes a pixel at most) and the F32 result
    // (12 bytes a pixel), for no more than MAX_IMAGE_PIXELS.
    let image_bound = |_| 12 * ingot::data::MAX_IMAGE_PIXELS as usize;
    for (name, sample) in [("PNG", png), ("JPEG", jpeg)] {
        let good = std::fs::read(&sample).unwrap();
        let path = images_dir.0.join(format!(
            "fuzz.{}",
            if name == "PNG" { "png" } else { "jpg" }
        ));
        table.push((
            name,
            fuzz(&good, false, image_bound, |b| {
                std::fs::write(&path, b).unwrap();
                decode_image(&path).map(drop)
            }),
        ));
    }

    // CSV
    let csv = b"x1,x2,label\n0.5,1.25,0\n-3,4e2,1\n7,8,2\n".to_vec();
    let path = scratch.0.join("fuzz.csv");
    table.push((
        "CSV",
        fuzz(&csv, true, small, |b| {
            std::fs::write(&path, b).unwrap();
            let d = CsvDataset::load(&path, "label")?;
            (0..d.len()).try_for_each(|i| d.get(i).map(drop))
        }),
    ));

    println!("| loader | inputs | clean errors | loaded | panics | largest allocation |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, t) in &table {
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            t.inputs,
            t.errors,
            t.loaded,
            t.panics.len(),
            t.largest_alloc
        );
    }
    for (name, t) in &table {
        assert!(
            t.panics.is_empty(),
            "{name} panicked on: {:?}",
            &t.panics[..t.panics.len().min(10)]
        );
        assert!(t.errors > 0, "{name}: no damaged input was rejected");
    }
}
