#!/usr/bin/env bash
# device check: AutoAttack standard ddbench vs torchattacks on CIFAR-10 JPEG ConvNet (issue 3), then guard IPC 50 (issue 4)
set -uo pipefail
B=.dev/gpu5; OUT=${OUT:-/tmp/o}; mkdir -p $OUT /tmp/cifar
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site $B/torchattacks-*.whl && export PYTHONPATH=/tmp/site
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
tar xzf $B/cifar10-jpeg.tar.gz -C /tmp/cifar
mkdir -p /work/main && ln -sfn "$PWD/tests" /work/main/tests
( time DDBENCH_XCHECK_IMAGEFOLDER=/tmp/cifar DDBENCH_XCHECK_EPOCHS=15 DDBENCH_PYTHON=python3 timeout ${AA_LIMIT:-240} $B/deps/torchattacks --ignored --nocapture --exact autoattack_standard_image_folder ) > $OUT/autoattack.txt 2>&1
cat $OUT/autoattack.txt
C='{"teacher_arch": "resnet18", "teacher_epochs": 5, "iterations": 500, "ipc_per_batch": 10}'
( time timeout ${G_LIMIT:-240} $B/ddbench run --dataset imagefolder --data-dir /tmp/cifar --device cuda --method guard --ipc 50 --seeds 1 --arch resnet18 --attacks pgd,fgsm --n-attack 1000 --method-config "guard=$C" --out $OUT/guard50 --cache-dir /tmp/c3 ) > $OUT/guard50.txt 2>&1
tail -12 $OUT/guard50.txt
cp $OUT/guard50/results.csv $OUT/guard50-results.csv 2>/dev/null
