"""kornia's ZCA whitening with plain torch, the reference of tests/zca.rs (kornia itself is not
a dependency).

Usage: python zca_reference.py DIR EPS
DIR/inputs.safetensors holds "probe" (images to whiten, float32 [B, ...]) and one or more fitting
sets "fit_TAG" (float32 [N, ...]). Writes DIR/reference.safetensors with, for each TAG and each
precision P in {"f32", "f64"}: "TAG_mean_P" [D], "TAG_transform_P" [D, D] and "TAG_applied_P"
(probe whitened, probe's shape), all float32. "f32" is exactly what kornia computes on float32
input (MTT's case: every step in float32); "f64" is the same formula with the input cast to
float64 first. (One process for all sets: importing torch takes seconds.)

The formula, copied step by step from kornia/enhance/zca.py (`zca_mean` with dim=0,
unbiased=True — ZCAWhitening's constructor default, which MTT's
`ZCAWhitening(eps=0.1, compute_inv=True)` keeps — and `linear_transform`):
    mean = X.mean(0, keepdim=True)                    # X: [N, D], flattened samples
    cov  = (X - mean).T @ (X - mean) / (N - 1)         # unbiased
    U, S, _ = torch.linalg.svd(cov)
    T    = U @ (rsqrt(S + eps)[:, None] * U.T)         # eps added to the eigenvalues
    y    = (x_flat - mean) @ T
"""
import sys

import torch
from safetensors.torch import load_file, save_file


def zca_mean(x, eps):
    n = x.shape[0]
    flat = x.reshape(n, -1)
    mean = torch.mean(flat, dim=0, keepdim=True)
    centred = flat - mean
    cov = centred.t().mm(centred) / float(n - 1)
    u, s, _ = torch.linalg.svd(cov)
    s = s.reshape(-1, 1)
    transform = u.mm(torch.rsqrt(s + eps) * u.t())
    return transform, mean


def linear_transform(x, transform, mean):
    flat = x.reshape(x.shape[0], -1)
    return (flat - mean).mm(transform).reshape(x.shape)


def main():
    out_dir, eps = sys.argv[1], float(sys.argv[2])
    torch.set_num_threads(2)
    inputs = load_file(f"{out_dir}/inputs.safetensors")
    result = {}
    tags = [k[len("fit_"):] for k in inputs if k.startswith("fit_")]
    for tag in tags:
        for name, kind in (("f32", torch.float32), ("f64", torch.float64)):
            fit, probe = inputs[f"fit_{tag}"].to(kind), inputs["probe"].to(kind)
            transform, mean = zca_mean(fit, eps)
            out = linear_transform(probe, transform, mean)
            result[f"{tag}_mean_{name}"] = mean.reshape(-1).float().contiguous()
            result[f"{tag}_transform_{name}"] = transform.float().contiguous()
            result[f"{tag}_applied_{name}"] = out.float().contiguous()
    save_file(result, f"{out_dir}/reference.safetensors")


if __name__ == "__main__":
    main()
