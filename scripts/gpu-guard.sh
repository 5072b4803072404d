#!/usr/bin/env bash
# GPU check of the SRe2L family (issue 4) on the CIFAR-10 JPEG copy: sre2l vs guard at IPC 10
# and 50, ResNet-18 teachers and students, shortened squeeze (TEACHER_EPOCHS) and recovery
# (ITERATIONS) to fit the GPU time at hand. Bundle from scripts/gpu-bundle.sh; results under OUT.
set -uo pipefail
BUNDLE=${BUNDLE:-.dev/gpu}
OUT=${OUT:-/tmp/ddbench-gpu}
mkdir -p "$OUT" /tmp/cifar10-jpeg
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
tar xzf "$BUNDLE/cifar10-jpeg.tar.gz" -C /tmp/cifar10-jpeg
C="{\"teacher_arch\": \"${TEACHER_ARCH:-resnet18}\", \"teacher_epochs\": ${TEACHER_EPOCHS:-5}, \"iterations\": ${ITERATIONS:-500}, \"ipc_per_batch\": 10}"
( time "$BUNDLE/ddbench" run --dataset imagefolder --data-dir /tmp/cifar10-jpeg --device cuda \
    --method sre2l,guard --ipc 10,50 --seeds 1 --arch ${STUDENT_ARCH:-resnet18} --attacks pgd,fgsm --n-attack 1000 \
    --method-config "sre2l=$C" --method-config "guard=$C" \
    --out "$OUT/guard-${TEACHER_ARCH:-resnet18}" --cache-dir /tmp/ddbench-cache ) > "$OUT/guard.txt" 2>&1
cat "$OUT/guard.txt"
exit 0
