//! Running a planned program: slots of buffers, one step after another,
//! freeing each temporary after its last use.

use std::sync::Arc;

use super::plan::{Kernel, Program};
use super::{CpuBuffer, Pool, cpu_data, fused, kernels, parallel};
use crate::backend::{Buffer, Executable};
use crate::{Error, HostData, Result};

/// Below this many elements a kernel runs on the calling thread; above,
/// a loop over elements gets a thread per this many (see [`split`]):
/// starting and finishing a loop on more threads costs more than they
/// would save (relu over 32768 f32 on a 16-core host took 13-15 us on 16
/// threads, 5.5-6 on one; exp over 65536, 15-17 us median at 32768
/// elements a thread against 25-27 at 16384). PyTorch's grain is the same.
pub(crate) const PARALLEL_MIN: usize = 1 << 15;

/// Calls `f(first_index, chunk)` over chunks of `out` (multiples of `align`
/// elements), in parallel when `out` is large.
pub(crate) fn split_for_threads<T: Send>(
    out: &mut [T],
    align: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let (threads, chunk) = split(out.len(), out.len(), align);
    parallel::for_each_chunk_on(threads, out, chunk, || (), |_, i, c| f(i * chunk, c));
}

/// How a loop over `n` items cut in multiples of `align` runs, given its
/// `work` in simple element-wise ops (the items' count for a plain loop
/// over elements; more for heavier ones, such as a fused kernel of
/// transcendental ops or an argmax over long rows): on how many threads
/// ([`threads_for`] the work, no more than there are `align` units), and in
/// chunks of how many items ([`chunk_len`]).
pub(crate) fn split(n: usize, work: usize, align: usize) -> (usize, usize) {
    let threads = threads_for(work).min(n.div_ceil(align.max(1)).max(1));
    (threads, chunk_len(n, threads, align))
}

/// How many threads a loop of `n` elements' simple work runs on: one below
/// [`PARALLEL_MIN`], else one per [`PARALLEL_MIN`] (at least two), up to
/// all.
fn threads_for(n: usize) -> usize {
    if n < PARALLEL_MIN {
        1
    } else {
        (n / PARALLEL_MIN).max(2).min(parallel::num_threads())
    }
}

/// The chunk length a loop over `n` elements on `threads` threads cuts
/// them into: all of them on one thread, else about a quarter of each
/// thread's share, a multiple of `align`.
fn chunk_len(n: usize, threads: usize, align: usize) -> usize {
    if threads <= 1 {
        return n.max(1);
    }
    n.div_ceil(threads * 4).div_ceil(align).max(1) * align
}

/// A compiled CPU graph.
pub(crate) struct CpuExecutable {
    program: Program,
    pool: Arc<Pool>,
}

impl CpuExecutable {
    pub fn new(program: Program, pool: Arc<Pool>) -> Self {
        CpuExecutable { program, pool }
    }
}

impl Executable for CpuExecutable {
    fn run(&self, inputs: &[Buffer]) -> Result<Vec<Buffer>> {
        let p = &self.program;
        if inputs.len() != p.n_inputs {
            return Err(Error::Backend {
                backend: "cpu".into(),
                msg: format!("expected {} inputs, got {}", p.n_inputs, inputs.len()),
            });
        }
        let mut slots: Vec<Option<Buffer>> = vec![None; p.n_slots];
        for (slot, b) in slots.iter_mut().zip(inputs) {
            *slot = Some(b.clone());
        }
        let profiling = super::profile::enabled();
        for step in &p.steps {
            let started = profiling.then(std::time::Instant::now);
            let mut outs: Vec<HostData> = std::iter::once(&step.out_ty)
                .chain(step.extra_outs.iter().map(|(_, ty)| ty))
                .map(|ty| self.pool.take(ty))
                .collect::<Result<_>>()?;
            {
                let mut args = Vec::with_capacity(step.args.len());
                for a in &step.args {
                    let buffer = slots[a.slot].as_ref().ok_or_else(|| missing(a.slot))?;
                    args.push((cpu_data(buffer)?, &a.view));
                }
                match &step.kernel {
                    Kernel::Fused(k) => fused::run(k, &args, &mut outs)?,
                    other => kernels::run(other, &args, &step.out_ty, &mut outs[0])?,
                }
            }
            let written = std::iter::once(step.out).chain(step.extra_outs.iter().map(|(s, _)| *s));
            for (slot, out) in written.zip(outs) {
                slots[slot] = Some(Arc::new(CpuBuffer::new(out, &self.pool)));
            }
            if let Some(t0) = started {
                super::profile::record(
                    format!("{} {:?}", step.kernel.label(), step.out_ty.shape),
                    t0.elapsed(),
                );
            }
            for &s in &step.free_after {
                slots[s] = None;
            }
        }
        p.outputs
            .iter()
            .map(|&s| slots[s].clone().ok_or_else(|| missing(s)))
            .collect()
    }
}

fn missing(slot: usize) -> Error {
    Error::Backend {
        backend: "cpu".into(),
        msg: format!("internal: slot {slot} read before it was written"),
    }
}
