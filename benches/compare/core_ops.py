"""PyTorch side of `cargo bench -p ingot-core --bench core_ops`.

Times the same workloads as the Rust bench, with the same method (warm-up,
then the median of repeated runs), each time the Rust side asks for one
(`side_by_side.serve`).
"""

import torch

from side_by_side import median_time, serve, use_threads_from_argv

use_threads_from_argv()


def matmul(n, reps):
    a, b = torch.randn(n, n), torch.randn(n, n)
    return lambda: median_time(lambda: torch.matmul(a, b), reps)


def conv():
    x = torch.randn(64, 32, 28, 28, requires_grad=True)
    w = (torch.randn(32, 32, 3, 3) * 0.1).requires_grad_()
    b = torch.zeros(32, requires_grad=True)

    def step():
        for t in (x, w, b):
            t.grad = None
        torch.nn.functional.conv2d(x, w, b, padding=1).sum().backward()

    return lambda: median_time(step, 10)


def mlp():
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))
    w1 = (torch.randn(784, 256) * 0.05).requires_grad_()
    b1 = torch.zeros(256, requires_grad=True)
    w2 = (torch.randn(256, 10) * 0.05).requires_grad_()
    b2 = torch.zeros(10, requires_grad=True)

    def step():
        for t in (w1, b1, w2, b2):
            t.grad = None
        logits = torch.relu(x @ w1 + b1) @ w2 + b2
        torch.nn.functional.cross_entropy(logits, y).backward()

    return lambda: median_time(step, 200)


serve({
    "matmul_256": matmul(256, 200),
    "matmul_1024": matmul(1024, 20),
    "conv2d_fwd_bwd": conv(),
    "mlp_fwd_bwd": mlp(),
})
