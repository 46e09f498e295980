//! Every IR op, lowered to MPSGraph calls and run by the simulator, against
//! the CPU backend running the same graph on the same inputs.
//!
//! Each case is a one-op graph built directly in the IR (so backward ops
//! such as `conv2d_backward_weight` are covered as ops, not only through
//! autograd). Tolerances: F32 `|a - b| <= 2e-5 + 2e-5 |b|` (the simulator
//! accumulates sums in f64, the CPU in f32); F16 `1e-3 + 1e-2 |b|`;
//! integers and booleans exactly.
//!
//! On macOS with a GPU the same cases also run on `ingot::metal::device(0)`;
//! elsewhere the test says that it skipped them.

use std::collections::BTreeSet;

use half::f16;
use ingot::backend::Buffer;
use ingot::ir::{
    ArgReduceOp, BinaryOp, Conv2dParams, Graph, Literal, Node, Op, Pool2dParams, RandDist,
    ReduceOp, TensorType, UnaryOp,
};
use ingot::{DType, Device, HostData};

/// Which IR variant an op is. The match has no wildcard: a new IR op fails
/// to compile here until it gets a case below.
fn variant(op: &Op) -> usize {
    match op {
        Op::Input(_) => 0,
        Op::Const(_) => 1,
        Op::Arange { .. } => 2,
        Op::Rand(_) => 3,
        Op::Unary(_) => 4,
        Op::Cast => 5,
        Op::Binary(_) => 6,
        Op::Where => 7,
        Op::Reduce { .. } => 8,
        Op::ArgReduce { .. } => 9,
        Op::Reshape => 10,
        Op::Permute(_) => 11,
        Op::Expand => 12,
        Op::Slice { .. } => 13,
        Op::Pad { .. } => 14,
        Op::Concat { .. } => 15,
        Op::Gather { .. } => 16,
        Op::ScatterAdd { .. } => 17,
        Op::MatMul => 18,
        Op::Conv2d(_) => 19,
        Op::Conv2dBackwardInput(_) => 20,
        Op::Conv2dBackwardWeight(_) => 21,
        Op::MaxPool2d(_) => 22,
        Op::MaxPool2dBackward(_) => 23,
        Op::AvgPool2d(_) => 24,
        Op::AvgPool2dBackward(_) => 25,
        Op::Softmax { .. } => 26,
        Op::LogSoftmax { .. } => 27,
        Op::CheckRange { .. } => 28,
    }
}
const VARIANTS: usize = 29;

fn ty(shape: &[usize], dtype: DType) -> TensorType {
    TensorType {
        shape: shape.to_vec(),
        dtype,
    }
}

/// A graph of `inputs` feeding one node `op` with output type `out`.
fn single(op: Op, inputs: Vec<TensorType>, out: TensorType) -> Graph {
    let k = inputs.len();
    let mut nodes: Vec<Node> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| Node {
            op: Op::Input(i),
            args: vec![],
            ty: t.clone(),
        })
        .collect();
    nodes.push(Node {
        op,
        args: (0..k).collect(),
        ty: out,
    });
    Graph {
        inputs,
        nodes,
        outputs: vec![k],
    }
}

/// A named graph, with the value range of each input's data.
struct Case {
    name: String,
    graph: Graph,
    /// Per input: `(low, high)` of its random values; integers are drawn
    /// in `[low, high)`.
    ranges: Vec<(f64, f64)>,
    /// Exact input data where random data will not do (the RNG state).
    fixed: Vec<(usize, HostData)>,
}

fn case(name: impl Into<String>, graph: Graph) -> Case {
    let ranges = graph
        .inputs
        .iter()
        .map(|t| match t.dtype {
            DType::Bool => (0.0, 2.0),
            d if d.is_float() => (-2.0, 2.0),
            _ => (-5.0, 6.0),
        })
        .collect();
    Case {
        name: name.into(),
        graph,
        ranges,
        fixed: Vec::new(),
    }
}

fn conv(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dParams {
    Conv2dParams {
        stride: [stride, stride],
        padding: [padding, padding],
        dilation: [dilation, dilation],
        groups,
    }
}

fn pool(kernel: usize, stride: usize, padding: usize, include_pad: bool) -> Pool2dParams {
    Pool2dParams {
        kernel: [kernel, kernel],
        stride: [stride, stride],
        padding: [padding, padding],
        count_include_pad: include_pad,
    }
}

fn cases() -> Vec<Case> {
    use DType::*;
    let mut v = Vec::new();
    let x = |d| ty(&[3, 4], d);
    v.push(case(
        "input",
        Graph {
            inputs: vec![x(F32)],
            nodes: vec![Node {
                op: Op::Input(0),
                args: vec![],
                ty: x(F32),
            }],
            outputs: vec![0],
        },
    ));
    for d in [F32, F16, I64, Bool] {
        v.push(case(
            format!("const {d}"),
            single(Op::Const(Literal(1.5)), vec![], x(d)),
        ));
    }
    for (d, start, step) in [(F32, -1.0, 0.25), (I64, 3.0, 2.0), (F16, 0.0, 0.5)] {
        let op = Op::Arange {
            start: Literal(start),
            step: Literal(step),
        };
        v.push(case(format!("arange {d}"), single(op, vec![], ty(&[7], d))));
    }
    for (dist, d) in [
        (RandDist::Uniform, F32),
        (RandDist::Normal, F32),
        (RandDist::Uniform, F16),
        (RandDist::Normal, BF16),
    ] {
        let mut c = case(
            format!("rand {dist:?} {d}"),
            single(Op::Rand(dist), vec![ty(&[2], I64)], ty(&[5, 7], d)),
        );
        // A seed above 2^63 (negative as i64) and an offset past 2^32, so
        // both words of each matter.
        c.fixed.push((
            0,
            HostData::I64(vec![0xDEAD_BEEF_CAFE_F00Du64 as i64, (1 << 33) + 5]),
        ));
        v.push(c);
    }
    use UnaryOp::*;
    for op in [
        Neg, Abs, Exp, Log, Sqrt, Rsqrt, Recip, Sin, Cos, Tanh, Sigmoid, Relu, Gelu, Erf, Floor,
        Ceil, Round, Sign,
    ] {
        for d in [F32, F16] {
            let mut c = case(
                format!("{op:?} {d}"),
                single(Op::Unary(op), vec![x(d)], x(d)),
            );
            if matches!(op, Log | Sqrt | Rsqrt) {
                c.ranges[0] = (0.1, 3.0);
            }
            if op == Round {
                c.ranges[0] = (-4.0, 4.0);
            }
            v.push(c);
        }
    }
    for op in [Neg, Abs, Sign] {
        v.push(case(
            format!("{op:?} I64"),
            single(Op::Unary(op), vec![x(I64)], x(I64)),
        ));
    }
    v.push(case(
        "Not Bool",
        single(Op::Unary(Not), vec![x(Bool)], x(Bool)),
    ));
    for (from, to) in [
        (F32, I64),
        (F32, F16),
        (F16, F32),
        (I64, F32),
        (F32, Bool),
        (Bool, F32),
        (I32, I64),
        (I64, I32),
        (F32, BF16),
        (U8, F32),
        (Bool, I64),
    ] {
        v.push(case(
            format!("cast {from} -> {to}"),
            single(Op::Cast, vec![x(from)], x(to)),
        ));
    }
    use BinaryOp::*;
    for op in [
        Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge,
    ] {
        for d in [F32, F16, I64] {
            if d == I64 && matches!(op, Div | Pow) {
                continue;
            }
            let out = if op.is_predicate() { x(Bool) } else { x(d) };
            let mut c = case(
                format!("{op:?} {d}"),
                single(Op::Binary(op), vec![x(d), x(d)], out),
            );
            if op == Pow {
                c.ranges = vec![(0.2, 2.0), (-2.0, 2.0)];
            }
            v.push(c);
        }
    }
    for op in [And, Or, Eq] {
        v.push(case(
            format!("{op:?} Bool"),
            single(Op::Binary(op), vec![x(Bool), x(Bool)], x(Bool)),
        ));
    }
    for d in [F32, I64, Bool] {
        v.push(case(
            format!("where {d}"),
            single(Op::Where, vec![x(Bool), x(d), x(d)], x(d)),
        ));
    }
    let cube = |d| ty(&[2, 3, 4], d);
    for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
        for (axes, keepdim, shape) in [
            (vec![1], false, vec![2, 4]),
            (vec![0, 2], true, vec![1, 3, 1]),
            (vec![0, 1, 2], false, vec![]),
        ] {
            for d in [F32, I64] {
                let mut c = case(
                    format!("reduce {op:?} {axes:?} keepdim={keepdim} {d}"),
                    single(
                        Op::Reduce {
                            op,
                            axes: axes.clone(),
                            keepdim,
                        },
                        vec![cube(d)],
                        ty(&shape, d),
                    ),
                );
                if op == ReduceOp::Prod {
                    c.ranges[0] = if d == I64 { (1.0, 3.0) } else { (0.5, 1.5) };
                }
                v.push(c);
            }
        }
    }
    v.push(case(
        "reduce Sum F16",
        single(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![2],
                keepdim: false,
            },
            vec![cube(F16)],
            ty(&[2, 3], F16),
        ),
    ));
    for op in [ArgReduceOp::ArgMax, ArgReduceOp::ArgMin] {
        for (axis, keepdim, shape) in [(1, false, vec![2, 4]), (2, true, vec![2, 3, 1])] {
            v.push(case(
                format!("{op:?} axis {axis}"),
                single(
                    Op::ArgReduce { op, axis, keepdim },
                    vec![cube(F32)],
                    ty(&shape, I64),
                ),
            ));
        }
    }
    v.push(case(
        "reshape",
        single(Op::Reshape, vec![cube(F32)], ty(&[6, 4], F32)),
    ));
    v.push(case(
        "permute",
        single(
            Op::Permute(vec![2, 0, 1]),
            vec![cube(F32)],
            ty(&[4, 2, 3], F32),
        ),
    ));
    v.push(case(
        "permute I64",
        single(Op::Permute(vec![1, 0]), vec![x(I64)], ty(&[4, 3], I64)),
    ));
    v.push(case(
        "expand",
        single(Op::Expand, vec![ty(&[2, 1, 4], F32)], cube(F32)),
    ));
    v.push(case(
        "slice",
        single(
            Op::Slice {
                start: vec![1, 0, 1],
                step: vec![1, 2, 2],
            },
            vec![cube(F32)],
            ty(&[1, 2, 2], F32),
        ),
    ));
    v.push(case(
        "pad",
        single(
            Op::Pad {
                pads: vec![(0, 1), (2, 0), (1, 1)],
                value: Literal(-3.0),
            },
            vec![cube(F32)],
            ty(&[3, 5, 6], F32),
        ),
    ));
    v.push(case(
        "pad Bool",
        single(
            Op::Pad {
                pads: vec![(1, 1)],
                value: Literal(1.0),
            },
            vec![ty(&[2], Bool)],
            ty(&[4], Bool),
        ),
    ));
    v.push(case(
        "concat",
        single(
            Op::Concat { axis: 1 },
            vec![
                ty(&[2, 1, 4], F32),
                ty(&[2, 3, 4], F32),
                ty(&[2, 2, 4], F32),
            ],
            ty(&[2, 6, 4], F32),
        ),
    ));
    let mut g = case(
        "gather",
        single(
            Op::Gather {
                axis: 1,
                op: "gather",
            },
            vec![cube(F32), ty(&[2, 5, 4], I64)],
            ty(&[2, 5, 4], F32),
        ),
    );
    g.ranges[1] = (0.0, 3.0);
    v.push(g);
    // Values inside the range: the CPU checks and copies, Metal passes them
    // through (MPSGraph cannot fail a run on a value).
    let mut r = case(
        "check_range",
        single(
            Op::CheckRange {
                lo: Literal(-10.0),
                hi: Literal(10.0),
                op: "check_range",
            },
            vec![cube(F32)],
            cube(F32),
        ),
    );
    r.ranges[0] = (-2.0, 2.0);
    v.push(r);
    let mut s = case(
        "scatter_add",
        single(
            Op::ScatterAdd { axis: 0 },
            vec![cube(F32), ty(&[4, 3, 4], I64), ty(&[4, 3, 4], F32)],
            cube(F32),
        ),
    );
    s.ranges[1] = (0.0, 2.0);
    v.push(s);
    for d in [F32, F16] {
        v.push(case(
            format!("matmul {d}"),
            single(
                Op::MatMul,
                vec![ty(&[2, 3, 5], d), ty(&[2, 5, 4], d)],
                ty(&[2, 3, 4], d),
            ),
        ));
    }
    v.push(case(
        "matmul 2-D",
        single(
            Op::MatMul,
            vec![ty(&[7, 9], F32), ty(&[9, 3], F32)],
            ty(&[7, 3], F32),
        ),
    ));
    // Convolutions: (input, weight, params, output).
    let convs = [
        ([2, 3, 7, 6], [4, 3, 3, 3], conv(1, 1, 1, 1), [2, 4, 7, 6]),
        ([1, 4, 9, 9], [6, 2, 3, 3], conv(2, 0, 1, 2), [1, 6, 4, 4]),
        ([2, 2, 8, 8], [3, 2, 2, 2], conv(1, 2, 2, 1), [2, 3, 10, 10]),
    ];
    for (i, (xs, ws, p, os)) in convs.iter().enumerate() {
        for d in [F32, F16] {
            if d == F16 && i > 0 {
                continue;
            }
            v.push(case(
                format!("conv2d #{i} {d}"),
                single(Op::Conv2d(*p), vec![ty(xs, d), ty(ws, d)], ty(os, d)),
            ));
        }
        v.push(case(
            format!("conv2d_backward_input #{i}"),
            single(
                Op::Conv2dBackwardInput(*p),
                vec![ty(os, F32), ty(ws, F32)],
                ty(xs, F32),
            ),
        ));
        v.push(case(
            format!("conv2d_backward_weight #{i}"),
            single(
                Op::Conv2dBackwardWeight(*p),
                vec![ty(os, F32), ty(xs, F32)],
                ty(ws, F32),
            ),
        ));
    }
    let pools = [
        ([2, 3, 6, 6], pool(2, 2, 0, true), [2, 3, 3, 3]),
        ([1, 2, 7, 5], pool(3, 2, 1, true), [1, 2, 4, 3]),
        ([1, 2, 7, 5], pool(3, 2, 1, false), [1, 2, 4, 3]),
    ];
    for (i, (xs, p, os)) in pools.iter().enumerate() {
        v.push(case(
            format!("max_pool2d #{i}"),
            single(Op::MaxPool2d(*p), vec![ty(xs, F32)], ty(os, F32)),
        ));
        v.push(case(
            format!("max_pool2d_backward #{i}"),
            single(
                Op::MaxPool2dBackward(*p),
                vec![ty(os, F32), ty(xs, F32)],
                ty(xs, F32),
            ),
        ));
        v.push(case(
            format!("avg_pool2d #{i}"),
            single(Op::AvgPool2d(*p), vec![ty(xs, F32)], ty(os, F32)),
        ));
        v.push(case(
            format!("avg_pool2d_backward #{i}"),
            single(Op::AvgPool2dBackward(*p), vec![ty(os, F32)], ty(xs, F32)),
        ));
    }
    v.push(case(
        "max_pool2d F16",
        single(
            Op::MaxPool2d(pool(2, 2, 0, true)),
            vec![ty(&[1, 2, 4, 4], F16)],
            ty(&[1, 2, 2, 2], F16),
        ),
    ));
    for d in [F32, F16] {
        for axis in [0, 2] {
            v.push(case(
                format!("softmax axis {axis} {d}"),
                single(Op::Softmax { axis }, vec![cube(d)], cube(d)),
            ));
            v.push(case(
                format!("log_softmax axis {axis} {d}"),
                single(Op::LogSoftmax { axis }, vec![cube(d)], cube(d)),
            ));
        }
    }
    v
}

/// A small deterministic generator for input data.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_data(t: &TensorType, (low, high): (f64, f64), rng: &mut Lcg) -> HostData {
    let n = t.numel();
    let mut f = || low + (high - low) * rng.next();
    match t.dtype {
        DType::F64 => HostData::F64((0..n).map(|_| f()).collect()),
        DType::F32 => HostData::F32((0..n).map(|_| f() as f32).collect()),
        DType::F16 => HostData::F16((0..n).map(|_| f16::from_f64(f())).collect()),
        DType::BF16 => HostData::BF16((0..n).map(|_| half::bf16::from_f64(f())).collect()),
        DType::I64 => HostData::I64((0..n).map(|_| f().floor() as i64).collect()),
        DType::I32 => HostData::I32((0..n).map(|_| f().floor() as i32).collect()),
        DType::U8 => HostData::U8(
            (0..n)
                .map(|_| (f().floor() as i64).rem_euclid(256) as u8)
                .collect(),
        ),
        DType::Bool => HostData::Bool((0..n).map(|_| f() >= 1.0).collect()),
    }
}

/// Runs `graph` on `device`'s backend directly.
fn run(device: &Device, graph: &Graph, inputs: &[HostData]) -> ingot::Result<HostData> {
    let backend = device.backend();
    let buffers: Vec<Buffer> = inputs
        .iter()
        .map(|d| backend.upload(d.clone()))
        .collect::<ingot::Result<_>>()?;
    let exe = backend.compile(graph)?;
    let out = exe.run(&buffers)?;
    backend.download(&out[0], &graph.nodes[graph.outputs[0]].ty)
}

fn tolerance(dtype: DType) -> (f64, f64) {
    match dtype {
        DType::F16 | DType::BF16 => (1e-3, 1e-2),
        _ => (2e-5, 2e-5),
    }
}

/// Checks one case on `device` against the CPU; the error says where.
fn check(device: &Device, c: &Case, seed: u64) -> Result<(), String> {
    let mut rng = Lcg(seed);
    let mut inputs: Vec<HostData> = c
        .graph
        .inputs
        .iter()
        .zip(&c.ranges)
        .map(|(t, r)| random_data(t, *r, &mut rng))
        .collect();
    for (k, data) in &c.fixed {
        inputs[*k] = data.clone();
    }
    let want = run(&Device::cpu(), &c.graph, &inputs).map_err(|e| format!("cpu: {e}"))?;
    let got = run(device, &c.graph, &inputs).map_err(|e| format!("{}: {e}", device.location()))?;
    if got.dtype() != want.dtype() || got.len() != want.len() {
        return Err(format!(
            "got {} {}, want {} {}",
            got.len(),
            got.dtype(),
            want.len(),
            want.dtype()
        ));
    }
    let (atol, rtol) = tolerance(want.dtype());
    for i in 0..want.len() {
        let (g, w) = (got.get_f64(i).unwrap(), want.get_f64(i).unwrap());
        let ok = if want.dtype().is_float() {
            (g.is_nan() && w.is_nan()) || (g - w).abs() <= atol + rtol * w.abs() || g == w
        } else {
            g == w
        };
        if !ok {
            return Err(format!("element {i}: got {g}, want {w}"));
        }
    }
    Ok(())
}

#[test]
fn every_ir_op_has_a_case() {
    let seen: BTreeSet<usize> = cases()
        .iter()
        .flat_map(|c| c.graph.nodes.iter().map(|n| variant(&n.op)))
        .collect();
    let missing: Vec<usize> = (0..VARIANTS).filter(|v| !seen.contains(v)).collect();
    assert!(
        missing.is_empty(),
        "IR variants without a case: {missing:?}"
    );
}

#[test]
fn every_ir_op_lowers() {
    for c in cases() {
        let program = ingot_metal::lower(&c.graph).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(program.targets.len(), 1, "{}", c.name);
        assert_eq!(program.feeds.len(), c.graph.inputs.len(), "{}", c.name);
    }
}

/// Runs every case on `dev` and fails listing each one that differs from
/// the CPU.
fn every_case_matches(dev: &Device) {
    let failures: Vec<String> = cases()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            check(dev, c, 1 + i as u64)
                .err()
                .map(|e| format!("{}: {e}", c.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_simulator_matches_the_cpu_on_every_op() {
    every_case_matches(&ingot_metal::simulated_device());
}

#[test]
fn the_gpu_matches_the_cpu_on_every_op() {
    let gpu = match ingot_metal::device(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("SKIPPED the_gpu_matches_the_cpu_on_every_op: no Metal GPU here ({e})");
            return;
        }
    };
    every_case_matches(&gpu);
}

#[test]
fn f64_is_refused_with_a_clear_error() {
    let g = single(
        Op::Unary(UnaryOp::Exp),
        vec![ty(&[2], DType::F64)],
        ty(&[2], DType::F64),
    );
    let err = ingot_metal::lower(&g).unwrap_err().to_string();
    assert!(
        err.contains("no double precision") && err.contains("to_dtype"),
        "{err}"
    );
    let sim = ingot_metal::simulated_device();
    let err = ingot::Tensor::from_vec(vec![1.0f64], &[1], &sim)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no double precision"), "{err}");
}
