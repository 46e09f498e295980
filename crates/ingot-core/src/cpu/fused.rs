//! Fused elementwise kernels: a chain of elementwise ops runs as one pass over
//! memory. The planner turns the chain into a short register program; this
//! module runs it over blocks of [`REG_LEN`] elements that stay in L1 cache,
//! each instruction a tight loop the compiler vectorizes.
//!
//! Values are computed in one of four register kinds: `f32` (for F32, F16
//! and BF16), `f64`, `i64` (for the integers) and byte masks (for Bool, 0 or
//! 1). Narrow types are rounded when cast and when stored. Bool gets bytes
//! rather than `i64` so that a `where` over floats selects between lanes of
//! similar width, which the compiler vectorizes.

use half::{bf16, f16};
use num_traits::Float;

use super::exec::split;
use super::halfs;
use super::parallel;
use super::view::View;
use super::vmath;
#[cfg(target_arch = "x86_64")]
use super::wide_simd;
use super::{Widest, run_widest};
use crate::ir::{BinaryOp, UnaryOp};
use crate::{DType, Error, HostData, Result};

/// Elements per block of the kernels that read views a block at a time
/// into buffers (reductions, index ops).
pub(crate) const BLOCK: usize = 256;

/// Elements per block of a fused kernel: one register of the program.
const REG_LEN: usize = 1024;

/// Register kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    F32,
    F64,
    I64,
    Mask,
}

impl Kind {
    pub fn of(dtype: DType) -> Kind {
        match dtype {
            DType::F64 => Kind::F64,
            DType::F32 | DType::F16 | DType::BF16 => Kind::F32,
            DType::I64 | DType::I32 | DType::U8 => Kind::I64,
            DType::Bool => Kind::Mask,
        }
    }

    /// Whether registers of a kind hold `dtype`'s values exactly as they
    /// are (F32, F64 and I64): then a contiguous load of them is read in
    /// place, and an output of them can be written directly.
    pub fn holds_exactly(dtype: DType) -> bool {
        matches!(dtype, DType::F32 | DType::F64 | DType::I64)
    }

    /// Position in [`FusedKernel::n_regs`].
    pub fn slot(self) -> usize {
        self as usize
    }
}

/// A register: a block of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reg {
    pub kind: Kind,
    pub index: usize,
}

/// Which blocks of a load its register reads from the argument itself,
/// rather than from a copy: only loads of values the register holds
/// exactly (see [`Kind::holds_exactly`]) that write no output do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InPlace {
    /// Every block (the view is contiguous).
    Always,
    /// The blocks that lie inside one stretch of the view's last axis,
    /// which steps by one (a row broadcast over the others).
    InRows,
    Never,
}

/// One instruction of a fused kernel. `dtype` fields are the IR dtype of the
/// value, used to round narrow types.
#[derive(Clone, Debug)]
pub(crate) enum Instr {
    /// Reads kernel argument `arg` (its dtype decides the register kind),
    /// in place where `in_place` says.
    Load {
        arg: usize,
        dst: Reg,
        in_place: InPlace,
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

/// A register program computing one or more outputs of the same length.
#[derive(Clone, Debug)]
pub(crate) struct FusedKernel {
    pub instrs: Vec<Instr>,
    /// How many leading instructions compute values that are the same in
    /// every block (constants, broadcast scalars): they run once per chunk
    /// and their registers are never reused.
    pub prologue: usize,
    /// For each instruction, the output it writes in place of its register
    /// (an output that only it writes and nothing reads after); the other
    /// outputs are stored from their registers after each block.
    pub writes: Vec<Option<usize>>,
    /// Registers needed per kind, indexed by [`Kind::slot`].
    pub n_regs: [usize; 4],
    /// The register stored into each output, the step's main output first.
    pub outs: Vec<Reg>,
}

/// An argument: its data and the view that maps the kernel's logical index
/// onto it.
pub(crate) type Arg<'a> = (&'a HostData, &'a View);

/// The registers of one kind.
struct Bank<'a, T> {
    regs: Vec<Vec<T>>,
    /// `Some` where a register's value for the current block is a
    /// contiguous stretch of an argument, read in place rather than copied.
    bound: Vec<Option<&'a [T]>>,
}

impl<'a, T: Copy + Default> Bank<'a, T> {
    /// `n` registers of `len` values.
    fn new(n: usize, len: usize) -> Self {
        Bank {
            regs: (0..n).map(|_| vec![T::default(); len]).collect(),
            bound: vec![None; n],
        }
    }

    /// The first `len` values of register `i`.
    #[inline(always)]
    fn get(&self, i: usize, len: usize) -> &[T] {
        match self.bound[i] {
            Some(s) => &s[..len],
            None => &self.regs[i][..len],
        }
    }

    /// Register `i`'s storage, to be written: taken out (leaving an empty
    /// vector) so that it can be written while other registers of its kind
    /// are read; [`Bank::put`] gives it back.
    #[inline(always)]
    fn take(&mut self, i: usize) -> Vec<T> {
        self.bound[i] = None;
        std::mem::take(&mut self.regs[i])
    }

    #[inline(always)]
    fn put(&mut self, i: usize, v: Vec<T>) {
        self.regs[i] = v;
    }

    /// Register `i`'s first `len` values, to be written.
    #[inline(always)]
    fn slot(&mut self, i: usize, len: usize) -> &mut [T] {
        self.bound[i] = None;
        &mut self.regs[i][..len]
    }

    /// Makes register `i` read `values` in place for the current block.
    #[inline(always)]
    fn bind(&mut self, i: usize, values: &'a [T]) {
        self.bound[i] = Some(values);
    }
}

struct Regs<'a> {
    f32: Bank<'a, f32>,
    f64: Bank<'a, f64>,
    i64: Bank<'a, i64>,
    mask: Bank<'a, u8>,
}

impl Regs<'_> {
    /// Registers for blocks of up to `len` values, `n` of each kind.
    fn new(n: [usize; 4], len: usize) -> Self {
        Regs {
            f32: Bank::new(n[0], len),
            f64: Bank::new(n[1], len),
            i64: Bank::new(n[2], len),
            mask: Bank::new(n[3], len),
        }
    }
}

/// An output stretch an instruction writes in place of its register (see
/// [`FusedKernel::writes`]).
enum Out<'b> {
    F32(&'b mut [f32]),
    F64(&'b mut [f64]),
    I64(&'b mut [i64]),
}

impl<'b> Out<'b> {
    #[inline(always)]
    fn f32(out: Option<Out<'b>>) -> Option<&'b mut [f32]> {
        match out {
            Some(Out::F32(d)) => Some(d),
            _ => None,
        }
    }

    #[inline(always)]
    fn f64(out: Option<Out<'b>>) -> Option<&'b mut [f64]> {
        match out {
            Some(Out::F64(d)) => Some(d),
            _ => None,
        }
    }

    #[inline(always)]
    fn i64(out: Option<Out<'b>>) -> Option<&'b mut [i64]> {
        match out {
            Some(Out::I64(d)) => Some(d),
            _ => None,
        }
    }
}

/// A stretch of one output buffer, written from a register.
enum Sink<'a> {
    F64(&'a mut [f64]),
    F32(&'a mut [f32]),
    F16(&'a mut [f16]),
    BF16(&'a mut [bf16]),
    I64(&'a mut [i64]),
    I32(&'a mut [i32]),
    U8(&'a mut [u8]),
    Bool(&'a mut [bool]),
}

impl<'a> Sink<'a> {
    /// `data` cut into stretches of `size` elements.
    fn chunks(data: &'a mut HostData, size: usize) -> Vec<Sink<'a>> {
        match data {
            HostData::F64(v) => v.chunks_mut(size).map(Sink::F64).collect(),
            HostData::F32(v) => v.chunks_mut(size).map(Sink::F32).collect(),
            HostData::F16(v) => v.chunks_mut(size).map(Sink::F16).collect(),
            HostData::BF16(v) => v.chunks_mut(size).map(Sink::BF16).collect(),
            HostData::I64(v) => v.chunks_mut(size).map(Sink::I64).collect(),
            HostData::I32(v) => v.chunks_mut(size).map(Sink::I32).collect(),
            HostData::U8(v) => v.chunks_mut(size).map(Sink::U8).collect(),
            HostData::Bool(v) => v.chunks_mut(size).map(Sink::Bool).collect(),
        }
    }

    /// Stores register `reg` into elements `at..at + len`, rounding to the
    /// sink's type.
    #[inline(always)]
    fn store(&mut self, r: &Regs, reg: Reg, at: usize, len: usize) {
        let i = reg.index;
        match self {
            Sink::F64(d) => store(r.f64.get(i, len), &mut d[at..], |x| x),
            Sink::F32(d) => store(r.f32.get(i, len), &mut d[at..], |x| x),
            Sink::F16(d) => halfs::f16_from_f32s(r.f32.get(i, len), &mut d[at..at + len]),
            Sink::BF16(d) => halfs::bf16_from_f32s(r.f32.get(i, len), &mut d[at..at + len]),
            Sink::I64(d) => store(r.i64.get(i, len), &mut d[at..], |x| x),
            Sink::I32(d) => store(r.i64.get(i, len), &mut d[at..], |x| x as i32),
            Sink::U8(d) => store(r.i64.get(i, len), &mut d[at..], |x| x as u8),
            Sink::Bool(d) => store(r.mask.get(i, len), &mut d[at..], |x| x != 0),
        }
    }

    /// Elements `at..at + len`, for an instruction to write in place of its
    /// register: `None` for a type no register holds exactly.
    #[inline(always)]
    fn direct(&mut self, at: usize, len: usize) -> Option<Out<'_>> {
        match self {
            Sink::F32(d) => Some(Out::F32(&mut d[at..at + len])),
            Sink::F64(d) => Some(Out::F64(&mut d[at..at + len])),
            Sink::I64(d) => Some(Out::I64(&mut d[at..at + len])),
            _ => None,
        }
    }
}

impl FusedKernel {
    /// The work per element of the instructions that run every block, in
    /// units of a simple arithmetic op: transcendental functions and powers
    /// count as 8 (relu or add_scalar of a loaded value weighs 2).
    fn weight(&self) -> usize {
        let heavy = |i: &Instr| match *i {
            Instr::Unary { op, .. } => in_vmath(op) || matches!(op, UnaryOp::Sin | UnaryOp::Cos),
            Instr::Binary { op, .. } => op == BinaryOp::Pow,
            _ => false,
        };
        self.instrs[self.prologue..]
            .iter()
            .map(|i| if heavy(i) { 8 } else { 1 })
            .sum()
    }
}

/// Runs `k` over every element of its outputs `outs` (one per
/// [`FusedKernel::outs`], all of one length).
pub(crate) fn run(k: &FusedKernel, args: &[Arg<'_>], outs: &mut [HostData]) -> Result<()> {
    let n = outs.first().map_or(0, HostData::len);
    if outs.len() != k.outs.len() || outs.iter().any(|o| o.len() != n) {
        return Err(Error::Backend {
            backend: "cpu".into(),
            msg: format!(
                "internal: a fused kernel of {} outputs given {} buffers of lengths {:?}",
                k.outs.len(),
                outs.len(),
                outs.iter().map(HostData::len).collect::<Vec<_>>()
            ),
        });
    }
    let direct_ok = k.writes.len() == k.instrs.len()
        && k.writes
            .iter()
            .flatten()
            .all(|&o| o < outs.len() && Kind::holds_exactly(outs[o].dtype()));
    if !direct_ok {
        return Err(Error::Backend {
            backend: "cpu".into(),
            msg: "internal: a fused kernel writes an output its registers do not hold exactly"
                .into(),
        });
    }
    if n == 0 {
        return Ok(());
    }
    // Heavier programs are worth spreading over more threads.
    let (threads, size) = split(n, n.saturating_mul(k.weight()) / 2, REG_LEN);
    // One task per stretch of `size` elements, holding that stretch of every
    // output.
    let mut tasks: Vec<Vec<Sink<'_>>> = (0..n.div_ceil(size)).map(|_| Vec::new()).collect();
    for out in outs.iter_mut() {
        for (task, sink) in tasks.iter_mut().zip(Sink::chunks(out, size)) {
            task.push(sink);
        }
    }
    // Outputs an instruction writes directly are not stored after it.
    let stored: Vec<bool> = (0..k.outs.len())
        .map(|o| !k.writes.contains(&Some(o)))
        .collect();
    #[cfg(target_arch = "x86_64")]
    let wide = wide_simd();
    let work = |t: usize, sinks: &mut Vec<Sink<'_>>| {
        let len = size.min(n - t * size);
        #[cfg(target_arch = "x86_64")]
        if wide {
            // SAFETY: `wide_simd` checked at run time that this CPU has the
            // AVX2 and FMA instructions `run_chunk_avx2` is compiled for.
            unsafe { run_chunk_avx2(k, args, (t * size, len), sinks, &stored) };
            return;
        }
        run_chunk(k, args, (t * size, len), sinks, &stored);
    };
    parallel::for_each_item_on(threads, &mut tasks, work);
    Ok(())
}

#[inline(always)]
fn store<S: Copy, T>(reg: &[S], dst: &mut [T], conv: impl Fn(S) -> T) {
    for (d, &s) in dst.iter_mut().zip(reg) {
        *d = conv(s);
    }
}

/// Runs the program over elements `start..start + len`, whose stretch of
/// each output `sinks` holds; `stored` says which outputs are stored from
/// their registers. Everything it calls is inlined, so [`run_chunk_avx2`]
/// gets a copy vectorized for AVX2.
#[inline(always)]
fn run_chunk<'a>(
    k: &FusedKernel,
    args: &[Arg<'a>],
    (start, len): (usize, usize),
    sinks: &mut [Sink<'_>],
    stored: &[bool],
) {
    let mut regs = Regs::new(k.n_regs, REG_LEN.min(len));
    for instr in &k.instrs[..k.prologue] {
        exec(instr, args, start, REG_LEN.min(len), &mut regs, None);
    }
    let whole = len / REG_LEN * REG_LEN;
    for at in (0..whole).step_by(REG_LEN) {
        // A constant length, so that each instruction's loop has a known
        // trip count.
        run_block(k, args, (start, at, REG_LEN), sinks, &mut regs, stored);
    }
    if whole < len {
        run_block(
            k,
            args,
            (start, whole, len - whole),
            sinks,
            &mut regs,
            stored,
        );
    }
}

/// Runs the program over the `block` elements at `start + at` and stores
/// them at `at` of each output stretch.
#[inline(always)]
fn run_block<'a>(
    k: &FusedKernel,
    args: &[Arg<'a>],
    (start, at, block): (usize, usize, usize),
    sinks: &mut [Sink<'_>],
    regs: &mut Regs<'a>,
    stored: &[bool],
) {
    for (instr, &to) in k.instrs.iter().zip(&k.writes).skip(k.prologue) {
        let out = to.and_then(|o| sinks[o].direct(at, block));
        exec(instr, args, start + at, block, regs, out);
    }
    for ((sink, &reg), &stored) in sinks.iter_mut().zip(&k.outs).zip(stored) {
        if stored {
            sink.store(regs, reg, at, block);
        }
    }
}

/// [`run_chunk`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_chunk_avx2(
    k: &FusedKernel,
    args: &[Arg<'_>],
    range: (usize, usize),
    sinks: &mut [Sink<'_>],
    stored: &[bool],
) {
    run_chunk(k, args, range, sinks, stored);
}

/// Runs `$body` with `$d` the stretch instruction writes: the output
/// stretch `$out` where there is one, else the first `$len` values of
/// register `$i` of `$regs.$kind` (taken out meanwhile, so that it can be
/// written while other registers of its kind are read).
macro_rules! with_dst {
    ($regs:ident . $kind:ident [$i:expr], $out:expr, $len:expr, |$d:ident| $body:expr) => {{
        let mut reg = $regs.$kind.take($i);
        let $d: &mut [_] = match $out {
            Some(out) => out,
            None => &mut reg[..$len],
        };
        $body;
        $regs.$kind.put($i, reg);
    }};
}

#[inline(always)]
fn exec<'a>(
    instr: &Instr,
    args: &[Arg<'a>],
    base: usize,
    len: usize,
    r: &mut Regs<'a>,
    out: Option<Out<'_>>,
) {
    match *instr {
        Instr::Load { arg, dst, in_place } => {
            let (data, view) = args[arg];
            let i = dst.index;
            let run = match in_place {
                InPlace::Always => Some(view.offset + base),
                InPlace::InRows => row_run(view, base, len),
                InPlace::Never => None,
            };
            match (dst.kind, data, run) {
                (Kind::F32, HostData::F32(v), Some(at)) => r.f32.bind(i, &v[at..at + len]),
                (Kind::F64, HostData::F64(v), Some(at)) => r.f64.bind(i, &v[at..at + len]),
                (Kind::I64, HostData::I64(v), Some(at)) => r.i64.bind(i, &v[at..at + len]),
                (Kind::F32, ..) => {
                    with_dst!(r.f32[i], Out::f32(out), len, |d| load_f32(
                        data, view, base, d
                    ))
                }
                (Kind::F64, ..) => {
                    with_dst!(r.f64[i], Out::f64(out), len, |d| load_f64(
                        data, view, base, d
                    ))
                }
                (Kind::I64, ..) => {
                    with_dst!(r.i64[i], Out::i64(out), len, |d| load_i64(
                        data, view, base, d
                    ))
                }
                (Kind::Mask, ..) => load_mask(data, view, base, r.mask.slot(i, len)),
            }
        }
        Instr::Const { value, dtype, dst } => {
            let i = dst.index;
            match dst.kind {
                Kind::F32 => {
                    with_dst!(r.f32[i], Out::f32(out), len, |d| d
                        .fill(round_f32(value as f32, dtype)))
                }
                Kind::F64 => with_dst!(r.f64[i], Out::f64(out), len, |d| d.fill(value)),
                Kind::I64 => {
                    with_dst!(r.i64[i], Out::i64(out), len, |d| d
                        .fill(round_i64(value as i64, dtype)))
                }
                Kind::Mask => r.mask.slot(i, len).fill((value != 0.0) as u8),
            }
        }
        Instr::Arange {
            start,
            step,
            dtype,
            dst,
        } => {
            let at = |k: usize| start + (base + k) as f64 * step;
            let i = dst.index;
            match dst.kind {
                Kind::F32 => with_dst!(r.f32[i], Out::f32(out), len, |d| d
                    .iter_mut()
                    .enumerate()
                    .for_each(|(k, d)| *d = round_f32(at(k) as f32, dtype))),
                Kind::F64 => with_dst!(r.f64[i], Out::f64(out), len, |d| d
                    .iter_mut()
                    .enumerate()
                    .for_each(|(k, d)| *d = at(k))),
                Kind::I64 => with_dst!(r.i64[i], Out::i64(out), len, |d| d
                    .iter_mut()
                    .enumerate()
                    .for_each(|(k, d)| *d = round_i64(at(k) as i64, dtype))),
                Kind::Mask => r
                    .mask
                    .slot(i, len)
                    .iter_mut()
                    .enumerate()
                    .for_each(|(k, d)| *d = (at(k) != 0.0) as u8),
            }
        }
        Instr::Unary { op, src, dst } => {
            let (s, i) = (src.index, dst.index);
            match dst.kind {
                Kind::F32 => with_dst!(r.f32[i], Out::f32(out), len, |d| unary_f32(
                    op,
                    r.f32.get(s, len),
                    d
                )),
                Kind::F64 => with_dst!(r.f64[i], Out::f64(out), len, |d| unary_float(
                    op,
                    r.f64.get(s, len),
                    d
                )),
                Kind::I64 => with_dst!(r.i64[i], Out::i64(out), len, |d| unary_int(
                    op,
                    r.i64.get(s, len),
                    d
                )),
                Kind::Mask => with_dst!(r.mask[i], None, len, |d| unary_mask(
                    op,
                    r.mask.get(s, len),
                    d
                )),
            }
        }
        Instr::Binary { op, a, b, dst } => {
            let (x, y, i) = (a.index, b.index, dst.index);
            if op.is_predicate() {
                with_dst!(r.mask[i], None, len, |d| match a.kind {
                    Kind::F32 => predicate(op, r.f32.get(x, len), r.f32.get(y, len), d),
                    Kind::F64 => predicate(op, r.f64.get(x, len), r.f64.get(y, len), d),
                    Kind::I64 => predicate(op, r.i64.get(x, len), r.i64.get(y, len), d),
                    Kind::Mask => predicate(op, r.mask.get(x, len), r.mask.get(y, len), d),
                });
            } else {
                match dst.kind {
                    Kind::F32 => with_dst!(r.f32[i], Out::f32(out), len, |d| binary_float(
                        op,
                        r.f32.get(x, len),
                        r.f32.get(y, len),
                        d
                    )),
                    Kind::F64 => with_dst!(r.f64[i], Out::f64(out), len, |d| binary_float(
                        op,
                        r.f64.get(x, len),
                        r.f64.get(y, len),
                        d
                    )),
                    Kind::I64 => with_dst!(r.i64[i], Out::i64(out), len, |d| binary_int(
                        op,
                        r.i64.get(x, len),
                        r.i64.get(y, len),
                        d
                    )),
                    Kind::Mask => with_dst!(r.mask[i], None, len, |d| binary_mask(
                        op,
                        r.mask.get(x, len),
                        r.mask.get(y, len),
                        d
                    )),
                }
            }
        }
        Instr::Where { cond, a, b, dst } => {
            let (c, x, y, i) = (cond.index, a.index, b.index, dst.index);
            match dst.kind {
                Kind::F32 => with_dst!(r.f32[i], Out::f32(out), len, |d| select(
                    r.mask.get(c, len),
                    r.f32.get(x, len),
                    r.f32.get(y, len),
                    d
                )),
                Kind::F64 => with_dst!(r.f64[i], Out::f64(out), len, |d| select(
                    r.mask.get(c, len),
                    r.f64.get(x, len),
                    r.f64.get(y, len),
                    d
                )),
                Kind::I64 => with_dst!(r.i64[i], Out::i64(out), len, |d| select(
                    r.mask.get(c, len),
                    r.i64.get(x, len),
                    r.i64.get(y, len),
                    d
                )),
                Kind::Mask => with_dst!(r.mask[i], None, len, |d| select(
                    r.mask.get(c, len),
                    r.mask.get(x, len),
                    r.mask.get(y, len),
                    d
                )),
            }
        }
        Instr::Cast { src, to, dst } => cast(r, src, (to, dst), len, out),
    }
}

/// Where in its buffer the logical elements `base..base + len` of `view`
/// lie, if they are inside one stretch of its last axis (which steps by
/// one: see [`InPlace::InRows`]).
#[inline(always)]
fn row_run(view: &View, base: usize, len: usize) -> Option<usize> {
    let &last = view.shape.last()?;
    (base % last + len <= last).then(|| view.offset_of(base))
}

/// Reads the logical elements `base..base + dst.len()` of an `f32`,
/// `f16` or `bf16` buffer's `view` as `f32`.
#[inline(always)]
pub(crate) fn load_f32(data: &HostData, view: &View, base: usize, dst: &mut [f32]) {
    match data {
        HostData::F32(v) => gather(v, view, base, dst, |x| x),
        HostData::F16(v) => gather_runs(v, view, base, dst, f16::to_f32, halfs::f16_to_f32s),
        HostData::BF16(v) => gather_runs(v, view, base, dst, bf16::to_f32, halfs::bf16_to_f32s),
        other => unreachable!("planner loads {:?} into f32 registers", other.dtype()),
    }
}

#[inline(always)]
fn load_f64(data: &HostData, view: &View, base: usize, dst: &mut [f64]) {
    match data {
        HostData::F64(v) => gather(v, view, base, dst, |x| x),
        other => unreachable!("planner loads {:?} into f64 registers", other.dtype()),
    }
}

#[inline(always)]
fn load_i64(data: &HostData, view: &View, base: usize, dst: &mut [i64]) {
    match data {
        HostData::I64(v) => gather(v, view, base, dst, |x| x),
        HostData::I32(v) => gather(v, view, base, dst, i64::from),
        HostData::U8(v) => gather(v, view, base, dst, i64::from),
        other => unreachable!("planner loads {:?} into i64 registers", other.dtype()),
    }
}

#[inline(always)]
fn load_mask(data: &HostData, view: &View, base: usize, dst: &mut [u8]) {
    match data {
        HostData::Bool(v) => gather(v, view, base, dst, u8::from),
        other => unreachable!("planner loads {:?} into mask registers", other.dtype()),
    }
}

/// Reads the logical elements `base..base + dst.len()` of `view` over `src`.
#[inline(always)]
pub(crate) fn gather<S: Copy, D>(
    src: &[S],
    view: &View,
    base: usize,
    dst: &mut [D],
    conv: impl Fn(S) -> D,
) {
    gather_runs(src, view, base, dst, &conv, |s, d| {
        for (o, &s) in d.iter_mut().zip(s) {
            *o = conv(s);
        }
    });
}

/// [`gather`], converting each contiguous run of `src` with `run` (a slice
/// conversion) and other elements with `conv`.
#[inline(always)]
pub(crate) fn gather_runs<S: Copy, D>(
    src: &[S],
    view: &View,
    base: usize,
    dst: &mut [D],
    conv: impl Fn(S) -> D,
    run: impl Fn(&[S], &mut [D]),
) {
    view.for_each_run(base, dst.len(), |off, stride, len, pos| {
        let d = &mut dst[pos..pos + len];
        match stride {
            1 => run(&src[off..off + len], d),
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

/// Float functions as the kernels compute them. The `v` ones (and `erf`)
/// go through [`vmath`] for `f32`, whose branch-free code vectorizes
/// inside the kernels' loops; `f64` keeps the standard library's (and
/// `libm`'s `erf`).
pub(crate) trait FloatOps: Float + Send + Sync + 'static {
    fn erf(self) -> Self;
    fn round_half_even(self) -> Self;
    /// `e^x`.
    fn vexp(self) -> Self;
    /// `e^x` for `x <= 0`, where results below `2^-124` may be 0 (see
    /// [`vmath::exp_nonpositive`]).
    fn vexp_nonpositive(self) -> Self;
    /// The natural logarithm.
    fn vln(self) -> Self;
    /// The hyperbolic tangent.
    fn vtanh(self) -> Self;
    /// `1 / (1 + e^-x)`.
    fn vsigmoid(self) -> Self;
}

impl FloatOps for f32 {
    #[inline(always)]
    fn erf(self) -> Self {
        vmath::erf(self)
    }
    fn round_half_even(self) -> Self {
        self.round_ties_even()
    }
    #[inline(always)]
    fn vexp(self) -> Self {
        vmath::exp(self)
    }
    #[inline(always)]
    fn vexp_nonpositive(self) -> Self {
        vmath::exp_nonpositive(self)
    }
    #[inline(always)]
    fn vln(self) -> Self {
        vmath::ln(self)
    }
    #[inline(always)]
    fn vtanh(self) -> Self {
        vmath::tanh(self)
    }
    #[inline(always)]
    fn vsigmoid(self) -> Self {
        vmath::sigmoid(self)
    }
}

impl FloatOps for f64 {
    #[inline(always)]
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn round_half_even(self) -> Self {
        self.round_ties_even()
    }
    #[inline(always)]
    fn vexp(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn vexp_nonpositive(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn vln(self) -> Self {
        self.ln()
    }
    #[inline(always)]
    fn vtanh(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn vsigmoid(self) -> Self {
        1.0 / (1.0 + (-self).exp())
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

/// `d[i] = body(s[i])` for each element, written out as a loop rather
/// than through [`map`]'s closure: around the `vmath` functions a closure
/// is too large for the compiler to inline, and its calls, one per
/// element, would not vectorize.
macro_rules! map_inline {
    ($s:expr, $d:expr, |$x:ident| $body:expr) => {
        for (o, &$x) in $d.iter_mut().zip($s) {
            *o = $body;
        }
    };
}

/// Whether `f32` computes `op` through [`vmath`].
fn in_vmath(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Tanh
            | UnaryOp::Sigmoid
            | UnaryOp::Gelu
            | UnaryOp::Erf
    )
}

/// [`unary_float`] for `f32`: the transcendental ops run in the widest
/// build the CPU has (16 lanes at a time with AVX-512; the same arithmetic,
/// so the same results, as the interpreter's own build).
#[inline(always)]
fn unary_f32(op: UnaryOp, s: &[f32], d: &mut [f32]) {
    if in_vmath(op) {
        run_widest(UnaryF32 { op, s, d });
    } else {
        unary_float(op, s, d);
    }
}

/// [`unary_f32`]'s arguments, as [`run_widest`] takes them.
struct UnaryF32<'a> {
    op: UnaryOp,
    s: &'a [f32],
    d: &'a mut [f32],
}

impl Widest for UnaryF32<'_> {
    #[inline(always)]
    fn run(self) {
        match self.op {
            UnaryOp::Exp => vmath::exp_into(self.s, self.d),
            UnaryOp::Sigmoid => vmath::sigmoid_into(self.s, self.d),
            UnaryOp::Gelu => vmath::gelu_into(self.s, self.d),
            op => unary_float(op, self.s, self.d),
        }
    }
}

/// `f(x)` for the float unary ops, shared with other kernels.
#[inline(always)]
pub(crate) fn unary_float<F: FloatOps>(op: UnaryOp, s: &[F], d: &mut [F]) {
    let zero = F::zero();
    let one = F::one();
    let half = F::from(0.5).unwrap_or(zero);
    let frac_1_sqrt_2 = F::from(std::f64::consts::FRAC_1_SQRT_2).unwrap_or(zero);
    match op {
        UnaryOp::Neg => map_inline!(s, d, |x| -x),
        UnaryOp::Abs => map_inline!(s, d, |x| x.abs()),
        UnaryOp::Exp => map_inline!(s, d, |x| x.vexp()),
        UnaryOp::Log => map_inline!(s, d, |x| x.vln()),
        UnaryOp::Sqrt => map_inline!(s, d, |x| x.sqrt()),
        UnaryOp::Rsqrt => map_inline!(s, d, |x| one / x.sqrt()),
        UnaryOp::Recip => map_inline!(s, d, |x| one / x),
        UnaryOp::Sin => map_inline!(s, d, |x| x.sin()),
        UnaryOp::Cos => map_inline!(s, d, |x| x.cos()),
        UnaryOp::Tanh => map_inline!(s, d, |x| x.vtanh()),
        UnaryOp::Sigmoid => map_inline!(s, d, |x| x.vsigmoid()),
        // `x <= 0` is false for NaN, which passes through as in PyTorch.
        UnaryOp::Relu => map_inline!(s, d, |x| if x <= zero { zero } else { x }),
        UnaryOp::Gelu => map_inline!(s, d, |x| half * x * (one + (x * frac_1_sqrt_2).erf())),
        UnaryOp::Erf => map_inline!(s, d, |x| x.erf()),
        UnaryOp::Floor => map_inline!(s, d, |x| x.floor()),
        UnaryOp::Ceil => map_inline!(s, d, |x| x.ceil()),
        UnaryOp::Round => map_inline!(s, d, |x| x.round_half_even()),
        UnaryOp::Sign => map_inline!(s, d, |x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else {
                x * zero
            }
        }),
        UnaryOp::Not => map_inline!(s, d, |x| if x == zero { one } else { zero }),
    }
}

#[inline(always)]
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
/// Bool ops: `Not` flips, everything else leaves the value (0 or 1).
#[inline(always)]
fn unary_mask(op: UnaryOp, s: &[u8], d: &mut [u8]) {
    match op {
        UnaryOp::Not => map(s, d, |x| x ^ 1),
        _ => d.copy_from_slice(s),
    }
}

#[inline(always)]
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

#[inline(always)]
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
/// Arithmetic on Bool values as PyTorch defines it: `+` and `max` are or,
/// `*` and `min` are and.
#[inline(always)]
fn binary_mask(op: BinaryOp, a: &[u8], b: &[u8], d: &mut [u8]) {
    match op {
        BinaryOp::Mul | BinaryOp::Minimum | BinaryOp::And => map2(a, b, d, |x, y| x & y),
        BinaryOp::Sub => map2(a, b, d, |x, y| x ^ y),
        _ => map2(a, b, d, |x, y| x | y),
    }
}

#[inline(always)]
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

#[inline(always)]
fn predicate<T: PartialOrd + Copy + Default>(op: BinaryOp, a: &[T], b: &[T], d: &mut [u8]) {
    let z = T::default();
    match op {
        BinaryOp::Eq => map2(a, b, d, |x, y| (x == y) as u8),
        BinaryOp::Ne => map2(a, b, d, |x, y| (x != y) as u8),
        BinaryOp::Lt => map2(a, b, d, |x, y| (x < y) as u8),
        BinaryOp::Le => map2(a, b, d, |x, y| (x <= y) as u8),
        BinaryOp::Gt => map2(a, b, d, |x, y| (x > y) as u8),
        BinaryOp::Ge => map2(a, b, d, |x, y| (x >= y) as u8),
        BinaryOp::And => map2(a, b, d, |x, y| ((x != z) & (y != z)) as u8),
        BinaryOp::Or => map2(a, b, d, |x, y| ((x != z) | (y != z)) as u8),
        _ => unreachable!("{op:?} is not a predicate"),
    }
}

/// A value that can be chosen by a 0/1 mask with bit operations.
///
/// `if c { a } else { b }` over two loaded arrays makes LLVM load through a
/// selected pointer, which does not vectorize; masking the bits does.
/// Branch-free select: `a` where `c` is 1, `b` where it is 0, by bit masks
/// (a branch on data-dependent conditions mispredicts half the time).
pub(crate) trait Blend: Copy {
    fn blend(c: u8, a: Self, b: Self) -> Self;
}

impl Blend for f32 {
    #[inline(always)]
    fn blend(c: u8, a: f32, b: f32) -> f32 {
        let m = (c as u32).wrapping_neg();
        f32::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
    }
}

impl Blend for f64 {
    #[inline(always)]
    fn blend(c: u8, a: f64, b: f64) -> f64 {
        let m = (c as u64).wrapping_neg();
        f64::from_bits((a.to_bits() & m) | (b.to_bits() & !m))
    }
}

impl Blend for i64 {
    #[inline(always)]
    fn blend(c: u8, a: i64, b: i64) -> i64 {
        let m = (c as i64).wrapping_neg();
        (a & m) | (b & !m)
    }
}

impl Blend for u8 {
    #[inline(always)]
    fn blend(c: u8, a: u8, b: u8) -> u8 {
        let m = c.wrapping_neg();
        (a & m) | (b & !m)
    }
}

/// `a` where the mask (0 or 1) is set, else `b`.
#[inline(always)]
fn select<T: Blend>(c: &[u8], a: &[T], b: &[T], d: &mut [T]) {
    for (((o, &c), &x), &y) in d.iter_mut().zip(c).zip(a).zip(b) {
        *o = T::blend(c, x, y);
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
#[inline(always)]
fn round_i64(x: i64, dtype: DType) -> i64 {
    match dtype {
        DType::I32 => x as i32 as i64,
        DType::U8 => x as u8 as i64,
        _ => x,
    }
}

/// Converts between register kinds, rounding to the target dtype: float to
/// integer truncates, anything to Bool tests `!= 0` (NaN is true).
#[inline(always)]
fn cast(r: &mut Regs, src: Reg, (to, dst): (DType, Reg), len: usize, out: Option<Out<'_>>) {
    let (s, i) = (src.index, dst.index);
    match dst.kind {
        Kind::F32 => with_dst!(r.f32[i], Out::f32(out), len, |d| {
            match src.kind {
                Kind::F32 => d.copy_from_slice(r.f32.get(s, len)),
                Kind::F64 => map(r.f64.get(s, len), d, |x| x as f32),
                Kind::I64 => map(r.i64.get(s, len), d, |x| x as f32),
                Kind::Mask => map(r.mask.get(s, len), d, f32::from),
            }
            match to {
                DType::F16 => halfs::round_to_f16(d),
                DType::BF16 => halfs::round_to_bf16(d),
                _ => {}
            }
        }),
        Kind::F64 => with_dst!(r.f64[i], Out::f64(out), len, |d| match src.kind {
            Kind::F32 => map(r.f32.get(s, len), d, f64::from),
            Kind::F64 => d.copy_from_slice(r.f64.get(s, len)),
            Kind::I64 => map(r.i64.get(s, len), d, |x| x as f64),
            Kind::Mask => map(r.mask.get(s, len), d, f64::from),
        }),
        Kind::I64 => with_dst!(r.i64[i], Out::i64(out), len, |d| match src.kind {
            Kind::F32 => map(r.f32.get(s, len), d, |x| round_i64(x as i64, to)),
            Kind::F64 => map(r.f64.get(s, len), d, |x| round_i64(x as i64, to)),
            Kind::I64 => map(r.i64.get(s, len), d, |x| round_i64(x, to)),
            Kind::Mask => map(r.mask.get(s, len), d, i64::from),
        }),
        Kind::Mask => with_dst!(r.mask[i], None, len, |d| match src.kind {
            Kind::F32 => map(r.f32.get(s, len), d, |x| (x != 0.0) as u8),
            Kind::F64 => map(r.f64.get(s, len), d, |x| (x != 0.0) as u8),
            Kind::I64 => map(r.i64.get(s, len), d, |x| (x != 0) as u8),
            Kind::Mask => d.copy_from_slice(r.mask.get(s, len)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(kind: Kind, index: usize) -> Reg {
        Reg { kind, index }
    }

    fn load(arg: usize, dst: Reg, in_place: InPlace) -> Instr {
        Instr::Load { arg, dst, in_place }
    }

    fn constant(value: f64, dst: Reg) -> Instr {
        Instr::Const {
            value,
            dtype: DType::F32,
            dst,
        }
    }

    /// Runs `k` over `args` into outputs of the given dtypes and `n`
    /// elements each.
    fn run_into(k: &FusedKernel, args: &[Arg<'_>], dtypes: &[DType], n: usize) -> Vec<HostData> {
        let mut outs: Vec<HostData> = dtypes.iter().map(|&d| HostData::zeros(d, n)).collect();
        run(k, args, &mut outs).unwrap();
        outs
    }

    /// `x + 1` (register 2) is an output and is read again for the second
    /// output `(x + 1) * y`, which the third output repeats, so all three
    /// are stored from registers (as the planner decides, see its test
    /// `only_unread_outputs_stored_once_are_written_in_place`); alone,
    /// `(x + 1) * y` is written in place, with the same values.
    #[test]
    fn outputs_written_in_place_match_those_stored_from_registers() {
        let f = |i| reg(Kind::F32, i);
        let k = FusedKernel {
            instrs: vec![
                constant(1.0, f(0)),
                load(0, f(1), InPlace::Always),
                Instr::Binary {
                    op: BinaryOp::Add,
                    a: f(1),
                    b: f(0),
                    dst: f(2),
                },
                load(1, f(3), InPlace::Never),
                Instr::Binary {
                    op: BinaryOp::Mul,
                    a: f(2),
                    b: f(3),
                    dst: f(4),
                },
            ],
            prologue: 1,
            writes: vec![None; 5],
            n_regs: [5, 0, 0, 0],
            outs: vec![f(2), f(4), f(4)],
        };
        // More than one block per chunk, and a ragged last block; `x` is
        // read in place from an offset, `y` is a transposed view.
        let (rows, cols) = (37, 101);
        let n = rows * cols;
        let x: Vec<f32> = (0..n + 5).map(|i| i as f32 * 0.5).collect();
        let y: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
        let (x, y) = (HostData::F32(x), HostData::F32(y));
        let xv = View {
            shape: vec![rows, cols],
            strides: vec![cols, 1],
            offset: 5,
        };
        let yv = View {
            shape: vec![rows, cols],
            strides: vec![1, rows],
            offset: 0,
        };
        let one = FusedKernel {
            writes: vec![None, None, None, None, Some(0)],
            outs: vec![f(4)],
            ..k.clone()
        };

        let outs = run_into(
            &k,
            &[(&x, &xv), (&y, &yv)],
            &[DType::F32, DType::F16, DType::F32],
            n,
        );
        let (HostData::F32(a), HostData::F16(b), HostData::F32(c)) = (&outs[0], &outs[1], &outs[2])
        else {
            panic!("output dtypes");
        };
        for i in 0..n {
            let (r, col) = (i / cols, i % cols);
            let want_a = (i + 5) as f32 * 0.5 + 1.0;
            let want_b = want_a * (((col * rows + r) % 7) as f32 - 3.0);
            assert_eq!(a[i], want_a, "x + 1 at {i}");
            assert_eq!(c[i], want_b, "(x + 1) * y at {i}");
            assert_eq!(b[i], f16::from_f32(want_b), "f16 (x + 1) * y at {i}");
        }
        let outs = run_into(&one, &[(&x, &xv), (&y, &yv)], &[DType::F32], n);
        assert_eq!(outs[0], HostData::F32(c.clone()));
    }

    /// Transcendental ops weigh more than arithmetic; the prologue is not
    /// counted.
    #[test]
    fn heavier_programs_weigh_more() {
        let f = |i| reg(Kind::F32, i);
        let program = |op| FusedKernel {
            instrs: vec![
                constant(2.0, f(0)),
                load(0, f(1), InPlace::Always),
                Instr::Unary {
                    op,
                    src: f(1),
                    dst: f(2),
                },
            ],
            prologue: 1,
            writes: vec![None, None, Some(0)],
            n_regs: [3, 0, 0, 0],
            outs: vec![f(2)],
        };
        assert_eq!(program(UnaryOp::Relu).weight(), 2);
        assert_eq!(program(UnaryOp::Gelu).weight(), 9);
    }

    /// A row broadcast over the others (`x + v`, `v` of `cols` values) is
    /// read in place where a block lies inside one row and copied where it
    /// straddles two: rows longer than a block, one element short of two
    /// blocks, shorter, and ragged ones (with an offset into `v`'s buffer),
    /// in f32 and f64, all give the sums.
    #[test]
    fn broadcast_rows_read_in_place_or_copied_alike() {
        let k = |kind| FusedKernel {
            instrs: vec![
                load(0, reg(kind, 0), InPlace::Always),
                load(1, reg(kind, 1), InPlace::InRows),
                Instr::Binary {
                    op: BinaryOp::Add,
                    a: reg(kind, 0),
                    b: reg(kind, 1),
                    dst: reg(kind, 2),
                },
            ],
            prologue: 0,
            writes: vec![None, None, Some(0)],
            n_regs: if kind == Kind::F32 {
                [3, 0, 0, 0]
            } else {
                [0, 3, 0, 0]
            },
            outs: vec![reg(kind, 2)],
        };
        for (rows, cols) in [(3, 2500), (3, 2047), (40, 1000), (7, 333), (2, 1024)] {
            let n = rows * cols;
            let x: Vec<f64> = (0..n).map(|i| (i * 1000) as f64).collect();
            let v: Vec<f64> = (0..cols + 5).map(|i| i as f64).collect();
            let row = View {
                shape: vec![rows, cols],
                strides: vec![0, 1],
                offset: 5,
            };
            let want: Vec<f64> = (0..n).map(|i| x[i] + v[5 + i % cols]).collect();
            let x_view = View::contiguous(&[rows, cols]);
            let outs = run_into(
                &k(Kind::F64),
                &[
                    (&HostData::F64(x.clone()), &x_view),
                    (&HostData::F64(v.clone()), &row),
                ],
                &[DType::F64],
                n,
            );
            assert_eq!(outs[0], HostData::F64(want.clone()), "f64 {rows} x {cols}");
            let narrow = |xs: &[f64]| HostData::F32(xs.iter().map(|&x| x as f32).collect());
            let outs = run_into(
                &k(Kind::F32),
                &[(&narrow(&x), &x_view), (&narrow(&v), &row)],
                &[DType::F32],
                n,
            );
            assert_eq!(outs[0], narrow(&want), "f32 {rows} x {cols}");
        }
    }

    /// A load that is the output copies its view straight into it:
    /// contiguous, strided, and converted (f16 into f32).
    #[test]
    fn a_loaded_output_copies_its_view() {
        let k = FusedKernel {
            instrs: vec![load(0, reg(Kind::F32, 0), InPlace::Never)],
            prologue: 0,
            writes: vec![Some(0)],
            n_regs: [1, 0, 0, 0],
            outs: vec![reg(Kind::F32, 0)],
        };
        let (rows, cols) = (300, 3);
        let n = rows * cols;
        let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let wide = HostData::F32(src.clone());
        let half = HostData::F16(src.iter().map(|&v| f16::from_f32(v)).collect());
        let straight = View::contiguous(&[rows, cols]);
        let transposed = View {
            shape: vec![cols, rows],
            strides: vec![1, cols],
            offset: 0,
        };
        let t: Vec<f32> = (0..n)
            .map(|i| ((i % rows) * cols + i / rows) as f32)
            .collect();
        for (data, view, want) in [
            (&wide, &straight, &src),
            (&wide, &transposed, &t),
            (&half, &transposed, &t),
        ] {
            let outs = run_into(&k, &[(data, view)], &[DType::F32], n);
            assert_eq!(outs[0], HostData::F32(want.clone()));
        }
    }
}
