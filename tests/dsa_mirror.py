"""A PyTorch mirror of the official DSA transforms (DiffAugment / ParamDiffAug in
VICO-UoE/DatasetCondensation utils.py, the same in GeorgeCazenavette/mtt-distillation), driven by
explicit random values instead of its own draws, for tests/dsa.rs.

Usage: python dsa_mirror.py DIR
DIR/inputs.safetensors holds, per case NAME: NAME.x (float32 [B, C, H, W]) and the random values
the official code would draw, one per sample: NAME.u_sx, NAME.u_sy (rand_scale), NAME.u_rot
(rand_rotate), NAME.u_flip, NAME.u_b, NAME.u_s, NAME.u_c (flip, brightness, saturation, contrast;
float32 [B]), NAME.tx, NAME.ty (rand_crop), NAME.ox, NAME.oy (rand_cutout; int64 [B]).
Writes DIR/outputs.safetensors: NAME.OP (OP = scale, rotate with align_corners True, scale_ac0,
rotate_ac0 with False, flip, brightness, saturation, contrast, crop, cutout, and chain = all of
them in the order of aug_mode 'M' on 'color_crop_cutout_flip_scale_rotate'), each also as
NAME.OP.siamese: the official Siamese mode (seed != -1), which copies sample 0's draw to the
batch. DIR/defaults.json: the official ParamDiffAug defaults.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


class Param:
    """ParamDiffAug's defaults (mode 'S'; ratio_noise of some versions is unused)."""

    def __init__(self):
        self.aug_mode = "S"
        self.prob_flip = 0.5
        self.ratio_scale = 1.2
        self.ratio_rotate = 15.0
        self.ratio_crop_pad = 0.125
        self.ratio_cutout = 0.5
        self.brightness = 1.0
        self.saturation = 2.0
        self.contrast = 0.5
        self.siamese = False
        self.align_corners = True


def share(r, param):
    """Official Siamese mode: every sample takes sample 0's value."""
    if param.siamese:
        r = r.clone()
        r[:] = r[0]
    return r


def warp(x, theta, param):
    theta = share(torch.tensor(theta, dtype=torch.float), param)
    grid = F.affine_grid(theta, x.shape, align_corners=param.align_corners)
    return F.grid_sample(x, grid, align_corners=param.align_corners)


def scale(x, u_sx, u_sy, param):
    r = param.ratio_scale
    sx = u_sx * (r - 1.0 / r) + 1.0 / r
    sy = u_sy * (r - 1.0 / r) + 1.0 / r
    return warp(x, [[[sx[i], 0, 0], [0, sy[i], 0]] for i in range(x.shape[0])], param)


def rotate(x, u, param):
    a = (u - 0.5) * 2 * param.ratio_rotate / 180 * float(math.pi)
    rows = [[[torch.cos(a[i]), torch.sin(-a[i]), 0], [torch.sin(a[i]), torch.cos(a[i]), 0]]
            for i in range(x.shape[0])]
    return warp(x, rows, param)


def flip(x, u, param):
    u = share(u.view(-1, 1, 1, 1), param)
    return torch.where(u < param.prob_flip, x.flip(3), x)


def brightness(x, u, param):
    return x + (share(u.view(-1, 1, 1, 1), param) - 0.5) * param.brightness


def saturation(x, u, param):
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (share(u.view(-1, 1, 1, 1), param) * param.saturation) + m


def contrast(x, u, param):
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - m) * (share(u.view(-1, 1, 1, 1), param) + param.contrast) + m


def crop(x, tx, ty, param):
    tx, ty = share(tx.view(-1, 1, 1), param), share(ty.view(-1, 1, 1), param)
    b, _, h, w = x.shape
    ib, ih, iw = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing="ij")
    ih = torch.clamp(ih + tx + 1, 0, h + 1)
    iw = torch.clamp(iw + ty + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0]).permute(0, 2, 3, 1).contiguous()
    return padded[ib, ih, iw].permute(0, 3, 1, 2)


def cutout(x, ox, oy, param):
    b, _, h, w = x.shape
    ch, cw = int(h * param.ratio_cutout + 0.5), int(w * param.ratio_cutout + 0.5)
    ox, oy = share(ox.view(-1, 1, 1), param), share(oy.view(-1, 1, 1), param)
    ib, ih, iw = torch.meshgrid(torch.arange(b), torch.arange(ch), torch.arange(cw), indexing="ij")
    ih = torch.clamp(ih + ox - ch // 2, min=0, max=h - 1)
    iw = torch.clamp(iw + oy - cw // 2, min=0, max=w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype)
    mask[ib, ih, iw] = 0
    return x * mask.unsqueeze(1)


def ops(t, name):
    """The transforms of a case, by name, each a function of (x, param)."""
    g = lambda k: t[f"{name}.{k}"]
    return {
        "brightness": lambda x, p: brightness(x, g("u_b"), p),
        "saturation": lambda x, p: saturation(x, g("u_s"), p),
        "contrast": lambda x, p: contrast(x, g("u_c"), p),
        "crop": lambda x, p: crop(x, g("tx"), g("ty"), p),
        "cutout": lambda x, p: cutout(x, g("ox"), g("oy"), p),
        "flip": lambda x, p: flip(x, g("u_flip"), p),
        "scale": lambda x, p: scale(x, g("u_sx"), g("u_sy"), p),
        "rotate": lambda x, p: rotate(x, g("u_rot"), p),
    }


def main(d):
    t = load_file(f"{d}/inputs.safetensors")
    out = {}
    for name in sorted({k.split(".")[0] for k in t}):
        x, fns = t[f"{name}.x"], ops(t, name)
        for siamese in (False, True):
            p = Param()
            p.siamese = siamese
            sfx = ".siamese" if siamese else ""
            for op, f in fns.items():
                out[f"{name}.{op}{sfx}"] = f(x, p)
            y = x
            for f in fns.values():  # dict order is the 'M' order of the default strategy
                y = f(y, p)
            out[f"{name}.chain{sfx}"] = y
            p.align_corners = False
            for op in ("scale", "rotate"):
                out[f"{name}.{op}_ac0{sfx}"] = fns[op](x, p)
    save_file({k: v.contiguous() for k, v in out.items()}, f"{d}/outputs.safetensors")
    defaults = {k: v for k, v in Param().__dict__.items() if k not in ("siamese", "align_corners")}
    json.dump(defaults, open(f"{d}/defaults.json", "w"))


if __name__ == "__main__":
    main(sys.argv[1])
