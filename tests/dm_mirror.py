"""A PyTorch mirror of the official DM outer iteration (VICO-UoE/DatasetCondensation main_DM.py,
the ConvNet branch) for tests/dm.rs, driven by fixed inputs instead of its own draws: the
network weights, the real batches and the DSA values come from the file.

Usage: python dm_mirror.py DIR
DIR/inputs.safetensors: `syn` ([classes * ipc, C, H, W], normalised), `real.C` (class C's real
batch), `netS.NAME` (step S's ConvNet weights: `net.blockD.conv.weight` / `.bias`,
`net.blockD.norm.weight` / `.bias`), `dS.C.OP.KEY` (step S, class C: the value KEY of DSA
transform OP, one value shared by the batch: the official Siamese mode). DIR/plan.json: {"ipc",
"depth", "steps": [[[OP, ...] per class] per step]}. Writes DIR/outputs.safetensors: `syn.S`
(the images after step S) and `loss.S`.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsa_mirror  # noqa: E402  (the official DiffAugment transforms, tested by tests/dsa.rs)

KEYS = {
    "brightness": ["u"], "saturation": ["u"], "contrast": ["u"], "flip": ["u"],
    "rotate": ["u"], "scale": ["ux", "uy"], "crop": ["tx", "ty"], "cutout": ["ox", "oy"],
}


def augment(x, t, prefix, ops):
    """The official DiffAugment transforms of `ops` in order, Siamese (one value per batch)."""
    p = dsa_mirror.Param()
    p.siamese = True
    for op in ops:
        vals = [t[f"{prefix}.{op}.{k}"].expand(x.shape[0]) for k in KEYS[op]]
        x = getattr(dsa_mirror, op)(x, *vals, p)
    return x


def embed(x, w, depth):
    """The official ConvNet.embed: depth x [conv 3x3, GroupNorm(C, C), ReLU, AvgPool 2]."""
    for d in range(depth):
        b = f"net.block{d}"
        x = F.conv2d(x, w[f"{b}.conv.weight"], w[f"{b}.conv.bias"], padding=1)
        width = x.shape[1]
        x = F.group_norm(x, width, w[f"{b}.norm.weight"], w[f"{b}.norm.bias"], eps=1e-5)
        x = F.avg_pool2d(F.relu(x), 2, 2)
    return x.reshape(x.shape[0], -1)


def main(folder):
    t = load_file(f"{folder}/inputs.safetensors")
    with open(f"{folder}/plan.json") as fh:
        plan = json.load(fh)
    ipc, depth = plan["ipc"], plan["depth"]
    image_syn = t["syn"].clone().requires_grad_(True)
    optimizer_img = torch.optim.SGD([image_syn], lr=1.0, momentum=0.5)
    optimizer_img.zero_grad()
    out = {}
    for s, classes in enumerate(plan["steps"]):
        w = {k[len(f"net{s}."):]: v for k, v in t.items() if k.startswith(f"net{s}.")}
        loss = torch.tensor(0.0)
        for c, ops in enumerate(classes):
            img_real = augment(t[f"real.{c}"], t, f"d{s}.{c}", ops)
            img_syn = augment(image_syn[c * ipc:(c + 1) * ipc], t, f"d{s}.{c}", ops)
            output_real = embed(img_real, w, depth).detach()
            output_syn = embed(img_syn, w, depth)
            loss += torch.sum((torch.mean(output_real, dim=0) - torch.mean(output_syn, dim=0)) ** 2)
        optimizer_img.zero_grad()
        loss.backward()
        optimizer_img.step()
        out[f"syn.{s}"] = image_syn.detach().clone()
        out[f"loss.{s}"] = loss.detach().reshape(1)
    save_file(out, f"{folder}/outputs.safetensors")


if __name__ == "__main__":
    main(sys.argv[1])
