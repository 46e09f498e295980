"""Writes the PyTorch reference values for ingot-nn's parity tests.

Run from the repository root:

    PY=$(tools/torch-env.sh)
    "$PY" crates/ingot-nn/tests/reference/gen_nn_reference.py            # write references
    "$PY" crates/ingot-nn/tests/reference/gen_nn_reference.py --check-export
                                                # load ingot_export.safetensors in PyTorch

Outputs, beside this script:
- nn_reference.safetensors: every tensor, keyed "<case>/<name>";
- nn_reference.json: the cases (kind, configuration, which keys hold what).

Cases: layers (output, input and parameter gradients, state after a
training-mode forward), losses (value and input gradient), optimizers
(parameters after each of 20 steps), schedulers (learning rates, and
momentum where cycled), and two models (an MLP and a CNN with batch norm)
saved from PyTorch with their outputs.

`--check-export` loads the file ingot writes in its tests
(`INGOT_WRITE_EXPORT=1 cargo test -p ingot-nn --test interop`) into the
equivalent PyTorch model with strict loading and compares outputs.
"""

import json
import pathlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

HERE = pathlib.Path(__file__).parent
TENSORS = {}
CASES = []


def put(case, name, t):
    TENSORS[f"{case}/{name}"] = t.detach().clone().contiguous()


# ---------------------------------------------------------------- layers

def layer_case(name, spec, module, x, train=True, call=None):
    torch.manual_seed(sum(name.encode()))
    module.train(train)
    put(name, "x", x)
    for k, v in module.state_dict().items():
        put(name, f"sd/{k}", v)
    xin = x.clone().requires_grad_(x.is_floating_point())
    out = call(module, xin) if call else module(xin)
    weights = None
    if isinstance(out, tuple):
        out, weights = out
    put(name, "y", out)
    if weights is not None:
        put(name, "attn_weights", weights)
    cot = torch.randn_like(out)
    put(name, "cot", cot)
    params = dict(module.named_parameters())
    targets = ([xin] if xin.requires_grad else []) + list(params.values())
    grads = torch.autograd.grad((out * cot).sum(), targets, allow_unused=True)
    grads = list(grads)
    if xin.requires_grad:
        put(name, "grad/x", grads.pop(0))
    for (k, p), g in zip(params.items(), grads):
        put(name, f"grad/{k}", g if g is not None else torch.zeros_like(p))
    for k, v in module.state_dict().items():
        put(name, f"after/{k}", v)
    CASES.append({"kind": "layer", "name": name, "spec": spec, "train": train, "params": list(params), "grad_x": xin.requires_grad})


def layers():
    torch.manual_seed(0)
    r = torch.randn
    layer_case("linear", {"type": "Linear", "in": 5, "out": 3, "bias": True}, nn.Linear(5, 3), r(4, 5))
    layer_case("linear_nobias_3d", {"type": "Linear", "in": 5, "out": 3, "bias": False}, nn.Linear(5, 3, bias=False), r(2, 3, 5))
    layer_case("conv_basic", {"type": "Conv2d", "in": 3, "out": 4, "kernel": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": True},
               nn.Conv2d(3, 4, 3, padding=1), r(2, 3, 6, 6))
    layer_case("conv_stride_groups", {"type": "Conv2d", "in": 4, "out": 6, "kernel": 3, "stride": 2, "padding": 0, "dilation": 1, "groups": 2, "bias": False},
               nn.Conv2d(4, 6, 3, stride=2, groups=2, bias=False), r(2, 4, 7, 7))
    layer_case("conv_dilation", {"type": "Conv2d", "in": 2, "out": 3, "kernel": 3, "stride": 1, "padding": 2, "dilation": 2, "groups": 1, "bias": True},
               nn.Conv2d(2, 3, 3, padding=2, dilation=2), r(1, 2, 8, 8))
    for name, mod, x, train in [
        ("bn1d_train", nn.BatchNorm1d(4), r(6, 4) * 2 + 1, True),
        ("bn1d_3d_train", nn.BatchNorm1d(3), r(4, 3, 5), True),
        ("bn2d_train", nn.BatchNorm2d(3), r(4, 3, 5, 5) * 3 - 1, True),
        ("bn2d_eval", nn.BatchNorm2d(3), r(4, 3, 5, 5), False),
    ]:
        with torch.no_grad():
            mod.weight.copy_(r(mod.num_features) * 0.5 + 1)
            mod.bias.copy_(r(mod.num_features) * 0.5)
            mod.running_mean.copy_(r(mod.num_features))
            mod.running_var.copy_(torch.rand(mod.num_features) + 0.5)
            mod.num_batches_tracked.fill_(3)
        ty = "BatchNorm1d" if isinstance(mod, nn.BatchNorm1d) else "BatchNorm2d"
        layer_case(name, {"type": ty, "features": mod.num_features}, mod, x, train)
    for name, shape, x in [("layernorm", [6], r(3, 4, 6)), ("layernorm_2d", [4, 6], r(3, 4, 6))]:
        ln = nn.LayerNorm(shape)
        with torch.no_grad():
            ln.weight.copy_(r(*shape) * 0.5 + 1)
            ln.bias.copy_(r(*shape) * 0.5)
        layer_case(name, {"type": "LayerNorm", "shape": shape}, ln, x)
    gn = nn.GroupNorm(2, 4)
    with torch.no_grad():
        gn.weight.copy_(r(4) * 0.5 + 1)
        gn.bias.copy_(r(4) * 0.5)
    layer_case("groupnorm", {"type": "GroupNorm", "groups": 2, "channels": 4}, gn, r(3, 4, 5, 5))
    layer_case("embedding", {"type": "Embedding", "num": 10, "dim": 4}, nn.Embedding(10, 4), torch.randint(0, 10, (3, 5)))
    layer_case("maxpool", {"type": "MaxPool2d", "kernel": 2, "stride": 2, "padding": 0}, nn.MaxPool2d(2), r(2, 3, 6, 6))
    layer_case("maxpool_pad", {"type": "MaxPool2d", "kernel": 3, "stride": 2, "padding": 1}, nn.MaxPool2d(3, 2, 1), r(1, 2, 7, 7))
    layer_case("avgpool", {"type": "AvgPool2d", "kernel": 2, "stride": 2, "padding": 0}, nn.AvgPool2d(2), r(2, 3, 6, 6))
    layer_case("avgpool_pad", {"type": "AvgPool2d", "kernel": 3, "stride": 1, "padding": 1}, nn.AvgPool2d(3, 1, 1), r(1, 2, 5, 5))
    layer_case("adaptive", {"type": "AdaptiveAvgPool2d", "out": [3, 2]}, nn.AdaptiveAvgPool2d((3, 2)), r(2, 3, 7, 5))
    layer_case("adaptive_1x1", {"type": "AdaptiveAvgPool2d", "out": [1, 1]}, nn.AdaptiveAvgPool2d((1, 1)), r(2, 3, 4, 4))
    layer_case("flatten", {"type": "Flatten"}, nn.Flatten(), r(2, 3, 4))
    for name, spec, mod in [
        ("relu", {"type": "ReLU"}, nn.ReLU()),
        ("leaky_relu", {"type": "LeakyReLU", "slope": 0.1}, nn.LeakyReLU(0.1)),
        ("elu", {"type": "ELU", "alpha": 0.7}, nn.ELU(0.7)),
        ("gelu", {"type": "GELU", "tanh": False}, nn.GELU()),
        ("gelu_tanh", {"type": "GELU", "tanh": True}, nn.GELU("tanh")),
        ("silu", {"type": "SiLU"}, nn.SiLU()),
        ("sigmoid", {"type": "Sigmoid"}, nn.Sigmoid()),
        ("tanh", {"type": "Tanh"}, nn.Tanh()),
        ("softmax", {"type": "Softmax", "dim": 1}, nn.Softmax(1)),
        ("log_softmax", {"type": "LogSoftmax", "dim": -1}, nn.LogSoftmax(-1)),
    ]:
        layer_case(name, spec, mod, r(4, 6) * 2)
    layer_case("dropout_eval", {"type": "Dropout", "p": 0.3}, nn.Dropout(0.3), r(4, 6), train=False)
    layer_case("mha_batch_first", {"type": "MultiheadAttention", "embed": 8, "heads": 2, "batch_first": True},
               nn.MultiheadAttention(8, 2, batch_first=True), r(2, 5, 8),
               call=lambda m, x: m(x, x, x, need_weights=True))
    causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])
    TENSORS["mha_masks/attn_mask"] = causal
    TENSORS["mha_masks/key_padding_mask"] = pad
    layer_case("mha_masks", {"type": "MultiheadAttention", "embed": 8, "heads": 2, "batch_first": True, "masks": True},
               nn.MultiheadAttention(8, 2, batch_first=True), r(2, 5, 8),
               call=lambda m, x: m(x, x, x, attn_mask=causal, key_padding_mask=pad, need_weights=True))
    layer_case("mha_seq_first", {"type": "MultiheadAttention", "embed": 8, "heads": 2, "batch_first": False},
               nn.MultiheadAttention(8, 2), r(5, 2, 8), call=lambda m, x: m(x, x, x, need_weights=False)[0])
    for name, norm_first, act, causal_flag in [("transformer", False, "relu", False), ("transformer_prenorm_gelu_causal", True, "gelu", True)]:
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, activation=act, batch_first=True, norm_first=norm_first)
        spec = {"type": "TransformerEncoderLayer", "d_model": 8, "heads": 2, "ff": 16, "norm_first": norm_first, "gelu": act == "gelu", "causal": causal_flag}
        mask = nn.Transformer.generate_square_subsequent_mask(5) if causal_flag else None
        layer_case(name, spec, layer, r(2, 5, 8), call=lambda m, x, mask=mask, c=causal_flag: m(x, src_mask=mask, is_causal=c))
    mlp = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    layer_case("sequential_mlp", {"type": "MLP"}, mlp, r(4, 6))


# ---------------------------------------------------------------- losses

def loss_case(name, spec, fn, x, target, extra=None):
    xin = x.clone().requires_grad_(True)
    y = fn(xin, target)
    cot = torch.randn_like(y)
    (g,) = torch.autograd.grad((y * cot).sum(), [xin])
    put(name, "x", x)
    put(name, "target", target)
    for k, v in (extra or {}).items():
        put(name, k, v)
    put(name, "y", y)
    put(name, "cot", cot)
    put(name, "grad/x", g)
    CASES.append({"kind": "loss", "name": name, "spec": spec, "extra": list(extra or {})})


def losses():
    torch.manual_seed(1)
    r = torch.randn
    logits, y = r(5, 4), torch.tensor([0, 3, 1, 1, 2])
    w = torch.rand(4) + 0.5
    for red in ["mean", "sum", "none"]:
        loss_case(f"ce_{red}", {"loss": "cross_entropy", "reduction": red}, lambda x, t, red=red: F.cross_entropy(x, t, reduction=red), logits, y)
    loss_case("ce_weight_ignore", {"loss": "cross_entropy", "weight": True, "ignore_index": 1},
              lambda x, t: F.cross_entropy(x, t, weight=w, ignore_index=1), logits, y, {"weight": w})
    loss_case("ce_smooth", {"loss": "cross_entropy", "label_smoothing": 0.1}, lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), logits, y)
    loss_case("ce_smooth_weight_ignore", {"loss": "cross_entropy", "weight": True, "ignore_index": 3, "label_smoothing": 0.2},
              lambda x, t: F.cross_entropy(x, t, weight=w, ignore_index=3, label_smoothing=0.2), logits, y, {"weight": w})
    loss_case("ce_smooth_none", {"loss": "cross_entropy", "label_smoothing": 0.3, "reduction": "none", "ignore_index": 0},
              lambda x, t: F.cross_entropy(x, t, label_smoothing=0.3, reduction="none", ignore_index=0), logits, y)
    probs = torch.softmax(r(5, 4), 1)
    loss_case("ce_probs", {"loss": "cross_entropy"}, lambda x, t: F.cross_entropy(x, t), logits, probs)
    loss_case("ce_probs_smooth_weight", {"loss": "cross_entropy", "weight": True, "label_smoothing": 0.1},
              lambda x, t: F.cross_entropy(x, t, weight=w, label_smoothing=0.1), logits, probs, {"weight": w})
    loss_case("ce_spatial", {"loss": "cross_entropy"}, lambda x, t: F.cross_entropy(x, t), r(2, 4, 3, 3), torch.randint(0, 4, (2, 3, 3)))
    loss_case("ce_unbatched", {"loss": "cross_entropy"}, lambda x, t: F.cross_entropy(x, t), r(4), torch.tensor(2))
    logp = torch.log_softmax(r(5, 4), 1)
    loss_case("nll_weight", {"loss": "nll_loss", "weight": True}, lambda x, t: F.nll_loss(x, t, weight=w), logp, y, {"weight": w})
    a, b = r(3, 4), r(3, 4)
    for red in ["mean", "sum", "none"]:
        loss_case(f"mse_{red}", {"loss": "mse_loss", "reduction": red}, lambda x, t, red=red: F.mse_loss(x, t, reduction=red), a, b)
    loss_case("l1", {"loss": "l1_loss"}, F.l1_loss, a, b)
    loss_case("smooth_l1", {"loss": "smooth_l1_loss", "beta": 0.5}, lambda x, t: F.smooth_l1_loss(x, t, beta=0.5), a, b)
    loss_case("huber", {"loss": "huber_loss", "delta": 0.7}, lambda x, t: F.huber_loss(x, t, delta=0.7), a, b)
    p, q = torch.sigmoid(r(3, 4)), torch.rand(3, 4)
    bw = torch.rand(3, 4)
    loss_case("bce", {"loss": "binary_cross_entropy", "weight": True}, lambda x, t: F.binary_cross_entropy(x, t, weight=bw), p, q, {"weight": bw})
    pw = torch.rand(4) * 2
    loss_case("bce_logits", {"loss": "binary_cross_entropy_with_logits", "weight": True, "pos_weight": True},
              lambda x, t: F.binary_cross_entropy_with_logits(x, t, weight=bw, pos_weight=pw), r(3, 4) * 3, q, {"weight": bw, "pos_weight": pw})
    target_p = torch.softmax(r(3, 4), 1)
    target_p[0, 1] = 0.0
    loss_case("kl_batchmean", {"loss": "kl_div", "reduction": "batchmean"}, lambda x, t: F.kl_div(x, t, reduction="batchmean"), torch.log_softmax(r(3, 4), 1), target_p)
    loss_case("kl_log_target", {"loss": "kl_div", "reduction": "sum", "log_target": True},
              lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True), torch.log_softmax(r(3, 4), 1), torch.log_softmax(r(3, 4), 1))


# ---------------------------------------------------------------- optimizers

def optim_model():
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))


def optim_case(name, spec, make):
    model = optim_model()
    torch.manual_seed(3)
    x, y = torch.randn(8, 5), torch.randn(8, 3)
    put(name, "x", x)
    put(name, "y", y)
    for k, v in model.state_dict().items():
        put(name, f"init/{k}", v)
    opt = make(model)
    for step in range(20):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
        for k, v in model.state_dict().items():
            put(name, f"step{step}/{k}", v)
    CASES.append({"kind": "optim", "name": name, "spec": spec})


def optimizers():
    O = torch.optim
    optim_case("sgd", {"opt": "sgd", "lr": 0.1}, lambda m: O.SGD(m.parameters(), lr=0.1))
    optim_case("sgd_momentum", {"opt": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
               lambda m: O.SGD(m.parameters(), lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01))
    optim_case("sgd_nesterov", {"opt": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
               lambda m: O.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True))
    optim_case("adam", {"opt": "adam", "lr": 0.01}, lambda m: O.Adam(m.parameters(), lr=0.01))
    optim_case("adam_amsgrad_wd", {"opt": "adam", "lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1, "amsgrad": True},
               lambda m: O.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True))
    optim_case("adamw", {"opt": "adamw", "lr": 0.01}, lambda m: O.AdamW(m.parameters(), lr=0.01))
    optim_case("adamw_amsgrad", {"opt": "adamw", "lr": 0.02, "weight_decay": 0.05, "amsgrad": True},
               lambda m: O.AdamW(m.parameters(), lr=0.02, weight_decay=0.05, amsgrad=True))
    optim_case("rmsprop", {"opt": "rmsprop", "lr": 0.01}, lambda m: O.RMSprop(m.parameters(), lr=0.01))
    optim_case("rmsprop_centered", {"opt": "rmsprop", "lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
               lambda m: O.RMSprop(m.parameters(), lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01))
    optim_case("adagrad", {"opt": "adagrad", "lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1},
               lambda m: O.Adagrad(m.parameters(), lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1))
    optim_case("sgd_groups", {"opt": "sgd_groups"},
               lambda m: O.SGD([{"params": m[0].parameters(), "lr": 0.1}, {"params": m[2].parameters(), "lr": 0.01, "momentum": 0.9}], lr=0.05))


# ---------------------------------------------------------------- schedulers

def sched_case(name, spec, make_opt, make_sched, steps=25, metrics=None):
    p = nn.Parameter(torch.zeros(1))
    opt = make_opt([p])
    sched = make_sched(opt)
    lrs, moms = [opt.param_groups[0]["lr"]], [group_momentum(opt)]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(group_momentum(opt))
    CASES.append({"kind": "sched", "name": name, "spec": spec, "lrs": lrs, "momentums": moms, "metrics": metrics})


def group_momentum(opt):
    g = opt.param_groups[0]
    return g["betas"][0] if "betas" in g else g.get("momentum")


def schedulers():
    S = torch.optim.lr_scheduler
    sgd = lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)
    adam = lambda ps: torch.optim.Adam(ps, lr=0.1)
    sched_case("step", {"sched": "step", "step_size": 3, "gamma": 0.5}, sgd, lambda o: S.StepLR(o, 3, 0.5))
    sched_case("multistep", {"sched": "multistep", "milestones": [4, 7, 7, 12], "gamma": 0.3}, sgd, lambda o: S.MultiStepLR(o, [4, 7, 7, 12], 0.3))
    sched_case("exponential", {"sched": "exponential", "gamma": 0.9}, sgd, lambda o: S.ExponentialLR(o, 0.9))
    sched_case("cosine", {"sched": "cosine", "t_max": 10, "eta_min": 0.001}, sgd, lambda o: S.CosineAnnealingLR(o, 10, 0.001))
    sched_case("linear", {"sched": "linear", "start": 0.25, "end": 1.0, "total": 6}, sgd, lambda o: S.LinearLR(o, 0.25, 1.0, 6))
    sched_case("onecycle", {"sched": "onecycle", "max_lr": 1.0, "total": 25, "opt": "sgd"}, sgd, lambda o: S.OneCycleLR(o, 1.0, total_steps=25), steps=24)
    sched_case("onecycle_three_phase_linear", {"sched": "onecycle", "max_lr": 0.5, "total": 20, "opt": "adam", "three_phase": True, "linear": True},
               adam, lambda o: S.OneCycleLR(o, 0.5, total_steps=20, three_phase=True, anneal_strategy="linear"), steps=19)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.94, 0.96, 0.5, 0.5, 0.5, 0.5, 0.5, 0.49, 0.6, 0.6, 0.6, 0.6, 0.3, 0.3, 0.3, 0.3]
    sched_case("plateau", {"sched": "plateau", "patience": 2, "factor": 0.5, "threshold": 0.01, "cooldown": 1}, sgd,
               lambda o: S.ReduceLROnPlateau(o, patience=2, factor=0.5, threshold=0.01, cooldown=1), steps=20, metrics=metrics)
    sched_case("plateau_max_abs", {"sched": "plateau", "mode": "max", "threshold_mode": "abs", "patience": 1, "factor": 0.2, "threshold": 0.05, "min_lr": 0.005}, sgd,
               lambda o: S.ReduceLROnPlateau(o, mode="max", threshold_mode="abs", patience=1, factor=0.2, threshold=0.05, min_lr=0.005), steps=20, metrics=metrics)
    sched_case("sequential", {"sched": "sequential"}, sgd,
               lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.1, 1.0, 5), S.CosineAnnealingLR(o, 15)], milestones=[5]))


# ---------------------------------------------------------------- models saved from PyTorch

def torch_mlp():
    torch.manual_seed(4)
    return nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5))


def torch_cnn():
    torch.manual_seed(5)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(8, 3))


def models():
    mlp = torch_mlp()
    x = torch.randn(6, 20)
    save_file({k: v.contiguous() for k, v in mlp.state_dict().items()}, HERE / "torch_mlp.safetensors")
    put("torch_mlp", "x", x)
    put("torch_mlp", "y", mlp(x))
    cnn = torch_cnn()
    cnn.train()
    for _ in range(3):
        cnn(torch.randn(8, 1, 10, 10) * 2 + 0.5)
    cnn.eval()
    save_file({k: v.contiguous() for k, v in cnn.state_dict().items()}, HERE / "torch_cnn.safetensors")
    x = torch.randn(4, 1, 10, 10)
    put("torch_cnn", "x", x)
    put("torch_cnn", "y_eval", cnn(x))
    cnn.train()
    put("torch_cnn", "y_train", cnn(x))
    CASES.append({"kind": "model", "name": "torch_mlp"})
    CASES.append({"kind": "model", "name": "torch_cnn"})


def check_export():
    path = HERE / "ingot_export.safetensors"
    data = load_file(path)
    ok = True
    for name, make in [("mlp", torch_mlp), ("cnn", torch_cnn)]:
        model = make()
        sd = {k[len(name) + 1:]: v for k, v in data.items() if k.startswith(name + ".")}
        model.load_state_dict(sd, strict=True)
        model.eval()
        y = model(data[f"io.{name}.x"])
        err = (y - data[f"io.{name}.y"]).abs().max().item()
        print(f"{name}: ingot-saved weights loaded strictly in PyTorch; max |output difference| = {err:.3g}")
        ok &= err < 1e-5
    sys.exit(0 if ok else 1)


def main():
    if "--check-export" in sys.argv:
        check_export()
    layers()
    losses()
    optimizers()
    schedulers()
    models()
    save_file(TENSORS, HERE / "nn_reference.safetensors")
    (HERE / "nn_reference.json").write_text(json.dumps({"torch_version": torch.__version__, "cases": CASES}, indent=1))
    print(f"wrote {len(CASES)} cases, {len(TENSORS)} tensors")


if __name__ == "__main__":
    main()
