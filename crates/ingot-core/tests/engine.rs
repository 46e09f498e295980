//! The lazy engine: what an evaluation computes, what it keeps, what it
//! frees, and how the compile cache behaves over a training loop. The tests
//! read the CPU device's counters, so they take a lock and run one at a time
//! (other test binaries are other processes).

use std::sync::{Mutex, MutexGuard};

use ingot::{DType, Device, Stats, Tensor};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn delta(before: Stats) -> Stats {
    let now = Device::cpu().stats();
    let mut d = now;
    d.graphs_compiled -= before.graphs_compiled;
    d.cache_hits -= before.cache_hits;
    d.evals -= before.evals;
    d
}

/// One step of a 2-layer MLP with manual SGD; returns the loss value.
fn sgd_step(params: &mut [Tensor], x: &Tensor, labels: &Tensor, lr: f64) -> f32 {
    let h = x
        .matmul(&params[0])
        .unwrap()
        .add(&params[1])
        .unwrap()
        .relu()
        .unwrap();
    let logits = h.matmul(&params[2]).unwrap().add(&params[3]).unwrap();
    let logp = logits.log_softmax(-1).unwrap();
    let loss = logp
        .gather(1, labels)
        .unwrap()
        .mean_all()
        .unwrap()
        .neg()
        .unwrap();
    loss.backward().unwrap();
    ingot::no_grad(|| {
        for p in params.iter_mut() {
            let g = p.grad().expect("every parameter gets a gradient");
            *p = p
                .sub(&g.mul_scalar(lr).unwrap())
                .unwrap()
                .requires_grad_(true);
        }
    });
    loss.item::<f32>().unwrap()
}

#[test]
fn mlp_training_loop_compiles_a_bounded_number_of_graphs_and_learns() {
    let _guard = serial();
    let dev = Device::cpu();
    ingot::manual_seed(1);
    let (n, d, h, k) = (64, 20, 32, 4);
    let x = Tensor::randn(&[n, d], DType::F32, &dev).unwrap();
    // Labels from a random linear teacher, so the task is learnable.
    let teacher = Tensor::randn(&[d, k], DType::F32, &dev).unwrap();
    let labels = x.matmul(&teacher).unwrap().argmax(1, true).unwrap();
    let mut params = vec![
        Tensor::randn(&[d, h], DType::F32, &dev)
            .unwrap()
            .mul_scalar(0.2)
            .unwrap(),
        Tensor::zeros(&[h], DType::F32, &dev).unwrap(),
        Tensor::randn(&[h, k], DType::F32, &dev)
            .unwrap()
            .mul_scalar(0.2)
            .unwrap(),
        Tensor::zeros(&[k], DType::F32, &dev).unwrap(),
    ];
    ingot::eval(&params.iter().collect::<Vec<_>>()).unwrap();
    for p in &params {
        p.requires_grad_(true);
    }
    let before = dev.stats();
    let losses: Vec<f32> = (0..100)
        .map(|_| sgd_step(&mut params, &x, &labels, 0.5))
        .collect();
    let d = delta(before);
    assert!(
        d.graphs_compiled <= 3,
        "100 identical steps compiled {} graphs",
        d.graphs_compiled
    );
    assert!(
        d.cache_hits >= 97,
        "only {} of {} evaluations hit the cache",
        d.cache_hits,
        d.evals
    );
    assert!(
        losses[99] < 0.5 * losses[0],
        "loss did not fall: {} -> {}",
        losses[0],
        losses[99]
    );
}

#[test]
fn eval_materializes_every_still_referenced_pending_node() {
    let _guard = serial();
    let dev = Device::cpu();
    let x = Tensor::from_vec(vec![0.5f32, 1.0, 2.0], &[3], &dev).unwrap();
    let a = x.exp().unwrap();
    let b = a.sin().unwrap();
    let unrelated = x.cos().unwrap();
    let before = dev.stats();
    ingot::eval(&[&b]).unwrap();
    assert!(
        a.is_evaluated(),
        "a pending input that is still held must be computed in the same run"
    );
    assert!(
        !unrelated.is_evaluated(),
        "nodes outside the evaluated graph stay pending"
    );
    assert_eq!(delta(before).evals, 1);
    // Reading `a` now costs no evaluation.
    let before = dev.stats();
    assert_eq!(
        a.to_vec::<f32>().unwrap(),
        vec![0.5f32.exp(), 1.0f32.exp(), 2.0f32.exp()]
    );
    assert_eq!(delta(before).evals, 0);
}

#[test]
fn outputs_computed_inside_one_fused_pass_are_all_exact() {
    let _guard = serial();
    let dev = Device::cpu();
    // Long enough to be split over threads, and not a multiple of a block.
    let n = 100_003;
    let vals =
        |k: usize| -> Vec<f32> { (0..n).map(|i| ((i * k) % 97) as f32 * 0.01 - 0.4).collect() };
    let (m0, g0, p0) = (vals(3), vals(7), vals(11));
    let t = |v: &Vec<f32>| Tensor::from_vec(v.clone(), &[n], &dev).unwrap();
    let (m, g, p) = (t(&m0), t(&g0), t(&p0));
    // An Adam-like step whose new moment, sign mask and new weights are all
    // wanted: the moment and the mask are also read by the weight update.
    let new_m = m
        .mul_scalar(0.9)
        .unwrap()
        .add(&g.mul_scalar(0.1).unwrap())
        .unwrap();
    let positive = g.gt(&g.zeros_like().unwrap()).unwrap();
    // A one-element tensor broadcast over all of them, as a learning rate is.
    let lr = Tensor::from_vec(vec![0.5f32], &[1], &dev).unwrap();
    let step = new_m
        .abs()
        .unwrap()
        .sqrt()
        .unwrap()
        .add_scalar(1e-3)
        .unwrap()
        .mul(&lr)
        .unwrap();
    let new_p =
        Tensor::where_cond(&positive, &p.sub(&step).unwrap(), &p.add(&step).unwrap()).unwrap();
    ingot::eval(&[&new_p, &new_m, &positive]).unwrap();
    let (got_m, got_pos, got_p) = (
        new_m.to_vec::<f32>().unwrap(),
        positive.to_vec::<bool>().unwrap(),
        new_p.to_vec::<f32>().unwrap(),
    );
    for i in 0..n {
        let want_m = m0[i] * 0.9 + g0[i] * 0.1;
        let s = (want_m.abs().sqrt() + 1e-3) * 0.5;
        let want_p = if g0[i] > 0.0 { p0[i] - s } else { p0[i] + s };
        assert_eq!(got_m[i], want_m, "new_m[{i}]");
        assert_eq!(got_pos[i], g0[i] > 0.0, "positive[{i}]");
        assert_eq!(got_p[i], want_p, "new_p[{i}]");
    }
}

#[test]
fn temporaries_are_freed_after_their_last_use() {
    let _guard = serial();
    let dev = Device::cpu();
    let x = Tensor::from_vec(vec![0.01f32; 256 * 256], &[256, 256], &dev).unwrap();
    let base = dev.stats().bytes_allocated;
    // Three products whose intermediates are dropped by the user: only the
    // final result may stay allocated.
    let y = x
        .matmul(&x)
        .unwrap()
        .relu()
        .unwrap()
        .matmul(&x)
        .unwrap()
        .tanh()
        .unwrap()
        .matmul(&x)
        .unwrap();
    ingot::eval(&[&y]).unwrap();
    let held = dev.stats().bytes_allocated - base;
    assert_eq!(held, 256 * 256 * 4, "intermediates stayed allocated");
    drop(y);
    assert_eq!(dev.stats().bytes_allocated, base);
    assert!(
        dev.stats().bytes_cached >= 256 * 256 * 4,
        "freed buffers go to the pool"
    );
}

#[test]
fn new_data_with_the_same_structure_replays_the_compiled_graph() {
    let _guard = serial();
    let dev = Device::cpu();
    // Data enters as input buffers, so new values reuse the executable;
    // constants (`full`, `add_scalar`) are part of the structure.
    let f = |v: f32| {
        let x = Tensor::from_vec(vec![v; 16], &[4, 4], &dev).unwrap();
        x.mul(&x.add_scalar(1.0).unwrap().exp().unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
    };
    f(1.0).item::<f32>().unwrap();
    let before = dev.stats();
    let v = f(2.0).item::<f32>().unwrap();
    let d = delta(before);
    assert_eq!((d.graphs_compiled, d.cache_hits), (0, 1));
    assert!((v - 16.0 * 2.0 * 3f32.exp()).abs() < 1e-3);
}

#[test]
fn compile_cache_is_a_bounded_lru() {
    let _guard = serial();
    let dev = Device::cpu();
    let old = dev.compile_cache_capacity();
    dev.clear_compile_cache();
    dev.set_compile_cache_capacity(2);
    let graph = |n: usize| {
        Tensor::ones(&[n], DType::F32, &dev)
            .unwrap()
            .exp()
            .unwrap()
            .sum_all()
            .unwrap()
            .item::<f32>()
            .unwrap()
    };
    for n in [1, 2, 3] {
        graph(n);
    }
    assert_eq!(dev.stats().cached_executables, 2);
    let before = dev.stats();
    graph(3); // still cached
    graph(1); // evicted: compiles again
    let d = delta(before);
    assert_eq!((d.cache_hits, d.graphs_compiled), (1, 1));
    dev.set_compile_cache_capacity(old);
}

#[test]
fn eager_mode_evaluates_every_op_at_once() {
    let _guard = serial();
    let dev = Device::cpu();
    ingot::set_eager(true);
    let x = Tensor::ones(&[3], DType::F32, &dev)
        .unwrap()
        .mul_scalar(2.0)
        .unwrap();
    let y = x.exp().unwrap();
    ingot::set_eager(false);
    assert!(x.is_evaluated() && y.is_evaluated());
    let z = y.sin().unwrap();
    assert!(!z.is_evaluated());
}

#[test]
fn long_pending_chains_evaluate_and_drop_without_deep_recursion() {
    let _guard = serial();
    let dev = Device::cpu();
    let mut t = Tensor::zeros(&[2], DType::F32, &dev).unwrap();
    for _ in 0..100_000 {
        t = t.add_scalar(1.0).unwrap();
    }
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![100_000.0; 2]);
    let mut u = Tensor::zeros(&[2], DType::F32, &dev).unwrap();
    for _ in 0..100_000 {
        u = u.add_scalar(1.0).unwrap();
    }
    drop(u);
}

#[test]
fn a_loss_is_computed_by_the_evaluation_that_follows_its_backward() {
    let _guard = serial();
    let dev = Device::cpu();
    let w = Tensor::from_vec(vec![1.0f32, 2.0], &[2], &dev)
        .unwrap()
        .requires_grad_(true);
    let loss = w.mul(&w).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    // The gradient does not depend on the loss's value, yet the step that
    // evaluates the gradient computes the loss in the same run.
    let before = dev.stats();
    ingot::eval(&[&w.grad().unwrap()]).unwrap();
    assert!(loss.is_evaluated());
    assert_eq!(loss.item::<f32>().unwrap(), 5.0);
    assert_eq!(delta(before).evals, 1);
}
