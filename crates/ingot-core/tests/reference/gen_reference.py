"""Writes the PyTorch reference values that ingot-core's parity tests read.

Run from the repository root:

    PY=$(tools/torch-env.sh) && "$PY" crates/ingot-core/tests/reference/gen_reference.py

For every case below and for float64 and float32 it draws inputs (seeded),
runs the op in PyTorch, and records the output and, for differentiable
cases, the gradient of sum(output * cotangent) for each float input, with a
random cotangent. The op names and attributes are the ingot method names;
`tests/parity.rs` maps each to the ingot call.
"""

import json
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

OUT = pathlib.Path(__file__).with_name("ops.json")

# Input kinds: n = standard normal, pos = positive, nz = away from zero,
# near1 = close to 1 (for products), int<k> = integer-valued floats in
# [-k, k] (ties for comparisons), bool, idx<k> = int64 indices below k.
UNARY = [
    ("neg", "n"), ("abs", "nz"), ("exp", "n"), ("log", "pos"), ("sqrt", "pos"), ("rsqrt", "pos"),
    ("recip", "nz"), ("sin", "n"), ("cos", "n"), ("tanh", "n"), ("sigmoid", "n"), ("relu", "nz"),
    ("gelu", "n"), ("erf", "n"), ("floor", "n"), ("ceil", "n"), ("round", "n"), ("sign", "nz"),
]


def case(op, inputs, **attrs):
    return {"op": op, "inputs": inputs, "attrs": attrs}


CASES = (
    [case(op, [([3, 4], kind)]) for op, kind in UNARY]
    + [
        case("add", [([2, 3, 4], "n"), ([3, 1], "n")]),
        case("sub", [([4], "n"), ([2, 4], "n")]),
        case("mul", [([2, 1, 3], "n"), ([4, 1], "n")]),
        case("div", [([3, 4], "n"), ([4], "nz")]),
        case("pow", [([3, 4], "pos"), ([3, 4], "n")]),
        case("maximum", [([3, 4], "n"), ([1, 4], "n")]),
        case("minimum", [([3, 4], "n"), ([3, 1], "n")]),
        *[case(op, [([3, 4], "int2"), ([4], "int2")]) for op in ["eq", "ne", "lt", "le", "gt", "ge"]],
        case("add_scalar", [([3, 4], "n")], value=2.5),
        case("sub_scalar", [([3, 4], "n")], value=-1.25),
        case("mul_scalar", [([3, 4], "n")], value=3.0),
        case("div_scalar", [([3, 4], "n")], value=4.0),
        case("powf", [([3, 4], "pos")], value=1.5),
        case("powf", [([3, 4], "n")], value=2.0),
        case("clamp", [([4, 5], "n")], min=-0.5, max=0.7),
        case("where_cond", [([3, 1], "bool"), ([3, 4], "n"), ([4], "n")]),
        case("sum", [([2, 3, 4], "n")], dims=[1], keepdim=False),
        case("sum", [([2, 3, 4], "n")], dims=[0, 2], keepdim=True),
        case("sum_all", [([3, 5], "n")]),
        case("mean", [([2, 3, 4], "n")], dims=[-1], keepdim=False),
        case("mean_all", [([3, 5], "n")]),
        case("max", [([2, 3, 4], "n")], dims=[1], keepdim=False),
        case("max", [([2, 3, 4], "n")], dims=[0, 2], keepdim=True),
        case("min", [([2, 3, 4], "n")], dims=[2], keepdim=True),
        case("prod", [([3, 4], "near1")], dims=[1], keepdim=False),
        case("logsumexp", [([3, 4, 2], "n")], dims=[1], keepdim=False),
        case("var", [([3, 5], "n")], dims=[1], unbiased=True, keepdim=False),
        case("var", [([2, 3, 4], "n")], dims=[0, 2], unbiased=False, keepdim=True),
        case("std", [([3, 5], "n")], dims=[0], unbiased=True, keepdim=False),
        case("argmax", [([3, 5], "n")], dim=1, keepdim=False),
        case("argmin", [([3, 5], "n")], dim=0, keepdim=True),
        case("reshape", [([2, 3, 4], "n")], shape=[4, -1]),
        case("flatten", [([2, 3, 4], "n")], start=1, end=-1),
        case("squeeze", [([3, 1, 4], "n")], dim=1),
        case("unsqueeze", [([3, 4], "n")], dim=-1),
        case("permute", [([2, 3, 4], "n")], dims=[2, 0, 1]),
        case("transpose", [([2, 3, 4], "n")], dim0=0, dim1=2),
        case("t", [([3, 4], "n")]),
        case("expand", [([3, 1], "n")], shape=[2, 3, 4]),
        case("narrow", [([3, 6], "n")], dim=1, start=2, len=3),
        case("slice", [([4, 7], "n")], dim=1, start=1, end=7, step=3),
        case("chunk", [([5, 4], "n")], chunks=2, dim=0, index=1),
        case("pad", [([2, 3, 4], "n")], pads=[[1, 2], [0, 1]], value=0.5),
        case("cat", [([2, 3], "n"), ([2, 1], "n"), ([2, 2], "n")], dim=1),
        case("stack", [([3, 2], "n"), ([3, 2], "n")], dim=1),
        case("index_select", [([3, 4], "n"), ([3], "idx4")], dim=1),
        case("gather", [([3, 4], "n"), ([3, 2], "idx4")], dim=1),
        case("scatter_add", [([4, 3], "n"), ([2, 3], "idx4"), ([2, 3], "n")], dim=0),
        case("matmul", [([3], "n"), ([3], "n")]),
        case("matmul", [([2, 3], "n"), ([3], "n")]),
        case("matmul", [([3], "n"), ([3, 4], "n")]),
        case("matmul", [([2, 3], "n"), ([3, 4], "n")]),
        case("matmul", [([2, 2, 3], "n"), ([3, 4], "n")]),
        case("matmul", [([2, 1, 2, 3], "n"), ([3, 3, 2], "n")]),
        case("matmul", [([5, 2, 3], "n"), ([5, 3, 2], "n")]),
        case("conv2d", [([2, 4, 7, 7], "n"), ([6, 4, 3, 3], "n"), ([6], "n")], stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1),
        case("conv2d", [([2, 4, 7, 7], "n"), ([6, 4, 3, 3], "n")], stride=[2, 2], padding=[0, 0], dilation=[1, 1], groups=1),
        case("conv2d", [([1, 4, 8, 8], "n"), ([3, 4, 3, 3], "n")], stride=[1, 1], padding=[2, 2], dilation=[2, 2], groups=1),
        case("conv2d", [([2, 4, 5, 5], "n"), ([6, 2, 3, 3], "n"), ([6], "n")], stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=2),
        case("conv2d", [([2, 4, 5, 5], "n"), ([3, 4, 1, 1], "n")], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1),
        case("conv2d", [([1, 2, 6, 5], "n"), ([2, 2, 3, 2], "n")], stride=[2, 1], padding=[1, 0], dilation=[1, 1], groups=1),
        # Many channels: channels-last patches (narrow image), and no
        # patches at all (an image wide enough for kernel-row products).
        case("conv2d", [([2, 4, 4, 6], "n"), ([3, 4, 2, 5], "n"), ([3], "n")], stride=[1, 1], padding=[1, 2], dilation=[1, 1], groups=1),
        case("conv2d", [([2, 4, 3, 30], "n"), ([5, 4, 2, 5], "n")], stride=[1, 1], padding=[1, 2], dilation=[1, 1], groups=1),
        case("max_pool2d", [([2, 3, 6, 6], "n")], kernel=[2, 2], stride=[2, 2], padding=[0, 0]),
        case("max_pool2d", [([1, 2, 7, 7], "n")], kernel=[3, 3], stride=[2, 2], padding=[1, 1]),
        case("avg_pool2d", [([2, 3, 6, 6], "n")], kernel=[2, 2], stride=[2, 2], padding=[0, 0], count_include_pad=True),
        case("avg_pool2d", [([1, 2, 5, 5], "n")], kernel=[3, 3], stride=[1, 1], padding=[1, 1], count_include_pad=True),
        case("avg_pool2d", [([1, 2, 7, 7], "n")], kernel=[3, 3], stride=[2, 2], padding=[1, 1], count_include_pad=False),
        case("softmax", [([2, 3, 4], "n")], dim=-1),
        case("softmax", [([2, 3, 4], "n")], dim=1),
        case("log_softmax", [([2, 3, 4], "n")], dim=-1),
        case("log_softmax", [([2, 3, 4], "n")], dim=0),
    ]
)

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def draw(rng, shape, kind, dtype):
    if kind == "bool":
        return torch.from_numpy(rng.random(shape) < 0.5)
    if kind.startswith("idx"):
        return torch.from_numpy(rng.integers(0, int(kind[3:]), size=shape).astype(np.int64))
    if kind == "n":
        v = rng.standard_normal(shape)
    elif kind == "pos":
        v = rng.uniform(0.5, 2.0, size=shape)
    elif kind == "nz":
        v = rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    elif kind == "near1":
        v = rng.uniform(0.7, 1.3, size=shape)
    elif kind.startswith("int"):
        k = int(kind[3:])
        v = rng.integers(-k, k + 1, size=shape).astype(np.float64)
    else:
        raise ValueError(kind)
    return torch.tensor(v, dtype=dtype)


def run(op, a, xs):
    x = xs[0]
    simple = {
        "neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt,
        "rsqrt": torch.rsqrt, "recip": torch.reciprocal, "sin": torch.sin, "cos": torch.cos,
        "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "gelu": F.gelu,
        "erf": torch.erf, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
        "sign": torch.sign, "t": torch.t,
    }
    if op in simple:
        return simple[op](x)
    binary = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
        "maximum": torch.maximum, "minimum": torch.minimum, "eq": torch.eq, "ne": torch.ne,
        "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge, "matmul": torch.matmul,
    }
    if op in binary:
        return binary[op](x, xs[1])
    if op == "add_scalar":
        return x + a["value"]
    if op == "sub_scalar":
        return x - a["value"]
    if op == "mul_scalar":
        return x * a["value"]
    if op == "div_scalar":
        return x / a["value"]
    if op == "powf":
        return x ** a["value"]
    if op == "clamp":
        return torch.clamp(x, a["min"], a["max"])
    if op == "where_cond":
        return torch.where(x, xs[1], xs[2])
    if op in ("sum", "mean"):
        return getattr(torch, op)(x, dim=a["dims"], keepdim=a["keepdim"])
    if op == "sum_all":
        return x.sum()
    if op == "mean_all":
        return x.mean()
    if op == "max":
        return torch.amax(x, dim=a["dims"], keepdim=a["keepdim"])
    if op == "min":
        return torch.amin(x, dim=a["dims"], keepdim=a["keepdim"])
    if op == "prod":
        (d,) = a["dims"]
        return torch.prod(x, dim=d, keepdim=a["keepdim"])
    if op == "logsumexp":
        return torch.logsumexp(x, dim=a["dims"], keepdim=a["keepdim"])
    if op in ("var", "std"):
        return getattr(torch, op)(x, dim=a["dims"], unbiased=a["unbiased"], keepdim=a["keepdim"])
    if op in ("argmax", "argmin"):
        return getattr(torch, op)(x, dim=a["dim"], keepdim=a["keepdim"])
    if op == "reshape":
        return x.reshape(a["shape"])
    if op == "flatten":
        return torch.flatten(x, a["start"], a["end"])
    if op == "squeeze":
        return x.squeeze(a["dim"])
    if op == "unsqueeze":
        return x.unsqueeze(a["dim"])
    if op == "permute":
        return x.permute(a["dims"])
    if op == "transpose":
        return x.transpose(a["dim0"], a["dim1"])
    if op == "expand":
        return x.expand(a["shape"])
    if op == "narrow":
        return x.narrow(a["dim"], a["start"], a["len"])
    if op == "slice":
        index = [slice(None)] * x.dim()
        index[a["dim"]] = slice(a["start"], a["end"], a["step"])
        return x[tuple(index)]
    if op == "chunk":
        return torch.chunk(x, a["chunks"], a["dim"])[a["index"]]
    if op == "pad":
        return F.pad(x, [p for pair in a["pads"] for p in pair], value=a["value"])
    if op == "cat":
        return torch.cat(xs, dim=a["dim"])
    if op == "stack":
        return torch.stack(xs, dim=a["dim"])
    if op == "index_select":
        return torch.index_select(x, a["dim"], xs[1])
    if op == "gather":
        return torch.gather(x, a["dim"], xs[1])
    if op == "scatter_add":
        return x.scatter_add(a["dim"], xs[1], xs[2])
    if op == "conv2d":
        bias = xs[2] if len(xs) > 2 else None
        return F.conv2d(x, xs[1], bias, a["stride"], a["padding"], a["dilation"], a["groups"])
    if op == "max_pool2d":
        return F.max_pool2d(x, a["kernel"], a["stride"], a["padding"])
    if op == "avg_pool2d":
        return F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], count_include_pad=a["count_include_pad"])
    if op == "softmax":
        return torch.softmax(x, a["dim"])
    if op == "log_softmax":
        return torch.log_softmax(x, a["dim"])
    raise ValueError(op)


def encode(t):
    dtype = str(t.dtype).removeprefix("torch.")
    values = t.detach().reshape(-1)
    data = [bool(v) for v in values.tolist()] if t.dtype == torch.bool else values.tolist()
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def main():
    rng = np.random.default_rng(20261126)
    out = []
    for dtype_name, dtype in TORCH_DTYPES.items():
        for c in CASES:
            xs = [draw(rng, shape, kind, dtype) for shape, kind in c["inputs"]]
            for x in xs:
                if x.is_floating_point():
                    x.requires_grad_(True)
            y = run(c["op"], c["attrs"], xs)
            entry = {
                "op": c["op"],
                "attrs": c["attrs"],
                "dtype": dtype_name,
                "inputs": [encode(x) for x in xs],
                "output": encode(y),
                "cotangent": None,
                "grads": [None] * len(xs),
            }
            if y.requires_grad:
                cot = torch.tensor(rng.standard_normal(tuple(y.shape)), dtype=y.dtype)
                grads = torch.autograd.grad((y * cot).sum(), [x for x in xs if x.requires_grad], allow_unused=True)
                grads = iter(grads)
                entry["cotangent"] = encode(cot)
                entry["grads"] = [
                    (lambda g: encode(g) if g is not None else encode(torch.zeros_like(x)))(next(grads)) if x.requires_grad else None
                    for x in xs
                ]
            out.append(entry)
    OUT.write_text(json.dumps({"torch_version": torch.__version__, "cases": out}, separators=(",", ":")))
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()
