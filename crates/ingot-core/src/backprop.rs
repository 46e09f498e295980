//! Reverse-mode autograd over the lazy graph.
//!
//! `backward` walks the nodes that require grad in reverse topological order
//! and applies each op's vector-Jacobian product, which builds more lazy
//! nodes. Forward, backward and whatever update follows therefore end up in
//! one graph and compile together. Gradients of leaves accumulate into
//! [`Tensor::grad`]; the autograd edges behind the loss are released unless
//! the graph is retained.

use rustc_hash::FxHashMap;

use crate::ir::{BinaryOp, Conv2dParams, Op, Pool2dParams, ReduceOp, UnaryOp};
use crate::tensor::{GradFn, TensorNode};
use crate::{DType, Error, Result, Tensor, no_grad};

impl Tensor {
    /// Computes gradients of this scalar with respect to every leaf that
    /// requires grad, adding them to the leaves' [`Tensor::grad`]. The graph
    /// behind `self` is released: a second `backward` through it is an error
    /// (use [`Tensor::backward_with`] to keep it).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f64, 2.0], &[2], &Device::cpu())?.requires_grad_(true);
    /// x.mul(&x)?.sum_all()?.backward()?;
    /// assert_eq!(x.grad().unwrap().to_vec::<f64>()?, vec![2.0, 4.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::Autograd(format!(
                "grad can be implicitly created only for scalar outputs, this tensor has shape {:?}; use backward_with",
                self.shape()
            )));
        }
        let seed = self.ones_like()?;
        self.backward_with(&seed, false)
    }

    /// Backpropagates `grad` (the gradient of some scalar with respect to
    /// `self`, same shape); `retain_graph` keeps the autograd edges for
    /// another backward pass.
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let x = Tensor::from_vec(vec![1.0f32, 2.0], &[2], &Device::cpu())?.requires_grad_(true);
    /// let y = x.mul_scalar(3.0)?;
    /// y.backward_with(&Tensor::from_vec(vec![1.0f32, 10.0], &[2], &Device::cpu())?, true)?;
    /// y.backward_with(&y.ones_like()?, false)?;
    /// assert_eq!(x.grad().unwrap().to_vec::<f32>()?, vec![6.0, 33.0]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn backward_with(&self, grad: &Tensor, retain_graph: bool) -> Result<()> {
        if !self.requires_grad() {
            let why = if self.graph_released() {
                "the graph behind this tensor was already released by an earlier backward; pass retain_graph = true to the first one"
            } else {
                "the tensor does not require grad and has no grad_fn"
            };
            return Err(Error::Autograd(why.into()));
        }
        if grad.shape() != self.shape() {
            return Err(Error::Autograd(format!(
                "gradient of shape {:?} for a tensor of shape {:?}",
                grad.shape(),
                self.shape()
            )));
        }
        let order = topological_order(self)?;
        no_grad(|| {
            let mut grads: FxHashMap<*const TensorNode, Tensor> = FxHashMap::default();
            grads.insert(
                self.node_ptr(),
                grad.to_dtype(self.dtype())?.to_device(self.device())?,
            );
            for t in order.iter().rev() {
                let Some(g) = grads.remove(&t.node_ptr()) else {
                    continue;
                };
                match t.grad_fn() {
                    None => {
                        let total = match t.grad() {
                            Some(old) => old.add(&g)?,
                            None => g,
                        };
                        t.set_grad(Some(total));
                    }
                    Some(GradFn::Transfer(src)) => {
                        accumulate(&mut grads, &src, g.to_device(src.device())?)?
                    }
                    Some(GradFn::Op(p)) => {
                        let input_grads = vjp(&p.op, &p.args, t, &g)?;
                        for (arg, ig) in p.args.iter().zip(input_grads) {
                            if let Some(ig) = ig.filter(|_| arg.requires_grad()) {
                                accumulate(&mut grads, arg, ig)?;
                            }
                        }
                    }
                }
            }
            Ok::<(), Error>(())
        })?;
        if !retain_graph {
            for t in &order {
                t.release_graph();
            }
        }
        // The loss itself is not needed by its gradients; have the next
        // evaluation (typically the optimizer step) compute it too.
        crate::defer(self);
        Ok(())
    }
}

fn accumulate(
    grads: &mut FxHashMap<*const TensorNode, Tensor>,
    t: &Tensor,
    g: Tensor,
) -> Result<()> {
    let g = if g.dtype() == t.dtype() {
        g
    } else {
        g.to_dtype(t.dtype())?
    };
    let total = match grads.remove(&t.node_ptr()) {
        Some(old) => old.add(&g)?,
        None => g,
    };
    grads.insert(t.node_ptr(), total);
    Ok(())
}

/// Nodes reachable from `root` through autograd edges, inputs first.
fn topological_order(root: &Tensor) -> Result<Vec<Tensor>> {
    let mut order = Vec::new();
    let mut seen: FxHashMap<*const TensorNode, ()> = FxHashMap::default();
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, done)) = stack.pop() {
        if done {
            order.push(t);
            continue;
        }
        if seen.insert(t.node_ptr(), ()).is_some() {
            continue;
        }
        if t.graph_released() {
            return Err(Error::Autograd(
                "trying to backward through a graph a second time; pass retain_graph = true to the first backward".into(),
            ));
        }
        let inputs = t.grad_fn().map(|f| f.inputs()).unwrap_or_default();
        stack.push((t, true));
        for i in inputs.into_iter().rev() {
            if i.requires_grad() && !seen.contains_key(&i.node_ptr()) {
                stack.push((i, false));
            }
        }
    }
    Ok(order)
}

/// Sums `g` over the axes `expand` grew, back to `shape`.
fn unexpand(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let axes: Vec<isize> = (0..shape.len())
        .filter(|&i| shape[i] == 1 && g.shape()[i] != 1)
        .map(|i| i as isize)
        .collect();
    if axes.is_empty() {
        return Ok(g.clone());
    }
    g.sum(&axes, true)
}

/// `g` reshaped to keep reduced axes (size 1) and broadcast to `shape`.
fn spread(g: &Tensor, axes: &[usize], shape: &[usize]) -> Result<Tensor> {
    let kept: Vec<usize> = (0..shape.len())
        .map(|i| if axes.contains(&i) { 1 } else { shape[i] })
        .collect();
    g.reshape_to(&kept)?.broadcast_to(shape, "backward")
}

/// Places `g` (the sliced elements) back into zeros of `shape`.
fn unslice(g: &Tensor, start: &[usize], step: &[usize], shape: &[usize]) -> Result<Tensor> {
    let mut g = g.clone();
    for axis in 0..shape.len() {
        let (s, k, n, c) = (start[axis], step[axis], shape[axis], g.shape()[axis]);
        if k > 1 && c > 0 {
            // Interleave k - 1 zeros after each element: [c] -> [c, k] -> [c * k].
            let ax = axis as isize;
            let spread = g.unsqueeze(ax + 1)?;
            let mut pads = vec![(0, 0); g.dim() + 1];
            pads[g.dim() - 1 - axis] = (0, k - 1);
            let mut merged = g.shape().to_vec();
            merged[axis] = c * k;
            g = spread.pad(&pads, 0.0)?.reshape_to(&merged)?;
            g = g.narrow(ax, 0, (c * k).min(n - s))?;
        }
        let after = n - s - g.shape()[axis];
        if s > 0 || after > 0 {
            let mut pads = vec![(0, 0); g.dim()];
            pads[g.dim() - 1 - axis] = (s, after);
            g = g.pad(&pads, 0.0)?;
        }
    }
    Ok(g)
}

fn zeros_where(cond: &Tensor, g: &Tensor) -> Result<Tensor> {
    Tensor::where_cond(cond, &g.zeros_like()?, g)
}

/// The vector-Jacobian product of one op: the gradient for each argument
/// (`None` where there is none) given the gradient `g` of its output.
fn vjp(op: &Op, args: &[Tensor], out: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let x = || args[0].clone();
    let some = |t: Tensor| Ok(vec![Some(t)]);
    match op {
        Op::Input(_) | Op::Const(_) | Op::Arange { .. } => Ok(vec![]),
        Op::Rand(_) | Op::ArgReduce { .. } => Ok(vec![None; args.len()]),
        Op::Unary(u) => unary_vjp(*u, &x(), out, g).map(|t| vec![t]),
        Op::Cast => Ok(vec![
            args[0]
                .dtype()
                .is_float()
                .then(|| g.to_dtype(args[0].dtype()))
                .transpose()?,
        ]),
        Op::Binary(b) => binary_vjp(*b, &args[0], &args[1], out, g),
        Op::Where => Ok(vec![
            None,
            Some(zeros_where(&args[0].logical_not()?, g)?),
            Some(zeros_where(&args[0], g)?),
        ]),
        Op::Reduce { op, axes, .. } => reduce_vjp(*op, axes, &x(), out, g).map(|t| vec![Some(t)]),
        Op::Reshape => some(g.reshape_to(args[0].shape())?),
        Op::CheckRange { .. } => some(g.clone()),
        Op::Permute(perm) => {
            let mut inverse = vec![0isize; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i as isize;
            }
            some(g.permute(&inverse)?)
        }
        Op::Expand => some(unexpand(g, args[0].shape())?),
        Op::Slice { start, step } => some(unslice(g, start, step, args[0].shape())?),
        Op::Pad { pads, .. } => {
            let mut r = g.clone();
            for (axis, &(before, _)) in pads.iter().enumerate() {
                r = r.narrow(axis as isize, before, args[0].shape()[axis])?;
            }
            some(r)
        }
        Op::Concat { axis } => {
            let mut offset = 0;
            let mut grads = Vec::with_capacity(args.len());
            for a in args {
                let len = a.shape()[*axis];
                grads.push(Some(g.narrow(*axis as isize, offset, len)?));
                offset += len;
            }
            Ok(grads)
        }
        Op::Gather { axis, .. } => {
            let gx = args[0]
                .zeros_like()?
                .scatter_add(*axis as isize, &args[1], g)?;
            Ok(vec![Some(gx), None])
        }
        Op::ScatterAdd { axis } => {
            let (idx, src) = (&args[1], &args[2]);
            let mut gs = g.gather(*axis as isize, idx)?;
            if gs.shape() != src.shape() {
                let pads: Vec<(usize, usize)> = (0..src.dim())
                    .rev()
                    .map(|i| (0, src.shape()[i] - idx.shape()[i]))
                    .collect();
                gs = gs.pad(&pads, 0.0)?;
            }
            Ok(vec![Some(g.clone()), None, Some(gs)])
        }
        Op::MatMul => {
            let (a, b) = (&args[0], &args[1]);
            Ok(vec![
                Some(g.matmul(&b.transpose(-2, -1)?)?),
                Some(a.transpose(-2, -1)?.matmul(g)?),
            ])
        }
        Op::Conv2d(p) => {
            let (x, w) = (&args[0], &args[1]);
            Ok(vec![
                Some(conv_backward_input(g, w, x.shape(), *p)?),
                Some(conv_backward_weight(g, x, w.shape(), *p)?),
            ])
        }
        Op::MaxPool2d(p) => some(pool_op(
            Op::MaxPool2dBackward(*p),
            vec![g.clone(), x()],
            args[0].shape(),
        )?),
        Op::AvgPool2d(p) => some(avg_pool_backward(g, args[0].shape(), *p)?),
        Op::Softmax { axis } => {
            let ax = *axis as isize;
            let dot = g.mul(out)?.sum(&[ax], true)?;
            some(out.mul(&g.sub(&dot)?)?)
        }
        Op::LogSoftmax { axis } => {
            let ax = *axis as isize;
            some(g.sub(&out.exp()?.mul(&g.sum(&[ax], true)?)?)?)
        }
        Op::Conv2dBackwardInput(_)
        | Op::Conv2dBackwardWeight(_)
        | Op::MaxPool2dBackward(_)
        | Op::AvgPool2dBackward(_) => Err(Error::Autograd(format!(
            "double backward through {} is not supported",
            op.name()
        ))),
    }
}

fn pool_op(op: Op, args: Vec<Tensor>, shape: &[usize]) -> Result<Tensor> {
    let (dtype, dev) = (args[0].dtype(), args[0].device().clone());
    Tensor::from_op(op, args, shape.to_vec(), dtype, &dev)
}

fn avg_pool_backward(g: &Tensor, shape: &[usize], p: Pool2dParams) -> Result<Tensor> {
    pool_op(Op::AvgPool2dBackward(p), vec![g.clone()], shape)
}

fn conv_backward_input(g: &Tensor, w: &Tensor, shape: &[usize], p: Conv2dParams) -> Result<Tensor> {
    pool_op(
        Op::Conv2dBackwardInput(p),
        vec![g.clone(), w.clone()],
        shape,
    )
}

fn conv_backward_weight(
    g: &Tensor,
    x: &Tensor,
    shape: &[usize],
    p: Conv2dParams,
) -> Result<Tensor> {
    pool_op(
        Op::Conv2dBackwardWeight(p),
        vec![g.clone(), x.clone()],
        shape,
    )
}

fn unary_vjp(op: UnaryOp, x: &Tensor, out: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
    use std::f64::consts::{FRAC_1_SQRT_2, PI};
    let grad = match op {
        UnaryOp::Neg => g.neg()?,
        UnaryOp::Abs => g.mul(&x.sign()?)?,
        UnaryOp::Exp => g.mul(out)?,
        UnaryOp::Log => g.div(x)?,
        UnaryOp::Sqrt => g.div(out)?.mul_scalar(0.5)?,
        UnaryOp::Rsqrt => g.mul(&out.mul(out)?.mul(out)?)?.mul_scalar(-0.5)?,
        UnaryOp::Recip => g.mul(&out.mul(out)?)?.neg()?,
        UnaryOp::Sin => g.mul(&x.cos()?)?,
        UnaryOp::Cos => g.mul(&x.sin()?)?.neg()?,
        UnaryOp::Tanh => g.mul(&out.mul(out)?.neg()?.add_scalar(1.0)?)?,
        UnaryOp::Sigmoid => g.mul(&out.mul(&out.neg()?.add_scalar(1.0)?)?)?,
        UnaryOp::Relu => zeros_where(&out.le(&out.zeros_like()?)?, g)?,
        UnaryOp::Gelu => {
            // d/dx [x Phi(x)] = Phi(x) + x phi(x)
            let cdf = x
                .mul_scalar(FRAC_1_SQRT_2)?
                .erf()?
                .add_scalar(1.0)?
                .mul_scalar(0.5)?;
            let pdf = x
                .mul(x)?
                .mul_scalar(-0.5)?
                .exp()?
                .mul_scalar(1.0 / (2.0 * PI).sqrt())?;
            g.mul(&cdf.add(&x.mul(&pdf)?)?)?
        }
        UnaryOp::Erf => g.mul(&x.mul(x)?.neg()?.exp()?.mul_scalar(2.0 / PI.sqrt())?)?,
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Sign => g.zeros_like()?,
        UnaryOp::Not => return Ok(None),
    };
    Ok(Some(grad))
}

fn binary_vjp(
    op: BinaryOp,
    a: &Tensor,
    b: &Tensor,
    out: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let both = |ga: Tensor, gb: Tensor| Ok(vec![Some(ga), Some(gb)]);
    match op {
        BinaryOp::Add => both(g.clone(), g.clone()),
        BinaryOp::Sub => both(g.clone(), g.neg()?),
        BinaryOp::Mul => both(g.mul(b)?, g.mul(a)?),
        BinaryOp::Div => both(g.div(b)?, g.mul(out)?.div(b)?.neg()?),
        BinaryOp::Pow => {
            // PyTorch's conventions: no gradient to the base where the
            // exponent is 0, none to the exponent where base == 0 <= exponent.
            let zero = a.zeros_like()?;
            let ga = zeros_where(&b.eq(&zero)?, &g.mul(b)?.mul(&a.pow(&b.sub_scalar(1.0)?)?)?)?;
            let base_zero = a.eq(&zero)?.logical_and(&b.ge(&zero)?)?;
            let gb = zeros_where(&base_zero, &g.mul(out)?.mul(&a.log()?)?)?;
            both(ga, gb)
        }
        BinaryOp::Maximum | BinaryOp::Minimum => {
            // Ties share the gradient equally, as in PyTorch.
            let half = g.mul_scalar(0.5)?;
            let tie = a.eq(b)?;
            let a_wins = if op == BinaryOp::Maximum {
                a.gt(b)?
            } else {
                a.lt(b)?
            };
            let b_wins = if op == BinaryOp::Maximum {
                b.gt(a)?
            } else {
                b.lt(a)?
            };
            let zero = g.zeros_like()?;
            let ga = Tensor::where_cond(&tie, &half, &Tensor::where_cond(&a_wins, g, &zero)?)?;
            let gb = Tensor::where_cond(&tie, &half, &Tensor::where_cond(&b_wins, g, &zero)?)?;
            both(ga, gb)
        }
        _ => Ok(vec![None, None]),
    }
}

fn reduce_vjp(
    op: ReduceOp,
    axes: &[usize],
    x: &Tensor,
    out: &Tensor,
    g: &Tensor,
) -> Result<Tensor> {
    let shape = x.shape();
    let g_full = spread(g, axes, shape)?;
    let out_full = spread(out, axes, shape)?;
    let dims: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
    match op {
        ReduceOp::Sum => Ok(g_full),
        ReduceOp::Max | ReduceOp::Min => {
            // Shared equally among the elements equal to the result.
            let hit = x.eq(&out_full)?;
            let count = hit.to_dtype(x.dtype())?.sum(&dims, true)?;
            zeros_where(
                &hit.logical_not()?,
                &g_full.div(&count.broadcast_to(shape, "backward")?)?,
            )
        }
        ReduceOp::Prod => {
            // out / x, except at zeros: with one zero, its gradient is the
            // product of the others; with more, every gradient is zero.
            let zero = x.zeros_like()?;
            let is_zero = x.eq(&zero)?;
            let safe = Tensor::where_cond(&is_zero, &x.ones_like()?, x)?;
            let others = safe.prod(&dims, true)?;
            let zeros = is_zero.to_dtype(DType::I64)?.sum(&dims, true)?;
            let single = zeros.eq(&zeros.ones_like()?)?.to_dtype(x.dtype())?;
            let at_zero = others.mul(&single)?.broadcast_to(shape, "backward")?;
            let grad = Tensor::where_cond(&is_zero, &at_zero, &out_full.div(&safe)?)?;
            g_full.mul(&grad)
        }
    }
}
