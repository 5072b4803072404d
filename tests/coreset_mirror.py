"""A NumPy mirror of ddbench's coreset selections (plugins/shared/coreset/src/select.rs), for
tests/coreset.rs: herding (Welling 2009 / iCaRL's exemplar selection) and greedy k-center
started at the row nearest the mean, written from the papers' definitions, loop for loop.

Usage: python coreset_mirror.py DIR
DIR/features.safetensors holds feature matrices NAME ([n, d], float32 or float64);
DIR/cases.json maps each NAME to the list of k to pick. Writes DIR/picks.json:
{NAME: {"herding": {k: [indices]}, "kcenter": {k: [indices]}}}.
Ties go to the lowest index (np.argmin / np.argmax return the first), as torch's.
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def herding(f, k):
    """Step t = 1..k: the unpicked row i minimising ||mu - (s + f_i) / t||^2, s the picked sum."""
    n = f.shape[0]
    mu = f.mean(axis=0, keepdims=True)
    s = np.zeros_like(mu)
    taken = np.zeros(n, dtype=bool)
    picks = []
    for t in range(1, k + 1):
        dist = (((s + f) / f.dtype.type(t) - mu) ** 2).sum(axis=1)
        dist[taken] = np.inf
        i = int(np.argmin(dist))
        s = s + f[i : i + 1]
        taken[i] = True
        picks.append(i)
    return picks


def kcenter(f, k):
    """First centre: the row nearest the mean; then the unpicked row farthest from its nearest
    centre (squared Euclidean distances: the same order)."""
    if k == 0:
        return []
    n = f.shape[0]
    mu = f.mean(axis=0, keepdims=True)
    first = int(np.argmin(((f - mu) ** 2).sum(axis=1)))
    nearest = ((f - f[first : first + 1]) ** 2).sum(axis=1)
    taken = np.zeros(n, dtype=bool)
    taken[first] = True
    picks = [first]
    for _ in range(1, k):
        masked = np.where(taken, -1.0, nearest)
        i = int(np.argmax(masked))
        nearest = np.minimum(nearest, ((f - f[i : i + 1]) ** 2).sum(axis=1))
        taken[i] = True
        picks.append(i)
    return picks


def main(folder):
    features = load_file(f"{folder}/features.safetensors")
    with open(f"{folder}/cases.json") as fh:
        cases = json.load(fh)
    picks = {}
    for name, ks in cases.items():
        f = features[name]
        picks[name] = {
            "herding": {str(k): herding(f, k) for k in ks},
            "kcenter": {str(k): kcenter(f, k) for k in ks},
        }
    with open(f"{folder}/picks.json", "w") as fh:
        json.dump(picks, fh)


if __name__ == "__main__":
    main(sys.argv[1])
