#!/usr/bin/env bash
# Copies what scripts/gpu-check.sh needs into .dev/gpu (git-ignored): stripped release binary and
# plugins, Fashion-MNIST, the CIFAR-10 JPEG archive and the PyTorch reference script.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.dev/gpu
rm -rf "$D" && mkdir -p "$D/fmnist"
cp target/release/ddbench target/release/libddbench_*.so "$D/"
strip "$D/ddbench" "$D"/*.so
# Fashion-MNIST (30 MB) only when asked: the carried folder must stay under 64 MiB
[ "${FMNIST:-1}" = 1 ] && cp /usr/share/datasets/fashion-mnist/*.gz "$D/fmnist/"
cp ../shared/data/cifar10-jpeg.tar.gz "$D/"
cp bench/pytorch_reference.py "$D/"
du -sh "$D"
