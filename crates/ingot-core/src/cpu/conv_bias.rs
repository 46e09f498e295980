//! Folding a convolution's bias into the convolution. `conv2d(x, w, b)`
//! builds `Conv2d(x, w) + expand(reshape(b, [1, O, 1, 1]))`; planned as
//! written, the add is a pass of its own over the whole output, which by
//! then has left the cache (with the 64 x 32 x 28 x 28 benchmark output,
//! 0.6-0.9 ms against 4.5-6.5 ms for the convolution). Where the
//! convolution's output feeds only that add, the CPU plan instead puts in
//! the add's place a convolution that takes the bias as a third argument
//! and adds it to each image's planes as they are written; the original
//! convolution and the expand are then read by nothing, and the planner
//! skips such nodes.

use crate::ir::{BinaryOp, Graph, Node, NodeId, Op};

/// `g` with every foldable bias folded, or `None` if none is.
pub(super) fn fold(g: &Graph) -> Option<Graph> {
    let mut consumers = vec![0usize; g.nodes.len()];
    for node in &g.nodes {
        for &a in &node.args {
            consumers[a] += 1;
        }
    }
    let mut folded: Option<Graph> = None;
    for (j, node) in g.nodes.iter().enumerate() {
        let Some((conv, bias)) = foldable(g, node, &consumers) else {
            continue;
        };
        let out = folded.get_or_insert_with(|| g.clone());
        let mut args = g.nodes[conv].args.clone();
        args.push(bias);
        out.nodes[j] = Node {
            op: g.nodes[conv].op.clone(),
            args,
            ty: node.ty.clone(),
        };
    }
    folded
}

/// For an add `node` of a convolution's output, read by nothing else, and
/// a bias broadcast over images and pixels: the convolution and the
/// bias (`[1, O, 1, 1]` or `[O, 1, 1]`).
fn foldable(g: &Graph, node: &Node, consumers: &[usize]) -> Option<(NodeId, NodeId)> {
    if node.op != Op::Binary(BinaryOp::Add) {
        return None;
    }
    let [p, q] = node.args[..] else { return None };
    let (conv, expand) = [(p, q), (q, p)]
        .into_iter()
        .find(|&(c, e)| matches!(g.nodes[c].op, Op::Conv2d(_)) && g.nodes[e].op == Op::Expand)?;
    let c = &g.nodes[conv];
    let alone = consumers[conv] == 1 && !g.outputs.contains(&conv) && c.args.len() == 2;
    if !alone || c.ty != node.ty || c.ty.shape.len() != 4 {
        return None;
    }
    let channels = c.ty.shape[1];
    let bias = g.nodes[expand].args[0];
    let b = &g.nodes[bias].ty;
    let broadcast = b.shape == [1, channels, 1, 1] || b.shape == [channels, 1, 1];
    (broadcast && b.dtype == c.ty.dtype).then_some((conv, bias))
}
