"""A PyTorch mirror of one outer iteration of the official DC / DSA loop (VICO-UoE/DatasetCondensation
main.py:146-218, --method DC|DSA, with utils.py's match_loss / distance_wb and epoch('train', ...))
for tests/dc.rs, driven by fixed inputs instead of its own draws: the network's initial weights,
the real batches, the DSA values and the inner-loop shuffles come from the file.

Usage: python dc_mirror.py DIR
DIR/inputs.safetensors: `syn` ([classes * ipc, C, H, W], normalised), `net.NAME` (the ConvNet's
initial weights: `net.blockD.conv.weight` / `.bias`, `net.blockD.norm.weight` / `.bias`,
`net.classifier.weight` / `.bias`), `real.S.C` (matching step S, class C's real batch),
`dS.C.OP.KEY` (step S, class C: value KEY of DSA transform OP, one value: Siamese), `perm.E`
(training epoch E's order of the synthetic set), `tK.OP.KEY` (training batch K's DSA values, one
per sample). DIR/plan.json: {"classes", "ipc", "depth", "outer_loop", "inner_loop",
"batch_train", "lr_img", "momentum", "lr_net", "dsa", "steps": [[[OP, ...] per class] per
step], "train": [[OP, ...] per batch]}.
Writes DIR/outputs.safetensors: `syn` (the images after the iteration), `loss` (the summed
matching loss), `trained.NAME` (the trained weights), and for the variants that must differ from
the official update, `syn.momentum_0.9` (optimizer_img with momentum 0.9) and `syn.bias_counted`
(distance_wb applied to the 1-D gradients too instead of returning 0).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dm_mirror  # noqa: E402  (Siamese DSA of fixed values, KEYS)
import dsa_mirror  # noqa: E402  (the official DiffAugment transforms)


def distance_wb(gwr, gws, count_bias=False):
    """utils.py:218-235 verbatim (count_bias: the wrong variant that scores 1-D gradients)."""
    shape = gwr.shape
    if len(shape) == 4:  # conv, out*in*h*w
        gwr = gwr.reshape(shape[0], shape[1] * shape[2] * shape[3])
        gws = gws.reshape(shape[0], shape[1] * shape[2] * shape[3])
    elif len(shape) == 3:  # layernorm, C*h*w
        gwr = gwr.reshape(shape[0], shape[1] * shape[2])
        gws = gws.reshape(shape[0], shape[1] * shape[2])
    elif len(shape) == 2:  # linear, out*in
        tmp = 'do nothing'  # noqa: F841
    elif len(shape) == 1:  # batchnorm/instancenorm, C; groupnorm x, bias
        gwr = gwr.reshape(1, shape[0])
        gws = gws.reshape(1, shape[0])
        if not count_bias:
            return torch.tensor(0, dtype=torch.float, device=gwr.device)

    dis_weight = torch.sum(1 - torch.sum(gwr * gws, dim=-1) / (torch.norm(gwr, dim=-1) * torch.norm(gws, dim=-1) + 0.000001))
    dis = dis_weight
    return dis


def match_loss(gw_syn, gw_real, count_bias):
    """utils.py:239-246, dis_metric 'ours'."""
    dis = torch.tensor(0.0)
    for ig in range(len(gw_real)):
        dis += distance_wb(gw_real[ig], gw_syn[ig], count_bias)
    return dis


def param_names(depth):
    """The official ConvNet's net.parameters() order (features, then classifier)."""
    names = []
    for d in range(depth):
        names += [f"net.block{d}.conv.weight", f"net.block{d}.conv.bias",
                  f"net.block{d}.norm.weight", f"net.block{d}.norm.bias"]
    return names + ["net.classifier.weight", "net.classifier.bias"]


def net(x, w, depth):
    """The official ConvNet forward: depth x [conv 3x3, GroupNorm(C, C), ReLU, AvgPool 2], linear."""
    x = dm_mirror.embed(x, w, depth)
    return F.linear(x, w["net.classifier.weight"], w["net.classifier.bias"])


def per_sample(x, t, prefix, ops):
    """DiffAugment(x, strategy, param) with seed -1: values per sample (utils.py:309-311)."""
    p = dsa_mirror.Param()
    for op in ops:
        x = getattr(dsa_mirror, op)(x, *[t[f"{prefix}.{op}.{k}"] for k in dm_mirror.KEYS[op]], p)
    return x


def epoch_train(images, labels, perm, w, params, optimizer_net, criterion, plan, t, k):
    """utils.py:297-333, mode 'train', over DataLoader(shuffle=True) batches in `perm` order."""
    bt, depth = plan["batch_train"], plan["depth"]
    for start in range(0, images.shape[0], bt):
        idx = perm[start:start + bt]
        img, lab = images[idx], labels[idx]
        if plan["dsa"]:
            img = per_sample(img, t, f"t{k}", plan["train"][k])
        k += 1
        loss = criterion(net(img, w, depth), lab)
        optimizer_net.zero_grad()
        loss.backward()
        optimizer_net.step()
    return k


def iteration(t, plan, momentum, count_bias):
    """main.py:147-218 for one `it`, from the file's network and draws."""
    classes, ipc, depth = plan["classes"], plan["ipc"], plan["depth"]
    image_syn = t["syn"].clone().requires_grad_(True)
    label_syn = torch.arange(classes).repeat_interleave(ipc)
    optimizer_img = torch.optim.SGD([image_syn, ], lr=plan["lr_img"], momentum=momentum)
    optimizer_img.zero_grad()
    criterion = nn.CrossEntropyLoss()
    names = param_names(depth)
    w = {n: t[n].clone().requires_grad_(True) for n in names}
    net_parameters = [w[n] for n in names]
    optimizer_net = torch.optim.SGD(net_parameters, lr=plan["lr_net"])
    optimizer_net.zero_grad()
    total, epochs, batches = 0.0, 0, 0
    for ol in range(plan["outer_loop"]):
        loss = torch.tensor(0.0)
        for c in range(classes):
            img_real = t[f"real.{ol}.{c}"]
            lab_real = torch.ones((img_real.shape[0],), dtype=torch.long) * c
            img_syn = image_syn[c * ipc:(c + 1) * ipc]
            lab_syn = torch.ones((ipc,), dtype=torch.long) * c
            if plan["dsa"]:
                ops = plan["steps"][ol][c]
                img_real = dm_mirror.augment(img_real, t, f"d{ol}.{c}", ops)
                img_syn = dm_mirror.augment(img_syn, t, f"d{ol}.{c}", ops)
            loss_real = criterion(net(img_real, w, depth), lab_real)
            gw_real = torch.autograd.grad(loss_real, net_parameters)
            gw_real = list((_.detach().clone() for _ in gw_real))
            loss_syn = criterion(net(img_syn, w, depth), lab_syn)
            gw_syn = torch.autograd.grad(loss_syn, net_parameters, create_graph=True)
            loss += match_loss(gw_syn, gw_real, count_bias)
        optimizer_img.zero_grad()
        loss.backward()
        optimizer_img.step()
        total += loss.item()
        if ol == plan["outer_loop"] - 1:
            break
        image_syn_train = image_syn.detach().clone()
        for il in range(plan["inner_loop"]):
            perm = t[f"perm.{epochs}"]
            epochs += 1
            batches = epoch_train(image_syn_train, label_syn, perm, w, net_parameters,
                                  optimizer_net, criterion, plan, t, batches)
    return image_syn.detach(), total, {n: w[n].detach() for n in names}


def main(folder):
    t = load_file(f"{folder}/inputs.safetensors")
    with open(f"{folder}/plan.json") as fh:
        plan = json.load(fh)
    syn, total, weights = iteration(t, plan, plan["momentum"], False)
    out = {"syn": syn, "loss": torch.tensor([total])}
    out.update({f"trained.{n}": v for n, v in weights.items()})
    out["syn.momentum_0.9"] = iteration(t, plan, 0.9, False)[0]
    out["syn.bias_counted"] = iteration(t, plan, plan["momentum"], True)[0]
    save_file({k: v.contiguous() for k, v in out.items()}, f"{folder}/outputs.safetensors")


if __name__ == "__main__":
    main(sys.argv[1])
