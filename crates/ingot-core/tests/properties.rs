//! Property tests: broadcasting against a naive reference, and round trips
//! through reshape, permute and transpose.

use ingot::{DType, Device, Tensor};
use proptest::prelude::*;

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for a in (0..shape.len()).rev() {
        idx[a] = i % shape[a];
        i /= shape[a];
    }
    idx
}

/// Element of `data` (shape `shape`) seen broadcast at `out_idx`.
fn broadcast_get(data: &[f64], shape: &[usize], out_idx: &[usize]) -> f64 {
    let lead = out_idx.len() - shape.len();
    let st = strides(shape);
    let off: usize = shape
        .iter()
        .enumerate()
        .map(|(a, &d)| if d == 1 { 0 } else { out_idx[lead + a] * st[a] })
        .sum();
    data[off]
}

/// A target shape and two shapes that broadcast to it.
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1usize..5, 0..5)
        .prop_flat_map(|full| {
            let n = full.len();
            (
                Just(full),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(any::<bool>(), n),
                0..=n,
                0..=n,
            )
        })
        .prop_map(|(full, ones_a, ones_b, drop_a, drop_b)| {
            let make = |ones: &[bool], drop: usize| -> Vec<usize> {
                full.iter()
                    .zip(ones)
                    .skip(drop)
                    .map(|(&d, &one)| if one { 1 } else { d })
                    .collect()
            };
            let (a, b) = (make(&ones_a, drop_a), make(&ones_b, drop_b));
            // The true broadcast: per aligned axis, the larger size.
            let rank = a.len().max(b.len());
            let dim = |s: &[usize], i: usize| {
                if i + s.len() >= rank {
                    s[i + s.len() - rank]
                } else {
                    1
                }
            };
            let target = (0..rank).map(|i| dim(&a, i).max(dim(&b, i))).collect();
            (a, b, target)
        })
}

fn values(shape: &[usize], seed: u64) -> Vec<f64> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 100.0 - 5.0)
        .collect()
}

fn perm_of(rank: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..rank).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn binary_ops_broadcast_like_numpy((sa, sb, target) in broadcast_pair(), seed in 0u64..1000) {
        let dev = Device::cpu();
        let (da, db) = (values(&sa, seed), values(&sb, seed + 7));
        let a = Tensor::from_vec(da.clone(), &sa, &dev).unwrap();
        let b = Tensor::from_vec(db.clone(), &sb, &dev).unwrap();
        let sum = a.add(&b).unwrap();
        let prod = a.mul(&b).unwrap();
        prop_assert_eq!(sum.shape(), target.as_slice());
        let (gs, gp) = (sum.to_vec::<f64>().unwrap(), prod.to_vec::<f64>().unwrap());
        for i in 0..target.iter().product::<usize>() {
            let idx = unravel(i, &target);
            let (x, y) = (broadcast_get(&da, &sa, &idx), broadcast_get(&db, &sb, &idx));
            prop_assert_eq!(gs[i], x + y);
            prop_assert_eq!(gp[i], x * y);
        }
    }

    #[test]
    fn broadcast_gradients_reduce_to_operand_shapes((sa, sb, _target) in broadcast_pair()) {
        let dev = Device::cpu();
        let a = Tensor::ones(&sa, DType::F64, &dev).unwrap().requires_grad_(true);
        let b = Tensor::ones(&sb, DType::F64, &dev).unwrap().requires_grad_(true);
        let out = a.mul(&b).unwrap();
        out.sum_all().unwrap().backward().unwrap();
        let (ga, gb) = (a.grad().unwrap(), b.grad().unwrap());
        prop_assert_eq!(ga.shape(), sa.as_slice());
        prop_assert_eq!(gb.shape(), sb.as_slice());
        // Each element of a was used (output size / a's size) times.
        let na = out.numel() as f64 / a.numel() as f64;
        prop_assert!(ga.to_vec::<f64>().unwrap().iter().all(|&g| g == na));
    }

    #[test]
    fn permute_matches_index_mapping_and_inverts(
        (shape, perm) in prop::collection::vec(1usize..5, 1..5).prop_flat_map(|s| { let r = s.len(); (Just(s), perm_of(r)) }),
    ) {
        let dev = Device::cpu();
        let data = values(&shape, 3);
        let x = Tensor::from_vec(data.clone(), &shape, &dev).unwrap();
        let p: Vec<isize> = perm.iter().map(|&d| d as isize).collect();
        let y = x.permute(&p).unwrap();
        let out_shape: Vec<usize> = perm.iter().map(|&d| shape[d]).collect();
        prop_assert_eq!(y.shape(), out_shape.as_slice());
        let got = y.to_vec::<f64>().unwrap();
        let st = strides(&shape);
        for (i, &g) in got.iter().enumerate() {
            let idx = unravel(i, &out_shape);
            let src: usize = perm.iter().enumerate().map(|(k, &d)| idx[k] * st[d]).sum();
            prop_assert_eq!(g, data[src]);
        }
        let mut inverse = vec![0isize; perm.len()];
        for (k, &d) in perm.iter().enumerate() {
            inverse[d] = k as isize;
        }
        prop_assert_eq!(y.permute(&inverse).unwrap().to_vec::<f64>().unwrap(), data);
    }

    #[test]
    fn reshape_of_permuted_views_round_trips(
        (shape, perm) in prop::collection::vec(1usize..5, 2..5).prop_flat_map(|s| { let r = s.len(); (Just(s), perm_of(r)) }),
    ) {
        let dev = Device::cpu();
        let x = Tensor::from_vec(values(&shape, 11), &shape, &dev).unwrap();
        let p: Vec<isize> = perm.iter().map(|&d| d as isize).collect();
        let y = x.permute(&p).unwrap();
        let flat = y.reshape(&[-1]).unwrap();
        let back: Vec<isize> = y.shape().iter().map(|&d| d as isize).collect();
        prop_assert_eq!(flat.reshape(&back).unwrap().to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap());
        let t = y.transpose(0, -1).unwrap().transpose(0, -1).unwrap();
        prop_assert_eq!(t.to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap());
        prop_assert_eq!(flat.to_vec::<f64>().unwrap(), y.to_vec::<f64>().unwrap());
    }
}
