"""PyTorch side of `cargo bench -p ingot-nn --bench train_step`: one training
step (forward, cross-entropy, backward, Adam) of the same models, timed the
same way (warm-up, then the median), each time the Rust side asks for one
(`side_by_side.serve`)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from side_by_side import median_time, serve, use_threads_from_argv

use_threads_from_argv()


def step_time(model, x, y, reps):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return lambda: median_time(step, reps)


mlp = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
lenet = nn.Sequential(
    nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(800, 10))
workloads = {
    "mlp_step": step_time(mlp, torch.rand(128, 784), torch.randint(0, 10, (128,)), 200),
    "cnn_step": step_time(lenet, torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,)), 50),
}
for depth in [2, 8, 32, 64]:
    layers = [m for _ in range(depth) for m in (nn.Linear(16, 16), nn.ReLU())]
    deep = nn.Sequential(*layers, nn.Linear(16, 10))
    workloads[f"deep_narrow_{depth}"] = step_time(
        deep, torch.rand(1, 16), torch.randint(0, 10, (1,)), 200)
serve(workloads)
