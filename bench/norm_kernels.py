"""Instance norm on two kernels, alone: `group_norm` with one group per channel (the DD code's
`GroupNorm(C, C)`, what ddbench's ConvNet runs since 2026-12-02) against `instance_norm` (the
batch-norm kernels ddbench ran before), forward + backward and GUARD's double backward, at
ConvNet-3's shapes (128 channels at 32×32, 16×16, 8×8). Prints one JSON line per shape and pass,
with the time ratio instance_norm / group_norm (> 1: group_norm faster). `--device cuda` answers
whether the switch pays against cuDNN's batch-norm kernels on a GPU as it does on a CPU.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F


def norm(kind, x, w, b):
    if kind == "group_norm":
        return F.group_norm(x, x.shape[1], w, b, 1e-5)
    return F.instance_norm(x, weight=w, bias=b, eps=1e-5)


def one_call(kind, x, w, b, double):
    """Forward + backward (and, `double`, the backward of the input gradient's norm)."""
    x = x.detach().requires_grad_(True)
    y = norm(kind, x, w, b)
    loss = (y * y).sum()
    if not double:
        loss.backward()
        return
    g, = torch.autograd.grad(loss, x, create_graph=True)
    (g * g).sum().backward()


def seconds(fn, iters, dev):
    for _ in range(3):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, nargs="+", default=[32, 100])
    p.add_argument("--iters", type=int, default=20)
    args = p.parse_args()
    dev = torch.device(args.device)
    w = torch.rand(128, device=dev, requires_grad=True)
    b = torch.rand(128, device=dev, requires_grad=True)
    for batch in args.batch:
        for side in [32, 16, 8]:
            x = torch.randn(batch, 128, side, side, device=dev)
            for double in [False, True]:
                t = {k: seconds(lambda: one_call(k, x, w, b, double), args.iters, dev)
                     for k in ["instance_norm", "group_norm"]}
                print(json.dumps({"device": str(dev), "batch": batch, "shape": [128, side, side],
                                  "pass": "double backward" if double else "forward + backward",
                                  "instance_norm_ms": round(t["instance_norm"] * 1e3, 3),
                                  "group_norm_ms": round(t["group_norm"] * 1e3, 3),
                                  "speed_up": round(t["instance_norm"] / t["group_norm"], 2),
                                  "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
