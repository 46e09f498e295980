//! Fused elementwise kernels: a chain of elementwise ops runs as one pass over
//! memory. The planner turns the chain into a short register program; this
//! module runs it over blocks of [`BLOCK`] elements that stay in L1 cache,
//! each instruction a tight loop the compiler vectorizes.
//!
//! Values are computed in one of three register kinds: `f32` (for F32, F16
//! and BF16), `f64` and `i64` (for all integers and Bool, 0 or 1). Narrow
//! types are rounded when cast and when stored.

use half::{bf16, f16};
use num_traits::Float;

use super::exec::split_for_threads;
use super::view::View;
use crate::ir::{BinaryOp, UnaryOp};
use crate::{DType, HostData};

/// Elements per block: one register of the program.
pub(crate) const BLOCK: usize = 256;

/// Register kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    F32,
    F64,
    I64,
}

impl Kind {
    pub fn of(dtype: DType) -> Kind {
        match dtype {
            DType::F64 => Kind::F64,
            DType::F32 | DType::F16 | DType::BF16 => Kind::F32,
            DType::I64 | DType::I32 | DType::U8 | DType::Bool => Kind::I64,
        }
    }
}

/// A register: a block of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reg {
    pub kind: Kind,
    pub index: usize,
}

/// One instruction of a fused kernel. `dtype` fields are the IR dtype of the
/// value, used to round narrow types.
#[derive(Clone, Debug)]
pub(crate) enum Instr {
    /// Reads kernel argument `arg` (its dtype decides the register kind).
    Load {
        arg: usize,
        dst: Reg,
    },
    Const {
        value: f64,
        dtype: DType,
        dst: Reg,
    },
    /// `start + i * step` at logical element `i`.
    Arange {
        start: f64,
        step: f64,
        dtype: DType,
        dst: Reg,
    },
    Unary {
        op: UnaryOp,
        src: Reg,
        dst: Reg,
    },
    Binary {
        op: BinaryOp,
        a: Reg,
        b: Reg,
        dst: Reg,
    },
    Where {
        cond: Reg,
        a: Reg,
        b: Reg,
        dst: Reg,
    },
    Cast {
        src: Reg,
        to: DType,
        dst: Reg,
    },
}

/// A register program computing one output.
#[derive(Clone, Debug)]
pub(crate) struct FusedKernel {
    pub instrs: Vec<Instr>,
    /// Registers needed per kind (`[f32, f64, i64]`).
    pub n_regs: [usize; 3],
    pub out: Reg,
}

/// An argument: its data and the view that maps the kernel's logical index
/// onto it.
pub(crate) type Arg<'a> = (&'a HostData, &'a View);

struct Regs {
    f32: Vec<Vec<f32>>,
    f64: Vec<Vec<f64>>,
    i64: Vec<Vec<i64>>,
}

impl Regs {
    fn new(n: [usize; 3]) -> Self {
        Regs {
            f32: vec![vec![0.0; BLOCK]; n[0]],
            f64: vec![vec![0.0; BLOCK]; n[1]],
            i64: vec![vec![0; BLOCK]; n[2]],
        }
    }
}

/// Runs `k` over every element of `out`.
pub(crate) fn run(k: &FusedKernel, args: &[Arg<'_>], out: &mut HostData) {
    match out {
        HostData::F64(o) => run_typed(k, args, o, |r, d| store(&r.f64[k.out.index], d, |x| x)),
        HostData::F32(o) => run_typed(k, args, o, |r, d| store(&r.f32[k.out.index], d, |x| x)),
        HostData::F16(o) => run_typed(k, args, o, |r, d| {
            store(&r.f32[k.out.index], d, f16::from_f32)
        }),
        HostData::BF16(o) => run_typed(k, args, o, |r, d| {
            store(&r.f32[k.out.index], d, bf16::from_f32)
        }),
        HostData::I64(o) => run_typed(k, args, o, |r, d| store(&r.i64[k.out.index], d, |x| x)),
        HostData::I32(o) => run_typed(k, args, o, |r, d| {
            store(&r.i64[k.out.index], d, |x| x as i32)
        }),
        HostData::U8(o) => run_typed(k, args, o, |r, d| {
            store(&r.i64[k.out.index], d, |x| x as u8)
        }),
        HostData::Bool(o) => {
            run_typed(k, args, o, |r, d| store(&r.i64[k.out.index], d, |x| x != 0))
        }
    }
}

fn store<S: Copy, T>(reg: &[S], dst: &mut [T], conv: impl Fn(S) -> T) {
    for (d, &s) in dst.iter_mut().zip(reg) {
        *d = conv(s);
    }
}

fn run_typed<T: Send>(
    k: &FusedKernel,
    args: &[Arg<'_>],
    out: &mut [T],
    store: impl Fn(&Regs, &mut [T]) + Sync,
) {
    split_for_threads(out, BLOCK, |start, chunk| {
        let mut regs = Regs::new(k.n_regs);
        for (b, dst) in chunk.chunks_mut(BLOCK).enumerate() {
            let base = start + b * BLOCK;
            for instr in &k.instrs {
                exec(instr, args, base, dst.len(), &mut regs);
            }
            store(&regs, dst);
        }
    });
}

fn exec(instr: &Instr, args: &[Arg<'_>], base: usize, len: usize, r: &mut Regs) {
    match *instr {
        Instr::Load { arg, dst } => {
            let (data, view) = args[arg];
            match dst.kind {
                Kind::F32 => load_f32(data, view, base, &mut r.f32[dst.index][..len]),
                Kind::F64 => load_f64(data, view, base, &mut r.f64[dst.index][..len]),
                Kind::I64 => load_i64(data, view, base, &mut r.i64[dst.index][..len]),
            }
        }
        Instr::Const { value, dtype, dst } => match dst.kind {
            Kind::F32 => r.f32[dst.index][..len].fill(round_f32(value as f32, dtype)),
            Kind::F64 => r.f64[dst.index][..len].fill(value),
            Kind::I64 => r.i64[dst.index][..len].fill(round_i64(value as i64, dtype)),
        },
        Instr::Arange {
            start,
            step,
            dtype,
            dst,
        } => match dst.kind {
            Kind::F32 => {
                for (i, d) in r.f32[dst.index][..len].iter_mut().enumerate() {
                    *d = round_f32((start + (base + i) as f64 * step) as f32, dtype);
                }
            }
            Kind::F64 => {
                for (i, d) in r.f64[dst.index][..len].iter_mut().enumerate() {
                    *d = start + (base + i) as f64 * step;
                }
            }
            Kind::I64 => {
                for (i, d) in r.i64[dst.index][..len].iter_mut().enumerate() {
                    *d = round_i64((start + (base + i) as f64 * step) as i64, dtype);
                }
            }
        },
        Instr::Unary { op, src, dst } => match dst.kind {
            Kind::F32 => {
                let mut d = std::mem::take(&mut r.f32[dst.index]);
                unary_float(op, &r.f32[src.index][..len], &mut d[..len]);
                r.f32[dst.index] = d;
            }
            Kind::F64 => {
                let mut d = std::mem::take(&mut r.f64[dst.index]);
                unary_float(op, &r.f64[src.index][..len], &mut d[..len]);
                r.f64[dst.index] = d;
            }
            Kind::I64 => {
                let mut d = std::mem::take(&mut r.i64[dst.index]);
                unary_int(op, &r.i64[src.index][..len], &mut d[..len]);
                r.i64[dst.index] = d;
            }
        },
        Instr::Binary { op, a, b, dst } => {
            if op.is_predicate() {
                let mut d = std::mem::take(&mut r.i64[dst.index]);
                match a.kind {
                    Kind::F32 => predicate(
                        op,
                        &r.f32[a.index][..len],
                        &r.f32[b.index][..len],
                        &mut d[..len],
                    ),
                    Kind::F64 => predicate(
                        op,
                        &r.f64[a.index][..len],
                        &r.f64[b.index][..len],
                        &mut d[..len],
                    ),
                    Kind::I64 => predicate(
                        op,
                        &r.i64[a.index][..len],
                        &r.i64[b.index][..len],
                        &mut d[..len],
                    ),
                }
                r.i64[dst.index] = d;
            } else {
                match dst.kind {
                    Kind::F32 => {
                        let mut d = std::mem::take(&mut r.f32[dst.index]);
                        binary_float(
                            op,
                            &r.f32[a.index][..len],
                            &r.f32[b.index][..len],
                            &mut d[..len],
                        );
                        r.f32[dst.index] = d;
                    }
                    Kind::F64 => {
                        let mut d = std::mem::take(&mut r.f64[dst.index]);
                        binary_float(
                            op,
                            &r.f64[a.index][..len],
                            &r.f64[b.index][..len],
                            &mut d[..len],
                        );
                        r.f64[dst.index] = d;
                    }
                    Kind::I64 => {
                        let mut d = std::mem::take(&mut r.i64[dst.index]);
                        binary_int(
                            op,
                            &r.i64[a.index][..len],
                            &r.i64[b.index][..len],
                            &mut d[..len],
                        );
                        r.i64[dst.index] = d;
                    }
                }
            }
        }
        Instr::Where { cond, a, b, dst } => {
            let c = &r.i64[cond.index][..len];
            match dst.kind {
                Kind::F32 => {
                    let mut d = std::mem::take(&mut r.f32[dst.index]);
                    select(
                        c,
                        &r.f32[a.index][..len],
                        &r.f32[b.index][..len],
                        &mut d[..len],
                    );
                    r.f32[dst.index] = d;
                }
                Kind::F64 => {
                    let mut d = std::mem::take(&mut r.f64[dst.index]);
                    select(
                        c,
                        &r.f64[a.index][..len],
                        &r.f64[b.index][..len],
                        &mut d[..len],
                    );
                    r.f64[dst.index] = d;
                }
                Kind::I64 => {
                    let mut d = std::mem::take(&mut r.i64[dst.index]);
                    let c = &r.i64[cond.index][..len];
                    select(
                        c,
                        &r.i64[a.index][..len],
                        &r.i64[b.index][..len],
                        &mut d[..len],
                    );
                    r.i64[dst.index] = d;
                }
            }
        }
        Instr::Cast { src, to, dst } => cast(r, src, to, dst, len),
    }
}

fn load_f32(data: &HostData, view: &View, base: usize, dst: &mut [f32]) {
    match data {
        HostData::F32(v) => gather(v, view, base, dst, |x| x),
        HostData::F16(v) => gather(v, view, base, dst, f16::to_f32),
        HostData::BF16(v) => gather(v, view, base, dst, bf16::to_f32),
        other => unreachable!("planner loads {:?} into f32 registers", other.dtype()),
    }
}

fn load_f64(data: &HostData, view: &View, base: usize, dst: &mut [f64]) {
    match data {
        HostData::F64(v) => gather(v, view, base, dst, |x| x),
        other => unreachable!("planner loads {:?} into f64 registers", other.dtype()),
    }
}

fn load_i64(data: &HostData, view: &View, base: usize, dst: &mut [i64]) {
    match data {
        HostData::I64(v) => gather(v, view, base, dst, |x| x),
        HostData::I32(v) => gather(v, view, base, dst, i64::from),
        HostData::U8(v) => gather(v, view, base, dst, i64::from),
        HostData::Bool(v) => gather(v, view, base, dst, i64::from),
        other => unreachable!("planner loads {:?} into i64 registers", other.dtype()),
    }
}

/// Reads the logical elements `base..base + dst.len()` of `view` over `src`.
pub(crate) fn gather<S: Copy, D>(
    src: &[S],
    view: &View,
    base: usize,
    dst: &mut [D],
    conv: impl Fn(S) -> D,
) {
    view.for_each_run(base, dst.len(), |off, stride, run, pos| {
        let d = &mut dst[pos..pos + run];
        match stride {
            1 => {
                for (o, &s) in d.iter_mut().zip(&src[off..off + run]) {
                    *o = conv(s);
                }
            }
            0 => {
                let s = src[off];
                for o in d.iter_mut() {
                    *o = conv(s);
                }
            }
            _ => {
                for (k, o) in d.iter_mut().enumerate() {
                    *o = conv(src[off + k * stride]);
                }
            }
        }
    });
}

/// Float helpers the std traits lack.
pub(crate) trait FloatOps: Float + Send + Sync + 'static {
    fn erf(self) -> Self;
    fn round_half_even(self) -> Self;
}

impl FloatOps for f32 {
    fn erf(self) -> Self {
        libm::erff(self)
    }
    fn round_half_even(self) -> Self {
        self.round_ties_even()
    }
}

impl FloatOps for f64 {
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn round_half_even(self) -> Self {
        self.round_ties_even()
    }
}

#[inline(always)]
fn map<T: Copy, U>(s: &[T], d: &mut [U], f: impl Fn(T) -> U) {
    for (o, &x) in d.iter_mut().zip(s) {
        *o = f(x);
    }
}

#[inline(always)]
fn map2<T: Copy, U>(a: &[T], b: &[T], d: &mut [U], f: impl Fn(T, T) -> U) {
    for ((o, &x), &y) in d.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// `f(x)` for the float unary ops, shared with other kernels.
pub(crate) fn unary_float<F: FloatOps>(op: UnaryOp, s: &[F], d: &mut [F]) {
    let zero = F::zero();
    let one = F::one();
    let half = F::from(0.5).unwrap_or(zero);
    let frac_1_sqrt_2 = F::from(std::f64::consts::FRAC_1_SQRT_2).unwrap_or(zero);
    match op {
        UnaryOp::Neg => map(s, d, |x| -x),
        UnaryOp::Abs => map(s, d, |x| x.abs()),
        UnaryOp::Exp => map(s, d, |x| x.exp()),
        UnaryOp::Log => map(s, d, |x| x.ln()),
        UnaryOp::Sqrt => map(s, d, |x| x.sqrt()),
        UnaryOp::Rsqrt => map(s, d, |x| one / x.sqrt()),
        UnaryOp::Recip => map(s, d, |x| one / x),
        UnaryOp::Sin => map(s, d, |x| x.sin()),
        UnaryOp::Cos => map(s, d, |x| x.cos()),
        UnaryOp::Tanh => map(s, d, |x| x.tanh()),
        UnaryOp::Sigmoid => map(s, d, |x| one / (one + (-x).exp())),
        // `x <= 0` is false for NaN, which passes through as in PyTorch.
        UnaryOp::Relu => map(s, d, |x| if x <= zero { zero } else { x }),
        UnaryOp::Gelu => map(s, d, |x| half * x * (one + (x * frac_1_sqrt_2).erf())),
        UnaryOp::Erf => map(s, d, |x| x.erf()),
        UnaryOp::Floor => map(s, d, |x| x.floor()),
        UnaryOp::Ceil => map(s, d, |x| x.ceil()),
        UnaryOp::Round => map(s, d, |x| x.round_half_even()),
        UnaryOp::Sign => map(s, d, |x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                x * zero
            }
        }),
        UnaryOp::Not => map(s, d, |x| if x == zero { one } else { zero }),
    }
}

fn unary_int(op: UnaryOp, s: &[i64], d: &mut [i64]) {
    match op {
        UnaryOp::Neg => map(s, d, i64::wrapping_neg),
        UnaryOp::Abs => map(s, d, i64::wrapping_abs),
        UnaryOp::Relu => map(s, d, |x| x.max(0)),
        UnaryOp::Sign => map(s, d, i64::signum),
        UnaryOp::Not => map(s, d, |x| (x == 0) as i64),
        // Rounding an integer is the identity; float-only ops never reach here
        // (the front end promotes integers to float first).
        _ => d.copy_from_slice(s),
    }
}

/// `a op b` for the float arithmetic ops, shared with other kernels.
pub(crate) fn binary_float<F: FloatOps>(op: BinaryOp, a: &[F], b: &[F], d: &mut [F]) {
    match op {
        BinaryOp::Add => map2(a, b, d, |x, y| x + y),
        BinaryOp::Sub => map2(a, b, d, |x, y| x - y),
        BinaryOp::Mul => map2(a, b, d, |x, y| x * y),
        BinaryOp::Div => map2(a, b, d, |x, y| x / y),
        BinaryOp::Pow => map2(a, b, d, |x, y| x.powf(y)),
        // NaN in either operand gives NaN, as torch.maximum.
        BinaryOp::Maximum => map2(a, b, d, |x, y| if x.is_nan() || x > y { x } else { y }),
        BinaryOp::Minimum => map2(a, b, d, |x, y| if x.is_nan() || x < y { x } else { y }),
        _ => unreachable!("{op:?} is a predicate"),
    }
}

fn binary_int(op: BinaryOp, a: &[i64], b: &[i64], d: &mut [i64]) {
    match op {
        BinaryOp::Add => map2(a, b, d, i64::wrapping_add),
        BinaryOp::Sub => map2(a, b, d, i64::wrapping_sub),
        BinaryOp::Mul => map2(a, b, d, i64::wrapping_mul),
        // Integer division truncates; division by zero gives 0 instead of trapping.
        BinaryOp::Div => map2(a, b, d, |x, y| x.checked_div(y).unwrap_or(0)),
        BinaryOp::Pow => map2(a, b, d, int_pow),
        BinaryOp::Maximum => map2(a, b, d, i64::max),
        BinaryOp::Minimum => map2(a, b, d, i64::min),
        _ => unreachable!("{op:?} is a predicate"),
    }
}

/// Integer power; a negative exponent gives the truncated real result.
fn int_pow(x: i64, y: i64) -> i64 {
    if y >= 0 {
        x.wrapping_pow(y.min(u32::MAX as i64) as u32)
    } else {
        match x {
            1 => 1,
            -1 => {
                if y % 2 == 0 {
                    1
                } else {
                    -1
                }
            }
            _ => 0,
        }
    }
}

fn predicate<T: PartialOrd + Copy + Default>(op: BinaryOp, a: &[T], b: &[T], d: &mut [i64]) {
    let z = T::default();
    match op {
        BinaryOp::Eq => map2(a, b, d, |x, y| (x == y) as i64),
        BinaryOp::Ne => map2(a, b, d, |x, y| (x != y) as i64),
        BinaryOp::Lt => map2(a, b, d, |x, y| (x < y) as i64),
        BinaryOp::Le => map2(a, b, d, |x, y| (x <= y) as i64),
        BinaryOp::Gt => map2(a, b, d, |x, y| (x > y) as i64),
        BinaryOp::Ge => map2(a, b, d, |x, y| (x >= y) as i64),
        BinaryOp::And => map2(a, b, d, |x, y| (x != z && y != z) as i64),
        BinaryOp::Or => map2(a, b, d, |x, y| (x != z || y != z) as i64),
        _ => unreachable!("{op:?} is not a predicate"),
    }
}

fn select<T: Copy>(c: &[i64], a: &[T], b: &[T], d: &mut [T]) {
    for (((o, &c), &x), &y) in d.iter_mut().zip(c).zip(a).zip(b) {
        *o = if c != 0 { x } else { y };
    }
}

/// Rounds an f32-register value to the precision of `dtype`.
fn round_f32(x: f32, dtype: DType) -> f32 {
    match dtype {
        DType::F16 => f16::from_f32(x).to_f32(),
        DType::BF16 => bf16::from_f32(x).to_f32(),
        _ => x,
    }
}

/// Wraps an i64-register value to the range of `dtype`.
fn round_i64(x: i64, dtype: DType) -> i64 {
    match dtype {
        DType::I32 => x as i32 as i64,
        DType::U8 => x as u8 as i64,
        DType::Bool => (x != 0) as i64,
        _ => x,
    }
}

fn cast(r: &mut Regs, src: Reg, to: DType, dst: Reg, len: usize) {
    match (src.kind, dst.kind) {
        (Kind::F32, Kind::F32) => {
            let mut d = std::mem::take(&mut r.f32[dst.index]);
            map(&r.f32[src.index][..len], &mut d[..len], |x| {
                round_f32(x, to)
            });
            r.f32[dst.index] = d;
        }
        (Kind::F64, Kind::F32) => map(
            &r.f64[src.index][..len],
            &mut r.f32[dst.index][..len],
            |x| round_f32(x as f32, to),
        ),
        (Kind::I64, Kind::F32) => map(
            &r.i64[src.index][..len],
            &mut r.f32[dst.index][..len],
            |x| round_f32(x as f32, to),
        ),
        (Kind::F32, Kind::F64) => map(
            &r.f32[src.index][..len],
            &mut r.f64[dst.index][..len],
            f64::from,
        ),
        (Kind::F64, Kind::F64) => {
            let mut d = std::mem::take(&mut r.f64[dst.index]);
            d[..len].copy_from_slice(&r.f64[src.index][..len]);
            r.f64[dst.index] = d;
        }
        (Kind::I64, Kind::F64) => map(
            &r.i64[src.index][..len],
            &mut r.f64[dst.index][..len],
            |x| x as f64,
        ),
        // Float to Bool tests `!= 0` (NaN is true); to integers truncates.
        (Kind::F32, Kind::I64) => map(
            &r.f32[src.index][..len],
            &mut r.i64[dst.index][..len],
            |x| {
                if to == DType::Bool {
                    (x != 0.0) as i64
                } else {
                    round_i64(x as i64, to)
                }
            },
        ),
        (Kind::F64, Kind::I64) => map(
            &r.f64[src.index][..len],
            &mut r.i64[dst.index][..len],
            |x| {
                if to == DType::Bool {
                    (x != 0.0) as i64
                } else {
                    round_i64(x as i64, to)
                }
            },
        ),
        (Kind::I64, Kind::I64) => {
            let mut d = std::mem::take(&mut r.i64[dst.index]);
            map(&r.i64[src.index][..len], &mut d[..len], |x| {
                round_i64(x, to)
            });
            r.i64[dst.index] = d;
        }
    }
}
