"""Re-checks a ddbench student in PyTorch (python/ddbench_student.py) for tests/external.rs.

Usage: python recheck_student.py STUDENT_JSON ADVERSARIAL DATA_DIR EPS OUT
Loads the student, takes the attacked test images named by ADVERSARIAL's `indices` (a
`--save-adversarial` file) from the IDX test split in DATA_DIR, and writes OUT (safetensors):
`logits` of the student on them, and `robust` (one value, %): torchattacks FGSM at EPS, counted
as ddbench counts robust accuracy (clean and adversarial prediction both right).
"""
import sys

import numpy as np
import torch
import torchattacks
from safetensors.torch import load_file, save_file

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/python")
from ddbench_student import load  # noqa: E402


def main(card, adversarial, data_dir, eps, out):
    torch.set_num_threads(2)
    model = load(card).eval()
    adv = load_file(adversarial)
    with open(f"{data_dir}/t10k-images-idx3-ubyte", "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    images = np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 1, 28, 28)
    idx = adv["indices"].numpy()
    x = torch.from_numpy(images[idx].copy()).float() / 255
    y = adv["labels"]
    with torch.no_grad():
        logits = model(x)
    x_adv = torchattacks.FGSM(model, eps=float(eps))(x, y)
    with torch.no_grad():
        both = (model(x_adv).argmax(1) == y) & (logits.argmax(1) == y)
    save_file({"logits": logits, "robust": torch.tensor([100.0 * both.float().mean().item()])}, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
