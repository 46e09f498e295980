//! Evaluation: turns the pending nodes behind some tensors into one [`Graph`]
//! per device, compiles it (or takes it from the device's cache), runs it and
//! makes the computed nodes ready.
//!
//! Which nodes the run returns: the targets, plus every pending node of the
//! graph that something outside the graph still refers to (a user's handle,
//! a gradient slot, a pending node outside the graph, or an autograd edge that
//! outlives this evaluation). All other nodes are temporaries: the backend
//! frees them after their last use.
//!
//! A tensor passed to [`defer`] (what `backward` does with the loss) joins
//! the next evaluation on its device while it is still held and pending, so
//! a loss read after `optimizer.step()` was computed by the step's graph.

use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::backend::Buffer;
use crate::ir::{Graph, Node, NodeId, Op};
use crate::tensor::{PendingOp, State, TensorNode};
use crate::{Device, Error, Result, Tensor};

/// Computes the given tensors (and whatever pending values they share with
/// tensors still in use) in one compiled graph per device.
///
/// ```
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[4], DType::F32, &Device::cpu())?;
/// let (a, b) = (x.exp()?, x.sin()?);
/// ingot::eval(&[&a, &b])?;
/// assert!(a.is_evaluated() && b.is_evaluated());
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn eval(tensors: &[&Tensor]) -> Result<()> {
    let mut groups: Vec<(Device, Vec<Tensor>)> = Vec::new();
    let extra = take_deferred(tensors);
    for t in tensors.iter().copied().chain(extra.iter()) {
        if t.is_evaluated() {
            continue;
        }
        match groups.iter_mut().find(|(d, _)| d == t.device()) {
            Some((_, ts)) => ts.push(t.clone()),
            None => groups.push((t.device().clone(), vec![t.clone()])),
        }
    }
    for (device, targets) in groups {
        eval_on_device(&device, targets)?;
    }
    Ok(())
}

/// Tensors to compute with the next evaluation on their device.
static DEFERRED: Mutex<Vec<Weak<TensorNode>>> = Mutex::new(Vec::new());

/// Asks for `t` to be computed by the next evaluation on its device (if it
/// is still held and pending by then), without evaluating now. Training
/// loops use it for values they read after the optimizer step (the loss,
/// predictions for metrics), so the step's one graph computes them.
///
/// ```
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[3], DType::F32, &Device::cpu())?;
/// let total = x.sum_all()?;
/// ingot::defer(&total);
/// let other = x.exp()?;
/// ingot::eval(&[&other])?; // computes `total` in the same run
/// assert!(total.is_evaluated());
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn defer(t: &Tensor) {
    let mut d = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
    d.retain(|w| w.strong_count() > 0);
    d.push(Arc::downgrade(&t.0));
}

/// The still-pending deferred tensors on the devices of `targets`; they
/// leave the list.
fn take_deferred(targets: &[&Tensor]) -> Vec<Tensor> {
    let mut d = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
    if d.is_empty() {
        return Vec::new();
    }
    let mut taken = Vec::new();
    d.retain(|w| match w.upgrade() {
        None => false,
        Some(node) => {
            let t = Tensor(node);
            if !targets.iter().any(|x| x.device() == t.device()) {
                return true;
            }
            if !t.is_evaluated() {
                taken.push(t);
            }
            false
        }
    });
    taken
}

/// The graph under construction and the tensors behind its nodes.
#[derive(Default)]
struct Builder {
    graph: Graph,
    index: FxHashMap<*const TensorNode, NodeId>,
    /// The tensor of each node.
    tensors: Vec<Tensor>,
    /// The pending op of each non-input node.
    pending: Vec<Option<Arc<PendingOp>>>,
    inputs: Vec<Buffer>,
}

thread_local! {
    /// The last evaluation's builder, emptied: its vectors and table keep
    /// their capacity, so that a loop's evaluations do not allocate (and
    /// free) them anew every step.
    static SPARE: std::cell::Cell<Option<Builder>> = const { std::cell::Cell::new(None) };
}

impl Builder {
    /// An empty builder, reusing this thread's spare one if there is one.
    fn take() -> Builder {
        SPARE.take().unwrap_or_default()
    }

    /// Empties the builder (dropping every tensor handle it holds) and keeps
    /// it as this thread's spare.
    fn recycle(mut self) {
        self.graph.inputs.clear();
        self.graph.nodes.clear();
        self.graph.outputs.clear();
        self.index.clear();
        self.tensors.clear();
        self.pending.clear();
        self.inputs.clear();
        SPARE.set(Some(self));
    }

    /// Adds `root` and everything pending behind it, arguments first.
    fn visit(&mut self, root: &Tensor) {
        let mut stack = vec![(root.clone(), false)];
        while let Some((t, args_done)) = stack.pop() {
            if self.index.contains_key(&t.node_ptr()) {
                continue;
            }
            let pending = match &*t.state() {
                State::Ready(b) => Err(b.clone()),
                State::Pending(p) => Ok(p.clone()),
            };
            match pending {
                Err(buffer) => {
                    let k = self.inputs.len();
                    self.inputs.push(buffer);
                    self.graph.inputs.push(t.ty().clone());
                    self.push(t, Op::Input(k), Vec::new(), None);
                }
                Ok(p) if args_done => {
                    let args = p.args.iter().map(|a| self.index[&a.node_ptr()]).collect();
                    self.push(t, p.op.clone(), args, Some(p));
                }
                Ok(p) => {
                    stack.push((t, true));
                    for a in p.args.iter().rev() {
                        if !self.index.contains_key(&a.node_ptr()) {
                            stack.push((a.clone(), false));
                        }
                    }
                }
            }
        }
    }

    fn push(&mut self, t: Tensor, op: Op, args: Vec<NodeId>, pending: Option<Arc<PendingOp>>) {
        self.index.insert(t.node_ptr(), self.graph.nodes.len());
        self.graph.nodes.push(Node {
            op,
            args,
            ty: t.ty().clone(),
        });
        self.tensors.push(t);
        self.pending.push(pending);
    }

    /// Pending nodes referred to from outside the graph, in node order.
    fn externally_held(&self) -> Vec<NodeId> {
        let mut internal = vec![0usize; self.tensors.len()];
        for (node, p) in self.graph.nodes.iter().zip(&self.pending) {
            // A pending op also held by an autograd edge survives this run, so
            // its arguments stay referenced: they count as external.
            if let Some(p) = p
                && Arc::strong_count(p) == 2
            {
                for &a in &node.args {
                    internal[a] += 1;
                }
            }
        }
        (0..self.tensors.len())
            .filter(|&i| self.pending[i].is_some())
            .filter(|&i| Arc::strong_count(&self.tensors[i].0) > internal[i] + 1)
            .collect()
    }
}

fn eval_on_device(device: &Device, targets: Vec<Tensor>) -> Result<()> {
    let mut b = Builder::take();
    let result = run_on_device(device, targets, &mut b);
    b.recycle();
    result
}

fn run_on_device(device: &Device, targets: Vec<Tensor>, b: &mut Builder) -> Result<()> {
    for t in &targets {
        b.visit(t);
    }
    let target_ids: Vec<NodeId> = targets.iter().map(|t| b.index[&t.node_ptr()]).collect();
    drop(targets);
    let mut outputs: Vec<NodeId> = Vec::new();
    let mut is_output = vec![false; b.pending.len()];
    for id in target_ids.into_iter().chain(b.externally_held()) {
        if b.pending[id].is_some() && !is_output[id] {
            is_output[id] = true;
            outputs.push(id);
        }
    }
    if outputs.is_empty() {
        return Ok(());
    }
    b.graph.outputs.clone_from(&outputs);
    let exe = device.executable(&b.graph)?;
    let results = exe.run(&b.inputs)?;
    if results.len() != outputs.len() {
        return Err(Error::Backend {
            backend: device.location().to_string(),
            msg: format!(
                "executable returned {} buffers for {} outputs",
                results.len(),
                outputs.len()
            ),
        });
    }
    // Drop our references to the pending ops before swapping them out, so the
    // temporaries they hold are freed as soon as the state changes.
    b.pending.clear();
    for (id, buffer) in outputs.into_iter().zip(results) {
        *b.tensors[id].state() = State::Ready(buffer);
    }
    Ok(())
}
