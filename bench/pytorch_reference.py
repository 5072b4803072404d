"""ddbench's PyTorch reference: the hot loops of `ddbench speed` (harness/src/speed/workloads.rs)
written the way a user would write them in eager PyTorch, with the same models, batch, loss,
optimiser and augmentation, printed as JSON lines with the same figure names. `ddbench speed
--compare` runs it in the same call and prints the ratios.

Usage: python bench/pytorch_reference.py [--device cpu|cuda] [--batch N] [--iters N]
                                         [--only TEXT] [--compile] [--bf16] [--fused]
                                         [--shared-pass] [--malloc-tuned]
                                         [--e2e [--e2e-scale S]]
Figures (img/s), per architecture `resnet18` (CIFAR stem) and `convnet3` (width 128, instance
norm), 3x32x32 inputs, 10 classes, the model normalising its input ((x - 0.5) / 0.25) as
ddbench's do:
  train_step             one SGD step (lr 0.01, momentum 0.9, weight decay 5e-4) on a random
                         crop (pad 4) + flip of the batch
  guard_cifar_step       one teacher step (SGD lr 0.1) with GUARD's CIFAR regularizer:
                         lambda * mean ||grad_x^[CE(x^+z) - CE(x^)]||, z = h g^/||g^||, double backprop
  guard_simplified_step  the same with beta * |CE(x^+z) - CE(x^)| (single backprop)
  pgd10_at_step          Madry adversarial training: PGD-10 (8/255, 2/255, eval mode), then a step
  pgd10_linf             PGD-10 at 8/255 (eval mode), hand-written; torchattacks_pgd10_linf: torchattacks'
  square100              torchattacks' Square at 8/255, 100 queries
  convnet3.student_ipc10 a fresh ConvNet-3 trained 30 epochs on 100 images (batch 256)
  convnet3.students5_ipc10  five such students (five sets), trained one after another
--compile adds *_compiled figures (torch.compile, CUDA only), --bf16 *_bf16 (autocast), --fused
*_fused (train_step and student_ipc10 with torch.optim.SGD(fused=True); eager figures use
PyTorch's default, which is foreach=True on CUDA and a per-parameter loop on the CPU),
--shared-pass *_shared (the GUARD steps with one clean forward serving both g^ and the curvature
term, as ddbench's lever shared-pass; the plain figures follow the official code's two passes).
--malloc-tuned tunes glibc malloc as the ddbench binary does at start-up (no mmap for large
blocks, no trimming: a step's activations reuse heap memory instead of paying page faults) and
labels every figure "+malloc-tuned"; without it the reference runs as a user's script does.
--e2e [--e2e-scale S] runs the end-to-end workloads instead (e2e.dd_cell, e2e.guard_cifar_epoch,
e2e.guard_simplified_epoch, e2e.pgd_at_epoch, e2e.autoattack_standard), each once.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

H, LAMBDA, BETA = 3.0, 100.0, 1e-4   # GUARD's CIFAR defaults (ddbench_sre2l::Sre2lConfig)
EPS, ALPHA = 8 / 255, 2 / 255


class Normalize(nn.Module):
    def forward(self, x):
        return (x - 0.5) / 0.25


class Block(nn.Module):
    def __init__(self, i, o, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o)
        self.c2, self.b2 = nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o)
        self.short = nn.Sequential()
        if stride != 1 or i != o:
            self.short = nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))

    def forward(self, x):
        return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.short(x))


def resnet18():
    layers, c = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()], 64
    for o, s in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        layers.append(Block(c, o, s))
        c = o
    return nn.Sequential(Normalize(), *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


def convnet3(width=128):
    layers, c = [Normalize()], 3
    for _ in range(3):
        layers += [nn.Conv2d(c, width, 3, padding=1), nn.GroupNorm(width, width, affine=True),
                   nn.ReLU(), nn.AvgPool2d(2)]
        c = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 16, 10))


def crop_flip(x, pad=4):
    """Per-image random crop of the zero-padded batch and random horizontal flip."""
    b, _, h, w = x.shape
    p = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b, 1), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None] + dy
    cols = torch.arange(w, device=x.device)[None].expand(b, w)
    flip = torch.rand(b, 1, device=x.device) < 0.5
    cols = torch.where(flip, w - 1 - cols, cols) + dx
    bi = torch.arange(b, device=x.device)[:, None, None]
    return p.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def sgd(net, lr, fused=None):
    return torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4, fused=fused)


def step(net, opt, loss):
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def train_step(net, opt, x, y):
    net.train()
    step(net, opt, F.cross_entropy(net(crop_flip(x)), y))


def input_grad(net, x, y):
    x = x.detach().requires_grad_()
    return torch.autograd.grad(F.cross_entropy(net(x), y, reduction="sum"), x)[0]


def guard_z(g_hat, sigma):
    """GUARD's step in pixels: length H along g^ (the gradient w.r.t. the normalised input)."""
    return (H * g_hat / g_hat.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1) * sigma).detach()


def guard_step(net, opt, x, y, simplified):
    """One GUARD teacher step in pixel space (sigma converts between pixels and normalised)."""
    x = crop_flip(x)
    sigma = 0.25
    net.eval()
    z = guard_z(input_grad(net, x, y) * sigma, sigma)
    x1 = x.detach().requires_grad_()
    b = x.shape[0]
    diff = (F.cross_entropy(net(x1 + z), y, reduction="sum") - F.cross_entropy(net(x1), y, reduction="sum")) / b
    if simplified:
        reg = BETA * diff.abs()
    else:
        d = torch.autograd.grad(diff, x1, create_graph=True)[0] * sigma
        reg = LAMBDA * d.flatten(1).norm(dim=1).mean()
    net.train()
    step(net, opt, F.cross_entropy(net(x), y) + reg)


def guard_step_shared(net, opt, x, y, simplified):
    """guard_step with one clean pass: the forward at x and its input gradient (differentiable
    for the double-backprop form) give both g^ and the term's clean half."""
    x = crop_flip(x)
    sigma = 0.25
    net.eval()
    x1 = x.detach().requires_grad_()
    b = x.shape[0]
    clean = F.cross_entropy(net(x1), y, reduction="sum")
    g1 = torch.autograd.grad(clean, x1, retain_graph=True, create_graph=not simplified)[0]
    z = guard_z(g1.detach() * sigma, sigma)
    moved = F.cross_entropy(net(x1 + z), y, reduction="sum")
    if simplified:
        reg = BETA * ((moved - clean) / b).abs()
    else:
        g2 = torch.autograd.grad(moved, x1, create_graph=True)[0]
        reg = LAMBDA * ((g2 - g1) / b * sigma).flatten(1).norm(dim=1).mean()
    net.train()
    step(net, opt, F.cross_entropy(net(x), y) + reg)


def pgd(net, x, y, steps=10):
    adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        g = input_grad(net, adv, y)
        adv = torch.min(torch.max(adv.detach() + ALPHA * g.sign(), x - EPS), x + EPS).clamp(0, 1)
    return adv


def pgd_at_step(net, opt, x, y):
    x = crop_flip(x)
    net.eval()
    adv = pgd(net, x, y)
    net.train()
    step(net, opt, F.cross_entropy(net(adv), y))


def timeit(fn, iters, warm=2):
    for _ in range(warm):
        fn()
    sync()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return (time.perf_counter() - t) / iters


def sync():
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def emit(name, images, seconds, levers="eager", dtype="float32"):
    if not wanted(name):
        return
    dev = torch.cuda.get_device_name() if DEV.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    if ARGS.malloc_tuned:
        levers = "malloc-tuned" if levers == "eager" else f"{levers}+malloc-tuned"
    print(json.dumps({"figure": name, "value": round(images / seconds, 2), "impl": "pytorch",
                      "device": dev, "batch": ARGS.batch, "dtype": dtype, "levers": levers,
                      "torch": torch.__version__}), flush=True)


def wanted(name):
    """Whether `name` contains one of --only's comma-separated texts (every name without it)."""
    return not ARGS.only or any(part in name for part in ARGS.only.split(","))


def arch_figures(name, make, x, y):
    it, heavy = ARGS.iters, max(1, ARGS.iters // 2)
    b = x.shape[0]
    net = make().to(DEV)
    cases = [
        ("train_step", lambda o: train_step(net, o, x, y), 0.01, it),
        ("guard_cifar_step", lambda o: guard_step(net, o, x, y, False), 0.1, it),
        ("guard_simplified_step", lambda o: guard_step(net, o, x, y, True), 0.1, it),
        ("pgd10_at_step", lambda o: pgd_at_step(net, o, x, y), 0.1, heavy),
    ]
    for what, fn, lr, n in cases:
        if wanted(f"{name}.{what}"):
            opt = sgd(net, lr)
            emit(f"{name}.{what}", b, timeit(lambda: fn(opt), n))
    net.eval()
    if wanted(f"{name}.pgd10_linf"):
        emit(f"{name}.pgd10_linf", b, timeit(lambda: pgd(net, x, y), heavy))
    try:
        import torchattacks
    except ImportError:
        torchattacks = None
    if torchattacks and wanted(f"{name}.torchattacks_pgd10_linf"):
        atk = torchattacks.PGD(net, eps=EPS, alpha=ALPHA, steps=10, random_start=True)
        emit(f"{name}.torchattacks_pgd10_linf", b, timeit(lambda: atk(x, y), heavy), "torchattacks")
    if torchattacks and wanted(f"{name}.square100"):
        atk = torchattacks.Square(net, eps=EPS, n_queries=100)
        emit(f"{name}.square100", b, timeit(lambda: atk(x, y), heavy), "torchattacks")
    if DEV.type == "cuda" and ARGS.compile:
        cnet = torch.compile(net)
        opt = sgd(cnet, 0.01)
        emit(f"{name}.train_step_compiled", b, timeit(lambda: train_step(cnet, opt, x, y), it, 5), "compiled")
    if ARGS.bf16:
        opt = sgd(net, 0.01)
        with torch.autocast(DEV.type, dtype=torch.bfloat16):
            emit(f"{name}.train_step_bf16", b, timeit(lambda: train_step(net, opt, x, y), it), "bf16", "bfloat16")
    for form, simplified in [("cifar", False), ("simplified", True)]:
        fig = f"{name}.guard_{form}_step_shared"
        if ARGS.shared_pass and wanted(fig):
            opt = sgd(net, 0.1)
            emit(fig, b, timeit(lambda: guard_step_shared(net, opt, x, y, simplified), it), "shared-pass")
    if ARGS.fused and wanted(f"{name}.train_step_fused"):
        opt = sgd(net, 0.01, fused=True)
        emit(f"{name}.train_step_fused", b, timeit(lambda: train_step(net, opt, x, y), it), "fused")


def student():
    x = torch.rand(100, 3, 32, 32, device=DEV)
    y = torch.arange(100, device=DEV) // 10

    def train_one(xs, ys, fused=None):
        net = convnet3().to(DEV)
        opt = sgd(net, 0.01, fused)
        for _ in range(30):
            perm = torch.randperm(100, device=DEV)
            train_step(net, opt, xs[perm], ys[perm])

    def train():
        train_one(x, y)

    if wanted("convnet3.student_ipc10"):
        emit("convnet3.student_ipc10", 100 * 30, timeit(train, max(1, ARGS.iters // 2), 1))
    if ARGS.fused and wanted("convnet3.student_ipc10_fused"):
        emit("convnet3.student_ipc10_fused", 100 * 30,
             timeit(lambda: train_one(x, y, True), max(1, ARGS.iters // 2), 1), "fused")

    # the five seeds of a DD cell, each its own set, as a PyTorch script trains them: in turn
    sets = [(torch.rand(100, 3, 32, 32, device=DEV), y) for _ in range(5)]

    def train5():
        for xs, ys in sets:
            train_one(xs, ys)

    if wanted("convnet3.students5_ipc10"):
        emit("convnet3.students5_ipc10", 5 * 100 * 30, timeit(train5, max(1, ARGS.iters // 4), 1))


def e2e():
    """The end-to-end workloads of `ddbench speed --e2e` (harness/src/speed/end_to_end.rs), each
    timed once, counting the same images: the DD cell's five students trained one after another."""
    sc = ARGS.e2e_scale
    n = lambda full: max(1, round(full * sc))
    epochs, n_eval, n_att, n_teacher, n_aa = n(300), n(10_000), n(1_000), n(50_000), n(1_000)
    n_att = min(n_att, n_eval)
    b = ARGS.batch
    rand = lambda k: torch.rand(k, 3, 32, 32, device=DEV)
    label = lambda k: torch.randint(0, 10, (k,), device=DEV)
    once = lambda f: timeit(f, 1, 0)

    sets = [(rand(100), torch.arange(100, device=DEV) // 10) for _ in range(5)]
    xe, ye = rand(n_eval), label(n_eval)

    def dd_cell():
        for xs, ys in sets:
            net = convnet3().to(DEV)
            opt = sgd(net, 0.01)
            for e in range(epochs):
                if e == epochs // 2:
                    for g in opt.param_groups:
                        g["lr"] = 0.001
                perm = torch.randperm(100, device=DEV)
                train_step(net, opt, xs[perm], ys[perm])
            net.eval()
            with torch.no_grad():
                for i in range(0, n_eval, 500):
                    net(xe[i:i + 500]).argmax(1)
            for i in range(0, n_att, max(b, 500)):
                pgd(net, xe[i:min(i + max(b, 500), n_att)], ye[i:min(i + max(b, 500), n_att)])

    if wanted("e2e.dd_cell"):
        emit("e2e.dd_cell", 5 * (100 * epochs + n_eval + 11 * n_att), once(dd_cell))

    xt, yt = rand(n_teacher), label(n_teacher)

    def teacher_epoch(fn, lr):
        def run():
            net = resnet18().to(DEV)
            opt = sgd(net, lr)
            perm = torch.randperm(n_teacher, device=DEV)
            for i in range(0, n_teacher, b):
                idx = perm[i:i + b]
                fn(net, opt, xt[idx], yt[idx])
        return run

    for name, fn, per in [
        ("e2e.guard_cifar_epoch", lambda net, o, x, y: guard_step(net, o, x, y, False), 1),
        ("e2e.guard_simplified_epoch", lambda net, o, x, y: guard_step(net, o, x, y, True), 1),
        ("e2e.pgd_at_epoch", pgd_at_step, 11),
    ]:
        if wanted(name):
            emit(name, n_teacher * per, once(teacher_epoch(fn, 0.1)))

    if wanted("e2e.autoattack_standard"):
        import torchattacks
        net = convnet3().to(DEV).eval()
        xa = rand(n_aa)
        with torch.no_grad():
            ya = torch.cat([net(xa[i:i + 500]).argmax(1) for i in range(0, n_aa, 500)])
        # the original AutoAttack "standard" (100 APGD/FAB iterations, as ddbench's): torchattacks'
        # own version="standard" runs its components' defaults, 10 iterations
        ta = torchattacks
        atk = ta.MultiAttack([
            ta.APGD(net, eps=EPS, norm="Linf", loss="ce", steps=100, n_restarts=1, seed=0),
            ta.APGDT(net, eps=EPS, norm="Linf", steps=100, n_classes=10, n_restarts=1, seed=0),
            ta.FAB(net, eps=EPS, norm="Linf", steps=100, multi_targeted=True, n_classes=10,
                   n_restarts=1, seed=0),
            ta.Square(net, eps=EPS, norm="Linf", n_queries=5000, n_restarts=1, seed=0),
        ])

        def aa():
            for i in range(0, n_aa, max(b, 500)):
                atk(xa[i:i + max(b, 500)], ya[i:i + max(b, 500)])

        emit("e2e.autoattack_standard", n_aa, once(aa), "torchattacks")


def tune_malloc():
    """ddbench's start-up tuning (harness/src/alloc.rs): M_MMAP_MAX 0, M_TRIM_THRESHOLD INT_MAX."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    if not (libc.mallopt(-4, 0) and libc.mallopt(-1, 2**31 - 1)):
        raise SystemExit("--malloc-tuned: glibc mallopt refused")


def main():
    if ARGS.e2e:
        e2e()
        return
    x = torch.rand(ARGS.batch, 3, 32, 32, device=DEV)
    y = torch.randint(0, 10, (ARGS.batch,), device=DEV)
    for name, make in [("resnet18", resnet18), ("convnet3", convnet3)]:
        arch_figures(name, make, x, y)
    student()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--only", default=None)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--fused", action="store_true")
    p.add_argument("--shared-pass", action="store_true")
    p.add_argument("--e2e", action="store_true")
    p.add_argument("--e2e-scale", type=float, default=1.0)
    p.add_argument("--malloc-tuned", action="store_true")
    ARGS = p.parse_args()
    if ARGS.malloc_tuned:
        tune_malloc()
    DEV = torch.device(ARGS.device)
    ARGS.batch = ARGS.batch or (256 if DEV.type == "cuda" else 32)
    torch.backends.cudnn.benchmark = True
    main()
