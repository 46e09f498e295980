"""Trains the PyTorch model that examples/fine_tune_from_pytorch.rs starts from.

Run from the repository root:
    PY=$(tools/torch-env.sh) && "$PY" crates/ingot/examples/data/make_pytorch_model.py

An MLP (Flatten, Linear(784, 64), ReLU, Linear(64, 10)) trained in PyTorch on
the MNIST training images of the digits 0-4 only, saved with
safetensors.torch.save_file as pytorch_digits_0_4.safetensors beside this
script. It prints its accuracy on the embedded test subset's digits 0-4, which
the Rust example reproduces after loading the file.
"""

import gzip
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[3]
MNIST = ROOT.parent / "shared" / "datasets" / "mnist"
EMBEDDED = ROOT / "crates" / "ingot-data" / "data"


def idx(path):
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder, prefix):
    x = idx(folder / f"{prefix}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def main():
    torch.manual_seed(0)
    x, y = load(MNIST, "train")
    keep = y < 5
    x, y = x[keep], y[keep]
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        order = torch.randperm(len(y))
        for i in range(0, len(y), 64):
            b = order[i: i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[b]), y[b]).backward()
            opt.step()
    tx, ty = load(EMBEDDED, "t10k")
    keep = ty < 5
    with torch.no_grad():
        acc = (model(tx[keep]).argmax(1) == ty[keep]).float().mean().item()
    print(f"PyTorch accuracy on the embedded test digits 0-4: {100 * acc:.2f}%")
    save_file(model.state_dict(), HERE / "pytorch_digits_0_4.safetensors")


if __name__ == "__main__":
    main()
