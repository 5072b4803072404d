"""Kernel choices for ConvNet-3 on a CPU, measured in PyTorch (the README's Speed section).

Times, interleaved `--rounds` times, the reference's ConvNet-3 (`pytorch_reference.convnet3`:
GroupNorm(C, C), the DD code's instance norm) as a train step (batch 32, crop + flip, SGD),
PGD-10 (batch 32) and a DD student's step (100 images), each in three settings: contiguous with
oneDNN convolutions (PyTorch's default), channels-last, and libtorch's own (non-oneDNN)
convolutions. Prints one JSON line per figure and the ratio to the default. Run it as the
`ddbench` binary runs (`MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`) to compare kernels
and not the allocator.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

import pytorch_reference as ref

SETTINGS = ["contiguous", "channels-last", "no-onednn"]


def workload(setting, what):
    """The step of `what` under `setting`, and the images one call processes."""
    torch.backends.mkldnn.enabled = setting != "no-onednn"
    fmt = torch.channels_last if setting == "channels-last" else torch.contiguous_format
    b = 100 if what == "student_step" else 32
    net = ref.convnet3().to(memory_format=fmt)
    x = torch.rand(b, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(10, (b,))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        xa = ref.crop_flip(x).contiguous(memory_format=fmt)
        F.cross_entropy(net(xa), y).backward()
        opt.step()

    def pgd():
        adv = x.clone()
        for _ in range(10):
            a = adv.detach().requires_grad_(True)
            g, = torch.autograd.grad(F.cross_entropy(net(a), y, reduction="sum"), a)
            adv = torch.min(torch.max(adv + ref.ALPHA * g.sign(), x - ref.EPS), x + ref.EPS).clamp(0, 1)

    return (pgd if what == "pgd10" else step), b


def images_per_second(fn, images, iters):
    for _ in range(2):
        fn()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return images * iters / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--iters", type=int, default=20, help="timed calls per figure (PGD-10: a fifth)")
    args = p.parse_args()
    torch.manual_seed(0)
    for rnd in range(1, args.rounds + 1):
        for what in ["train_step", "pgd10", "student_step"]:
            iters = max(1, args.iters // 5) if what == "pgd10" else args.iters
            speed = {s: images_per_second(*workload(s, what), iters) for s in SETTINGS}
            for s in SETTINGS:
                print(json.dumps({"figure": f"convnet3.{what}", "setting": s, "round": rnd,
                                  "value": round(speed[s], 2),
                                  "ratio_to_contiguous": round(speed[s] / speed["contiguous"], 3),
                                  "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
