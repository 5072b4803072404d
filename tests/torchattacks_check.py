"""Runs torchattacks on a model and inputs saved by ddbench (tests/torchattacks.rs).

Usage: python torchattacks_check.py DIR
DIR holds model.safetensors + spec.json (a ddbench ConvNet), inputs.safetensors (x in [0, 1],
y) and attacks.json (a list of {"name", "attack", "params"}; attack "MultiAttack" takes
params {"attacks": [{"attack", "params"}, ...]}, torchattacks.MultiAttack over those components,
which is how torchattacks.AutoAttack is built). Writes DIR/torchattacks.json:
{name: [1 if the adversarial prediction is right else 0, ...]} per sample; an attack entry with
"report_l2": true also gets {name}_l2, the per-sample L2 norms of its perturbations, and one
with "carlini_box": true maps pixels to tanh space as Carlini's code does (x·(1−1e-6), so
pixels at 0 or 1 stay movable) instead of torchattacks' ±inf; "n": k attacks the first k
inputs only (for torchattacks' one-image-at-a-time DeepFool).
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torchattacks
from safetensors.torch import load_file


class ConvNet(nn.Module):
    """ddbench's ConvNet-D: normalise, D x [conv 3x3 -> instance norm (affine) -> ReLU -> avgpool 2], linear."""

    def __init__(self, spec):
        super().__init__()
        c, h, w = spec["in_channels"], spec["height"], spec["width_px"]
        self.register_buffer("mean", torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1))
        layers, side = [], h
        for d in range(spec["depth"]):
            pad = 3 if (d == 0 and c == 1 and h == 28 and w == 28) else 1
            layers += [nn.Conv2d(c, spec["width"], 3, padding=pad),
                       nn.GroupNorm(spec["width"], spec["width"], affine=True), nn.ReLU(), nn.AvgPool2d(2)]
            c = spec["width"]
            side = (side + 2 * pad - 2) // 2
        self.blocks = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * side * side, spec["num_classes"])

    def forward(self, x):
        return self.classifier(self.blocks((x - self.mean) / self.std).flatten(1))


def load(d):
    spec = json.load(open(f"{d}/spec.json"))
    assert spec["arch"] == "convnet" and spec["norm"] == "instance", spec
    net = ConvNet(spec)
    w = load_file(f"{d}/model.safetensors")
    state = {}
    for k, v in w.items():  # net.block{i}.{conv,norm}.{weight,bias}, net.classifier.{weight,bias}
        parts = k.split(".")
        if parts[1] == "classifier":
            state[f"classifier.{parts[2]}"] = v
        else:
            i = int(parts[1][len("block"):])
            state[f"blocks.{4 * i + (0 if parts[2] == 'conv' else 1)}.{parts[3]}"] = v
    net.load_state_dict(state, strict=False)
    missing = set(net.state_dict()) - set(state) - {"mean", "std"}
    assert not missing, missing
    return net.eval()


def build(net, a):
    if a["attack"] == "MultiAttack":
        return torchattacks.MultiAttack([build(net, c) for c in a["params"]["attacks"]])
    return getattr(torchattacks, a["attack"])(net, **a["params"])


def main(d):
    torch.manual_seed(0)
    # DDBENCH_XCHECK_DEVICE=cuda runs the reference on the GPU (the device check); default CPU
    dev = os.environ.get("DDBENCH_XCHECK_DEVICE", "cpu")
    net = load(d).to(dev)
    inp = load_file(f"{d}/inputs.safetensors")
    x, y = inp["x"].to(dev), inp["y"].long().to(dev)
    out = {"seconds": {}}
    with torch.no_grad():
        out["clean"] = (net(x).argmax(1) == y).int().tolist()
    for a in json.load(open(f"{d}/attacks.json")):
        atk = build(net, a)
        if a.get("carlini_box"):
            atk.inverse_tanh_space = lambda v: torch.atanh(torch.clamp(v * 2 - 1, -1, 1) * (1 - 1e-6))
        n = a.get("n", len(x))
        xa, ya = x[:n], y[:n]
        start = time.perf_counter()
        adv = atk(xa, ya)
        if dev == "cuda":
            torch.cuda.synchronize()
        out["seconds"][a["name"]] = time.perf_counter() - start
        with torch.no_grad():
            out[a["name"]] = (net(adv).argmax(1) == ya).int().tolist()
        if a.get("report_l2"):
            out[a["name"] + "_l2"] = (adv - xa).flatten(1).norm(dim=1).tolist()
    json.dump(out, open(f"{d}/torchattacks.json", "w"))


if __name__ == "__main__":
    main(sys.argv[1])
