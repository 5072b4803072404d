#!/usr/bin/env bash
# The prepared device check of issues 12, 13 and 14 (time boxes: 570 s), for a session lent a CUDA machine (python3
# with torch 2.11.0, no Rust): the release binaries, plugins, the repository's PyTorch reference
# and the data were copied into BUNDLE beforehand (scripts/gpu-bundle.sh), and the checkout's
# bench/ and python/ travel with the working tree. Each step has its own time box so the whole
# script fits one call of at most 10 minutes; logs and results go under OUT.
set -uo pipefail
BUNDLE=${BUNDLE:-.dev/gpu}
OUT=${OUT:-/tmp/ddbench-gpu}
mkdir -p "$OUT"
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
B="$BUNDLE/ddbench"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
mkdir -p /tmp/cifar10-jpeg && tar xzf "$BUNDLE/cifar10-jpeg.tar.gz" -C /tmp/cifar10-jpeg
C10=/tmp/cifar10-jpeg
run() { # NAME SECONDS COMMAND...: one time-boxed step, its output in OUT/NAME.txt
  local name=$1 secs=$2; shift 2
  ( time timeout "$secs" "$@" ) > "$OUT/$name.txt" 2>&1; echo "== $name: exit $?"; tail -n 12 "$OUT/$name.txt"
}
# issue 14: instance norm's two kernels alone on the GPU (group_norm, what ConvNet runs now, vs
# instance_norm's cuDNN batch-norm kernels, what it ran before 2026-12-02)
run norm-kernels 10 python3 bench/norm_kernels.py --device cuda --iters 50
# issue 14: the hot loops beside eager PyTorch (and torch.compile, bf16) in one call
run speed 110 "$B" speed --device cuda --iters 10 --compare --python python3 --out "$OUT/speed.jsonl"
run speed-levers 60 "$B" speed --device cuda --iters 10 --levers bf16,channels-last,cudnn-benchmark,cuda-graphs,fused,shared-pass --out "$OUT/speed.jsonl"
# fused optimiser steps alone (float32), against the first call's eager PyTorch figures (whose
# SGD is PyTorch's CUDA default, foreach=True)
run speed-fused 35 "$B" speed --device cuda --iters 10 --only convnet3 --levers fused --out "$OUT/speed.jsonl"
# the train, GUARD, PGD-AT and DD-student steps captured as CUDA graphs (float32), replayed: each
# capture's log line says whether the loss on its batch went down
run speed-graphs 25 "$B" speed --device cuda --iters 10 --only _step,student_ipc10 --levers cuda-graphs --out "$OUT/speed.jsonl"
# the end-to-end workloads at a tenth of their size (a DD cell of 30 epochs, 5,000-image teacher epochs)
run speed-e2e 100 "$B" speed --device cuda --e2e --e2e-scale 0.1 --compare --python python3 --out "$OUT/speed-e2e.jsonl"
# issue 12: random IPC 1/10/50 under crop-flip-300 and DSA-1000 (CIFAR-10 JPEG, ConvNet-3, 1 seed)
COMMON=(--dataset imagefolder --data-dir "$C10" --device cuda --arch convnet --width 128 --attacks pgd --eps 8/255 --n-attack 1000)
# issue 14: bf16 students hold their accuracy on CIFAR-10 (three IPC 10 seeds trained together,
# crop-flip-300), float32 then bf16: clean and PGD accuracy per seed, train_s per student
run students-fp32 45 "$B" run "${COMMON[@]}" --method random --ipc 10 --seeds 3 --batch-students --epochs 300 --out "$OUT/students-fp32"
run students-bf16 45 "$B" run "${COMMON[@]}" --method random --ipc 10 --seeds 3 --batch-students --bf16-students --epochs 300 --out "$OUT/students-bf16"
run dd-dsa 50 "$B" run "${COMMON[@]}" --method random --ipc 1,10,50 --seeds 1 --epochs 1000 --augment dsa --out "$OUT/dd-dsa"
# issue 13: dm, dc, dsa at IPC 10 with the budgets that fit (official: 20,000 / 1,000 / 1,000
# iterations), DSA-1000 students; distillation seconds are in each row's distill_s
run roster 90 "$B" run "${COMMON[@]}" --method dm,dc,dsa --ipc 10 --seeds 1 --epochs 1000 --augment dsa \
  --method-config 'dm={"iterations": 2000}' --method-config 'dc={"iterations": 50}' \
  --method-config 'dsa={"iterations": 50}' --out "$OUT/roster" --save-distilled
"$B" report "$OUT/roster" --published none > /dev/null 2>&1
exit 0
