//! The loader: seeded shuffling, per-epoch coverage, workers delivering
//! exactly what the calling thread would, transforms against hand-computed
//! values, and combinators.

use std::sync::Arc;

use ingot::data::{
    CenterCrop, Compose, ConcatDataset, DataLoader, Dataset, Mnist, Normalize, RandomCrop,
    RandomHorizontalFlip, Resize, Sample, SampleRng, Subset, Target, TensorDataset, Transform,
    random_split,
};
use ingot::{DType, Device, Result, Tensor};

/// Sample `i` is the single value `i`, class `i % 3`.
struct Numbers(usize);

impl Dataset for Numbers {
    type Item = Sample;
    fn len(&self) -> usize {
        self.0
    }
    fn get(&self, i: usize) -> Result<Sample> {
        Ok(Sample::new(
            vec![i as f32],
            vec![1],
            Target::Class((i % 3) as i64),
        ))
    }
}

fn epoch_values<D: Dataset<Item = Sample> + 'static>(loader: &DataLoader<D>) -> Vec<Vec<f32>> {
    loader
        .iter()
        .map(|b| b.unwrap().0.to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn shuffling_is_seeded_and_each_epoch_covers_everything_once() {
    let make = |seed| DataLoader::new(Numbers(103), 10).shuffle(true).seed(seed);
    let (a, b) = (make(5), make(5));
    let (e0, e1) = (epoch_values(&a), epoch_values(&a));
    assert_eq!(e0, epoch_values(&b), "same seed, same first epoch");
    assert_eq!(e1, epoch_values(&b), "same seed, same second epoch");
    assert_ne!(e0, e1, "each epoch has a new order");
    assert_ne!(e0, epoch_values(&make(6)), "another seed, another order");
    for epoch in [&e0, &e1] {
        let mut all: Vec<f32> = epoch.iter().flatten().copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(
            all,
            (0..103).map(|i| i as f32).collect::<Vec<_>>(),
            "every index exactly once"
        );
        assert_eq!(
            epoch.last().unwrap().len(),
            3,
            "the last batch holds the remainder"
        );
    }
    // Epochs can be replayed: set_epoch restores the order of that epoch.
    a.set_epoch(1);
    assert_eq!(epoch_values(&a), e1);
    let dropped = DataLoader::new(Numbers(103), 10).drop_last(true);
    assert_eq!((dropped.len(), dropped.iter().count()), (10, 10));
    let plain = epoch_values(&DataLoader::new(Numbers(5), 2));
    assert_eq!(
        plain,
        vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0]],
        "no shuffle: dataset order"
    );
}

fn augmented(workers: usize) -> DataLoader<Mnist> {
    DataLoader::new(Mnist::embedded(false).unwrap(), 64)
        .shuffle(true)
        .seed(3)
        .num_workers(workers)
        .transform(Compose::new(vec![
            Box::new(RandomCrop::new((28, 28), 2)),
            Box::new(RandomHorizontalFlip::new(0.5)),
        ]))
}

#[test]
fn workers_deliver_exactly_the_batches_of_the_calling_thread() {
    let reference = augmented(0);
    let expected: Vec<(Vec<f32>, Vec<i64>)> = reference
        .iter()
        .map(|b| {
            b.map(|(x, y)| (x.to_vec().unwrap(), y.to_vec().unwrap()))
                .unwrap()
        })
        .collect();
    for workers in [1, 2, 3] {
        let loader = augmented(workers);
        let got: Vec<(Vec<f32>, Vec<i64>)> = loader
            .iter()
            .map(|b| {
                b.map(|(x, y)| (x.to_vec().unwrap(), y.to_vec().unwrap()))
                    .unwrap()
            })
            .collect();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "{workers} workers changed the batches");
    }
    // Stopping early (dropping the iterator) ends the workers.
    let loader = augmented(2);
    let first = loader.iter().next().unwrap().unwrap();
    assert_eq!(first.0.shape(), &[64, 1, 28, 28]);
    assert_eq!(loader.iter().take(3).count(), 3);
}

#[test]
fn batches_are_typed_and_shaped_like_pytorch() {
    let loader = DataLoader::new(Mnist::embedded(false).unwrap(), 128).num_workers(2);
    let (x, y) = loader.iter().next().unwrap().unwrap();
    assert_eq!((x.shape(), x.dtype()), (&[128, 1, 28, 28][..], DType::F32));
    assert_eq!((y.shape(), y.dtype()), (&[128][..], DType::I64));
    let values = x.to_vec::<f32>().unwrap();
    assert!(values.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // Regression targets become [B, k] floats.
    let dev = Device::cpu();
    let features = Tensor::arange(0.0, 12.0, 1.0, DType::F32, &dev)
        .unwrap()
        .reshape(&[6, 2])
        .unwrap();
    let targets = Tensor::arange(0.0, 6.0, 1.0, DType::F32, &dev)
        .unwrap()
        .reshape(&[6, 1])
        .unwrap();
    let reg = DataLoader::new(TensorDataset::new(&features, &targets).unwrap(), 4);
    let (x, y) = reg.iter().next().unwrap().unwrap();
    assert_eq!(
        (x.shape(), y.shape(), y.dtype()),
        (&[4, 2][..], &[4, 1][..], DType::F32)
    );
}

#[test]
fn mismatched_samples_and_bad_sizes_are_errors() {
    struct Ragged;
    impl Dataset for Ragged {
        type Item = Sample;
        fn len(&self) -> usize {
            2
        }
        fn get(&self, i: usize) -> Result<Sample> {
            Ok(Sample::new(vec![0.0; i + 1], vec![i + 1], Target::Class(0)))
        }
    }
    let err = DataLoader::new(Ragged, 2)
        .iter()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sample 1 has shape [2], the batch [1]"),
        "{err}"
    );
    let err = DataLoader::new(Numbers(4), 0)
        .iter()
        .next()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_size must be positive"), "{err}");
}

fn image(values: &[f32], c: usize, h: usize, w: usize) -> Sample {
    Sample::new(values.to_vec(), vec![c, h, w], Target::Class(0))
}

#[test]
fn transforms_match_hand_computed_results() {
    let mut rng = SampleRng::new(0, 0, 0);
    // Normalize: per channel.
    let s = Normalize::new(vec![0.5, 1.0], vec![0.5, 2.0])
        .apply(image(&[1.0, 0.0, 3.0, 5.0], 2, 1, 2), &mut rng)
        .unwrap();
    assert_eq!(s.features, vec![1.0, -1.0, 1.0, 2.0]);
    // CenterCrop of a 4x4 to 2x2 takes rows/cols 1..3.
    let v: Vec<f32> = (0..16).map(|x| x as f32).collect();
    let s = CenterCrop::new((2, 2))
        .apply(image(&v, 1, 4, 4), &mut rng)
        .unwrap();
    assert_eq!(s.features, vec![5.0, 6.0, 9.0, 10.0]);
    // Flip with p = 1 mirrors every row of every channel.
    let s = RandomHorizontalFlip::new(1.0)
        .apply(image(&[1.0, 2.0, 3.0, 4.0], 2, 1, 2), &mut rng)
        .unwrap();
    assert_eq!(s.features, vec![2.0, 1.0, 4.0, 3.0]);
    assert_eq!(
        RandomHorizontalFlip::new(0.0)
            .apply(image(&[1.0, 2.0], 1, 1, 2), &mut rng)
            .unwrap()
            .features,
        vec![1.0, 2.0]
    );
    // RandomCrop with padding: every output is a window of the zero-padded image.
    let v: Vec<f32> = (1..=4).map(|x| x as f32).collect();
    let mut offsets = std::collections::HashSet::new();
    for i in 0..200 {
        let s = RandomCrop::new((2, 2), 1)
            .apply(image(&v, 1, 2, 2), &mut SampleRng::new(9, 0, i))
            .unwrap();
        let padded = [
            0., 0., 0., 0., 0., 1., 2., 0., 0., 3., 4., 0., 0., 0., 0., 0.,
        ];
        let found = (0..3)
            .flat_map(|t| (0..3).map(move |l| (t, l)))
            .find(|&(t, l)| {
                s.features
                    == vec![
                        padded[t * 4 + l],
                        padded[t * 4 + l + 1],
                        padded[(t + 1) * 4 + l],
                        padded[(t + 1) * 4 + l + 1],
                    ]
            });
        offsets.insert(found.expect("a window of the padded image"));
    }
    assert_eq!(offsets.len(), 9, "all 9 offsets occur");
    // Resize 2x2 -> 4x4 bilinear (half-pixel centers), as torch.nn.functional.interpolate.
    let s = Resize::new((4, 4))
        .apply(image(&[0.0, 1.0, 2.0, 3.0], 1, 2, 2), &mut rng)
        .unwrap();
    assert_eq!(
        s.features,
        vec![
            0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0
        ]
    );
    // Wrong layouts are errors.
    assert!(
        CenterCrop::new((3, 3))
            .apply(image(&[0.0; 4], 1, 2, 2), &mut rng)
            .is_err()
    );
    assert!(
        Normalize::new(vec![0.0], vec![1.0])
            .apply(image(&[0.0; 2], 2, 1, 1), &mut rng)
            .is_err()
    );
}

#[test]
fn subsets_splits_and_concatenation() {
    let ds = Arc::new(Numbers(10));
    let parts = random_split(ds.clone(), &[7, 3], 1).unwrap();
    let mut seen: Vec<usize> = parts.iter().flat_map(|p| p.indices().to_vec()).collect();
    seen.sort();
    assert_eq!(
        seen,
        (0..10).collect::<Vec<_>>(),
        "the parts partition the dataset"
    );
    assert_eq!(
        random_split(ds.clone(), &[7, 3], 1).unwrap()[0].indices(),
        parts[0].indices(),
        "seeded"
    );
    assert!(random_split(ds.clone(), &[7, 4], 1).is_err());
    let sub = Subset::new(ds.clone(), vec![9, 0]).unwrap();
    assert_eq!(sub.get(0).unwrap().features, vec![9.0]);
    assert!(sub.get(2).is_err());
    let both = ConcatDataset::new(vec![Numbers(2), Numbers(3)]);
    let values: Vec<f32> = (0..both.len())
        .map(|i| both.get(i).unwrap().features[0])
        .collect();
    assert_eq!(values, vec![0.0, 1.0, 0.0, 1.0, 2.0]);
    assert!(both.get(5).is_err());
}
