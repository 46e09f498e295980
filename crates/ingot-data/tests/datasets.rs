//! Real datasets and bad input.
//!
//! The full MNIST is read from the directory `INGOT_MNIST_DIR` names (the
//! four standard IDX files, gzipped or not). Without it the full-MNIST test
//! is skipped, saying so, unless `INGOT_REQUIRE_MNIST=1` (set by CI) makes
//! that a failure.

use std::io::Write;
use std::path::PathBuf;

use ingot::Error;
use ingot::data::{
    Cifar10, Cifar100, CsvDataset, Dataset, FashionMnist, ImageFolder, Mnist, Target,
};

fn mnist_dir() -> Option<PathBuf> {
    let required = std::env::var("INGOT_REQUIRE_MNIST").as_deref() == Ok("1");
    let dir = std::env::var_os("INGOT_MNIST_DIR").map(PathBuf::from);
    match dir {
        Some(dir) if dir.is_dir() => Some(dir),
        _ if required => panic!(
            "INGOT_REQUIRE_MNIST=1, but INGOT_MNIST_DIR ({dir:?}) names no directory with the full MNIST"
        ),
        _ => {
            eprintln!(
                "SKIPPED: full-MNIST checks (INGOT_MNIST_DIR is {dir:?}; set it to a directory with the four MNIST IDX files)"
            );
            None
        }
    }
}

fn histogram(labels: &[u8]) -> Vec<usize> {
    (0..10)
        .map(|d| labels.iter().filter(|&&l| l == d).count())
        .collect()
}

#[test]
fn full_mnist_has_the_known_counts_labels_and_pixels() {
    let Some(dir) = mnist_dir() else { return };
    let train = Mnist::load(&dir, true).unwrap();
    let test = Mnist::load(&dir, false).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(
        histogram(train.labels()),
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        histogram(test.labels()),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let sum = |m: &Mnist| m.pixels().iter().map(|&p| p as u64).sum::<u64>();
    assert_eq!((sum(&train), sum(&test)), (1_567_298_545, 264_923_200));
    let s = test.get(0).unwrap();
    assert_eq!(s.target, Target::Class(7), "the first test digit is a 7");
    assert!(s.features.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // The same files load as Fashion-MNIST's format.
    assert_eq!(FashionMnist::load(&dir, false).unwrap().len(), 10_000);
}

#[test]
fn the_embedded_subset_is_balanced_and_in_range() {
    let (train, test) = (
        Mnist::embedded(true).unwrap(),
        Mnist::embedded(false).unwrap(),
    );
    assert_eq!((train.len(), test.len()), (20_000, 1_000));
    for (h, n) in [
        (histogram(train.labels()), 20_000),
        (histogram(test.labels()), 1_000),
    ] {
        assert!(
            h.iter().all(|&c| c * 100 > n * 7 && c * 100 < n * 13),
            "every digit near a tenth: {h:?}"
        );
    }
}

/// A scratch directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("ingot-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
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
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn file_error(e: Error) -> (PathBuf, String) {
    match e {
        Error::File { path, msg } => (path, msg),
        Error::Io { path, source } => (path, source.to_string()),
        other => panic!("expected an error naming a file, got {other:?}"),
    }
}

#[test]
fn bad_mnist_files_are_named_errors() {
    let d = Scratch::new("bad-mnist");
    let images = idx(0x803, &[2, 2, 2], &[0; 8]);
    let labels = idx(0x801, &[2], &[1, 2]);
    // A valid pair loads (raw images, gzipped labels).
    d.file("t10k-images-idx3-ubyte", &images);
    d.file("t10k-labels-idx1-ubyte.gz", &gz(&labels));
    assert_eq!(Mnist::load(&d.0, false).unwrap().len(), 2);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "t10k-images-idx3-ubyte",
            idx(0x801, &[2, 2, 2], &[0; 8]),
            "wrong magic number",
        ),
        (
            "t10k-images-idx3-ubyte",
            idx(0x803, &[2, 2, 2], &[0; 5]),
            "truncated",
        ),
        (
            "t10k-images-idx3-ubyte",
            idx(0x803, &[3, 2, 2], &[0; 12]),
            "3 images but 2 labels",
        ),
        (
            "t10k-images-idx3-ubyte",
            gz(&images)[..20].to_vec(),
            "corrupt or truncated gzip",
        ),
        ("t10k-images-idx3-ubyte", vec![0, 0], "truncated"),
        (
            "t10k-images-idx3-ubyte",
            idx(0x803, &[u32::MAX, u32::MAX, u32::MAX], &[0; 8]),
            "which is too large",
        ),
        (
            "t10k-images-idx3-ubyte",
            idx(0x803, &[65536, 65536, 4096], &[0; 8]),
            "truncated",
        ),
        // A gzip bomb: 64 MiB of zeros behind a header of 8 pixels. It is
        // inflated only as far as the header's size (the message does not
        // know how much follows).
        (
            "t10k-images-idx3-ubyte.gz",
            gz(&idx(0x803, &[2, 2, 2], &vec![0; 64 << 20])),
            "too long: header says [2, 2, 2] (8 bytes) but more bytes follow",
        ),
    ];
    for (name, bytes, needle) in cases {
        // Only one images file at a time.
        let _ = std::fs::remove_file(d.0.join("t10k-images-idx3-ubyte"));
        let _ = std::fs::remove_file(d.0.join("t10k-images-idx3-ubyte.gz"));
        let p = d.file(name, &bytes);
        let (path, msg) = file_error(Mnist::load(&d.0, false).unwrap_err());
        assert!(msg.contains(needle), "{needle}: got {msg}");
        assert!(
            path == p || path.ends_with("t10k-labels-idx1-ubyte.gz"),
            "the error names {}",
            path.display()
        );
    }
    d.file("t10k-images-idx3-ubyte", &images);
    d.file(
        "t10k-labels-idx1-ubyte.gz",
        &gz(&idx(0x801, &[2], &[1, 12])),
    );
    assert!(
        file_error(Mnist::load(&d.0, false).unwrap_err())
            .1
            .contains("label 12")
    );
    let (path, msg) = file_error(Mnist::load(d.0.join("nowhere"), true).unwrap_err());
    assert!(path.ends_with("nowhere") && msg.contains("no such directory"));
    let (_, msg) = file_error(Mnist::load(&d.0, true).unwrap_err());
    assert!(
        msg.contains("train-images-idx3-ubyte"),
        "names the missing file: {msg}"
    );
}

fn cifar_records(n: usize, label_bytes: usize, label: u8) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.extend(std::iter::repeat_n(label, label_bytes));
        v.extend((0..3072).map(|p| ((p + i) % 256) as u8));
    }
    v
}

#[test]
fn cifar_binary_files_load_and_damage_is_reported() {
    let d = Scratch::new("cifar");
    let sub = d.0.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("test_batch.bin"), cifar_records(3, 1, 7)).unwrap();
    let test = Cifar10::load(&d.0, false).unwrap();
    assert_eq!(test.len(), 3);
    let s = test.get(2).unwrap();
    assert_eq!(
        (s.shape.clone(), s.target),
        (vec![3, 32, 32], Target::Class(7))
    );
    assert_eq!(
        s.features[0],
        2.0 / 255.0,
        "channel-major pixels follow the label byte"
    );
    let missing = file_error(Cifar10::load(&d.0, true).unwrap_err());
    assert!(missing.0.ends_with("data_batch_1.bin"));
    std::fs::write(sub.join("test_batch.bin"), &cifar_records(3, 1, 7)[..5000]).unwrap();
    assert!(
        file_error(Cifar10::load(&d.0, false).unwrap_err())
            .1
            .contains("whole number")
    );
    std::fs::write(sub.join("test_batch.bin"), cifar_records(1, 1, 10)).unwrap();
    assert!(
        file_error(Cifar10::load(&d.0, false).unwrap_err())
            .1
            .contains("label 10")
    );

    d.file("test.bin", &cifar_records(2, 2, 99));
    let c100 = Cifar100::load(&d.0, false).unwrap();
    assert_eq!(c100.get(1).unwrap().target, Target::Class(99));
}

#[test]
fn image_folders_load_classes_and_report_bad_images() {
    let d = Scratch::new("images");
    for (class, n) in [("bird", 2), ("apple", 1)] {
        std::fs::create_dir_all(d.0.join(class)).unwrap();
        for i in 0..n {
            let mut img = image::RgbImage::new(5, 4);
            img.put_pixel(0, 0, image::Rgb([255, 0, (i * 100) as u8]));
            let ext = if i == 0 { "png" } else { "jpg" };
            img.save(d.0.join(class).join(format!("{i}.{ext}")))
                .unwrap();
        }
    }
    d.file("notes.txt", b"not a class");
    let ds = ImageFolder::load(&d.0).unwrap();
    assert_eq!(ds.classes(), &["apple", "bird"]);
    assert_eq!(ds.len(), 3);
    let s = ds.get(1).unwrap();
    assert_eq!(
        (s.shape.clone(), s.target.clone()),
        (vec![3, 4, 5], Target::Class(1))
    );
    assert_eq!(s.features[0], 1.0, "red channel of the first pixel");
    std::fs::write(
        d.0.join("bird").join("1.jpg"),
        b"\xff\xd8 this is not a jpeg",
    )
    .unwrap();
    let bad = ds.get(2).unwrap_err();
    let (path, msg) = file_error(bad);
    assert!(
        path.ends_with("bird/1.jpg") && msg.contains("cannot decode"),
        "{msg}"
    );
    assert!(
        ImageFolder::load(d.0.join("apple")).is_err(),
        "a folder without class folders"
    );
}

#[test]
fn inconsistent_csv_rows_are_errors_with_line_numbers() {
    let d = Scratch::new("csv");
    let good = d.file("good.csv", b"f1,f2,label\n0.5,1,2\n-1,3e2,0\n\n");
    let ds = CsvDataset::load(&good, "label").unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds.get(1).unwrap().features, vec![-1.0, 300.0]);
    for (text, needle) in [
        ("f1,label\n1,0\n2,1,3\n", "line 3: 3 fields"),
        (
            "f1,label\n1,0\nx,1\n",
            "line 3: column \"f1\" is not a number",
        ),
        (
            "f1,label\n1,0.5\n",
            "line 2: label \"0.5\" is not a class index",
        ),
        ("f1,klass\n1,0\n", "no column named \"label\""),
        ("", "empty file"),
        ("f1,label\n", "no data rows"),
    ] {
        let p = d.file("bad.csv", text.as_bytes());
        let (path, msg) = file_error(CsvDataset::load(&p, "label").unwrap_err());
        assert_eq!(path, p);
        assert!(msg.contains(needle), "{needle}: got {msg}");
    }
}
