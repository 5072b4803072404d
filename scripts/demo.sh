#!/usr/bin/env bash
# The demo run (make demo): Fashion-MNIST, random at IPC 10 and 50 and full, ConvNet-3, 2 seeds,
# FGSM + PGD. Settings cut down to finish within 5 minutes on a 2-core CPU; the full DD protocol
# (width 128, 300 epochs, 1,000 attacked images) is for GPUs. Usage: demo.sh DDBENCH [ARGS...]
# (extra ARGS such as --device or --data-dir are appended; DEMO_OUT moves the output folder).
set -euo pipefail
DDBENCH=${1:?usage: demo.sh DDBENCH [ARGS...]}
shift
exec "$DDBENCH" run --dataset fashion-mnist \
  --method random,full --ipc 10,50 --seeds 2 \
  --arch convnet --width 32 --epochs 50 \
  --method-config 'full={"epochs": 1}' \
  --attacks fgsm,pgd --n-attack 200 --out "${DEMO_OUT:-results/demo}" "$@"
