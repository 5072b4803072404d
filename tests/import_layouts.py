"""Writes one distilled set in every layout `import` reads, as the official tools write them, for
tests/import.rs.

Usage: python import_layouts.py DATA_DIR OUT_DIR IPC
The set: the first IPC training images of each class of the IDX files in DATA_DIR (as
tests/support.rs write_tiny_idx writes them: uncompressed, 28x28 grey), classes in order.
Writes in OUT_DIR:
  ref.safetensors   images float32 in [0, 1] (uint8 / 255), labels int64    (the reference)
  res_DM.pt         DC/DSA/DM's dict {'data': [[images, labels], ...], 'accs_all_exps': {...}}
                    with images normalised (x - mean) / std, Fashion-MNIST's mean/std as
                    DatasetCondensation utils.py: 0.2861, 0.3530; entry 1 is entry 0 times 2
  mtt/              MTT's images_best.pt (ZCA-whitened: kornia's formula, eps 0.1, fitted in
                    float64 on all training images / 255) and labels_best.pt (int64)
  mtt_nolabels/     images_best.pt alone ([0, 1]): labels in class order, as MTT makes them
  datm/             DATM's images_best.pt ([0, 1]) and labels_best.pt (learned logits [N, 10])
  set.npz           images uint8, labels int64
  folder/new000 …   SRe2L's class folders of PNG files
  bad_*             malformed files: see tests/import.rs
"""
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

MEAN, STD = 0.2861, 0.3530


def read_idx(data_dir):
    with open(os.path.join(data_dir, "train-images-idx3-ubyte"), "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    with open(os.path.join(data_dir, "train-labels-idx1-ubyte"), "rb") as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8).astype(np.int64)
    return images, labels


def zca_whiten(fit, x, eps=0.1):
    flat = fit.reshape(fit.shape[0], -1).double()
    mean = flat.mean(0, keepdim=True)
    centred = flat - mean
    cov = centred.t().mm(centred) / float(flat.shape[0] - 1)
    u, s, _ = torch.linalg.svd(cov)
    transform = u.mm(torch.rsqrt(s.reshape(-1, 1) + eps) * u.t())
    return ((x.reshape(x.shape[0], -1).double() - mean).mm(transform)).reshape(x.shape).float()


def main():
    data_dir, out, ipc = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(2)
    all_images, all_labels = read_idx(data_dir)
    idx = [i for c in range(10) for i in np.flatnonzero(all_labels == c)[:ipc]]
    u8 = torch.from_numpy(all_images[idx].copy())
    y = torch.from_numpy(all_labels[idx].copy())
    x = u8.float() / 255
    save_file({"images": x, "labels": y}, f"{out}/ref.safetensors")
    norm = (x - MEAN) / STD
    torch.save({"data": [[norm.clone(), y.clone()], [norm * 2, y.clone()]],
                "accs_all_exps": {"ConvNet": [0.5, 0.6]}}, f"{out}/res_DM.pt")
    os.makedirs(f"{out}/mtt")
    whitened = zca_whiten(torch.from_numpy(all_images.copy()).float() / 255, x)
    torch.save(whitened.clone().requires_grad_(True), f"{out}/mtt/images_best.pt")
    torch.save(y.clone(), f"{out}/mtt/labels_best.pt")
    os.makedirs(f"{out}/mtt_nolabels")
    torch.save(x.clone(), f"{out}/mtt_nolabels/images_best.pt")
    os.makedirs(f"{out}/datm")
    logits = torch.nn.functional.one_hot(y, 10).float() * 4 - 1
    torch.save(x.clone(), f"{out}/datm/images_best.pt")
    torch.save(logits.clone().requires_grad_(True), f"{out}/datm/labels_best.pt")
    np.savez(f"{out}/set.npz", images=u8.numpy(), labels=y.numpy())
    for k, (img, c) in enumerate(zip(u8, y)):
        d = f"{out}/folder/new{int(c):03d}"
        os.makedirs(d, exist_ok=True)
        Image.fromarray(img[0].numpy(), mode="L").save(f"{d}/{k:05d}.png")
    # malformed: labels for 7 classes, 3-channel images, a label out of range, a NaN pixel
    save_file({"images": x, "labels": torch.rand(x.shape[0], 7)}, f"{out}/bad_classes.safetensors")
    save_file({"images": x.repeat(1, 3, 1, 1), "labels": y}, f"{out}/bad_shape.safetensors")
    y12 = y.clone()
    y12[0] = 12
    save_file({"images": x, "labels": y12}, f"{out}/bad_label.safetensors")
    xn = x.clone()
    xn[3, 0, 5, 5] = float("nan")
    save_file({"images": xn, "labels": y}, f"{out}/bad_nan.safetensors")


if __name__ == "__main__":
    main()
