#!/usr/bin/env bash
# GPU check of the spine (issue 2), run on a CUDA machine that has python3 with torch 2.11.0 but
# no Rust: the release binaries and data were copied into BUNDLE beforehand
# (scripts/gpu-bundle.sh). Writes logs and results under OUT.
set -uo pipefail
BUNDLE=${BUNDLE:-.dev/gpu}
OUT=${OUT:-/tmp/ddbench-gpu}
mkdir -p "$OUT"
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
B="$BUNDLE/ddbench"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c 'import torch; print("python torch", torch.__version__)' | tee -a "$OUT/gpu.txt"
mkdir -p /tmp/fmnist /tmp/cifar10-jpeg && cp "$BUNDLE"/fmnist/* /tmp/fmnist/ && tar xzf "$BUNDLE/cifar10-jpeg.tar.gz" -C /tmp/cifar10-jpeg
C10=/tmp/cifar10-jpeg
"$B" plugins 2>&1 | tee "$OUT/plugins.txt"

# 1. the demo, unchanged, on CUDA
( time DEMO_OUT="$OUT/demo" bash scripts/demo.sh "$B" --data-dir /tmp/fmnist --device cuda ) > "$OUT/demo.txt" 2>&1
tail -n 20 "$OUT/demo.txt"

# 2. CIFAR-10 (JPEG copy), ConvNet-3 width 128, DD protocol (300 epochs); full for FULL_EPOCHS
( time "$B" run --dataset imagefolder --data-dir "$C10" --device cuda \
    --method random,full --ipc 10,50 --seeds 1 --arch convnet --width 128 --epochs 300 \
    --method-config "full={\"epochs\": ${FULL_EPOCHS:-30}}" --attacks fgsm,pgd --n-attack 1000 \
    --out "$OUT/cifar10" ) > "$OUT/cifar10.txt" 2>&1
tail -n 20 "$OUT/cifar10.txt"

# 3. hot-loop speed: ddbench beside plain PyTorch on the same GPU
"$B" speed --device cuda > "$OUT/speed.jsonl" 2>&1; cat "$OUT/speed.jsonl"
[ -f "$BUNDLE/pytorch_reference.py" ] && timeout 120 python3 "$BUNDLE/pytorch_reference.py" > "$OUT/pytorch_reference.jsonl" 2>&1
cat "$OUT/pytorch_reference.jsonl" 2>/dev/null
exit 0
