"""A ddbench student in PyTorch: `load("student.json")` returns a `torch.nn.Module` that takes
pixels in [0, 1] (float32 [B, C, H, W]) and returns the logits ddbench computes, so a number of a
ddbench leaderboard can be re-checked with torchattacks, AutoAttack or RobustBench:

    import torchattacks
    from ddbench_student import load
    model = load("results/x/artifacts/cifar10_sre2l_ipc10_resnet18_seed0/student.json").eval()
    adv = torchattacks.PGD(model, eps=8/255, alpha=2/255, steps=10)(images, labels)

`student.json` and `student.safetensors` are what `ddbench run --save-student` writes. The model
is the official DatasetCondensation ConvNet (depth x [conv 3x3, GroupNorm(w, w) for instance
norm or BatchNorm, ReLU, AvgPool 2], Linear) or torchvision's ResNet-18 with the CIFAR stem, with
ddbench's mean/std normalisation (and ZCA layer, `zca.safetensors`) in front. Needs torch,
torchvision (ResNet-18) and safetensors.
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import load_file


class _Input(nn.Module):
    """(x - mean) / std, then the ZCA whitening if the student has one."""

    def __init__(self, spec, zca):
        super().__init__()
        c = spec["in_channels"]
        self.register_buffer("mean", torch.tensor(spec["mean"], dtype=torch.float32).view(1, c, 1, 1))
        self.register_buffer("std", torch.tensor(spec["std"], dtype=torch.float32).view(1, c, 1, 1))
        self.zca = zca

    def forward(self, x):
        z = (x - self.mean) / self.std
        if self.zca is None:
            return z
        mean, transform = self.zca
        return ((z.flatten(1) - mean.to(z.device)) @ transform.to(z.device)).view_as(z)


def _convnet(spec):
    layers, c, side = [], spec["in_channels"], spec["height"]
    w = spec["width"]
    for d in range(spec["depth"]):
        first28 = d == 0 and c == 1 and spec["height"] == 28 and spec["width_px"] == 28
        layers.append(nn.Conv2d(c, w, 3, padding=3 if first28 else 1))
        if spec["norm"] == "instance":
            layers.append(nn.GroupNorm(w, w, affine=True))
        elif spec["norm"] == "batch":
            layers.append(nn.BatchNorm2d(w))
        layers += [nn.ReLU(), nn.AvgPool2d(2, 2)]
        side = (side + (4 if first28 else 0)) // 2
        c = w
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(w * side * side, spec["num_classes"]))


def _convnet_names(spec):
    """ddbench name -> this module's state_dict name."""
    per = 4 if spec["norm"] in ("instance", "batch") else 3
    names = {}
    for d in range(spec["depth"]):
        for p in ("weight", "bias"):
            names[f"net.block{d}.conv.{p}"] = f"{per * d}.{p}"
            if per == 4:
                names[f"net.block{d}.norm.{p}"] = f"{per * d + 1}.{p}"
        if spec["norm"] == "batch":
            for p in ("running_mean", "running_var"):
                names[f"net.block{d}.norm.{p}"] = f"{per * d + 1}.{p}"
    last = per * spec["depth"] + 1
    names.update({f"net.classifier.{p}": f"{last}.{p}" for p in ("weight", "bias")})
    return names


def _resnet18(spec):
    import torchvision

    m = torchvision.models.resnet18(num_classes=spec["num_classes"])
    m.conv1 = nn.Conv2d(spec["in_channels"], 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    return m


def load(student_json):
    with open(student_json) as f:
        card = json.load(f)
    spec = card["spec"]
    here = os.path.dirname(os.path.abspath(student_json))
    weights = load_file(os.path.join(here, os.path.basename(card["weights"])))
    if spec["arch"] == "convnet":
        net, names = _convnet(spec), _convnet_names(spec)
        state = {names[k]: v for k, v in weights.items()}
    else:
        net = _resnet18(spec)
        state = {k[len("net."):].replace("shortcut.conv.", "downsample.0.").replace("shortcut.bn.", "downsample.1."): v
                 for k, v in weights.items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{student_json}: missing {missing}, unexpected {unexpected}")
    zca = None
    if card.get("zca"):
        z = load_file(os.path.join(here, os.path.basename(card["zca"])))
        zca = (z["mean"], z["transform"])
    return nn.Sequential(_Input(spec, zca), net)
