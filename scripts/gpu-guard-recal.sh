#!/usr/bin/env bash
# issue 4 GPU check: BN recalibration on/off (FMNIST teacher), FMNIST 3-seed table, CIFAR-10 sre2l vs guard
set -uo pipefail
B=.dev/gpu4; OUT=${OUT:-/tmp/o}; mkdir -p $OUT /tmp/cifar
TORCH_LIB=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
export DDBENCH_PLUGIN_PATH=$B
nvidia-smi --query-gpu=name --format=csv,noheader
tar xzf $B/cifar10-jpeg.tar.gz -C /tmp/cifar &
for r in false true; do
  C="{\"teacher_arch\":\"convnet\",\"teacher_width\":32,\"teacher_epochs\":5,\"teacher_subset\":1000,\"iterations\":10,\"ipc_per_batch\":10,\"bn_recalibration\":$r}"
  $B/ddbench run --dataset fashion-mnist --data-dir $B/fmnist --device cuda --method guard,sre2l --ipc 1 --width 32 --seeds 1 --soft-epochs 1 --method-config guard=$C --method-config sre2l=$C --attacks pgd --n-attack 500 --out $OUT/recal-$r --cache-dir /tmp/c1 > $OUT/recal-$r.log 2>&1
  python3 -c "import csv;[print('recal=$r',x['method'],'teacher clean',x['teacher_clean_acc'],'pgd',x['teacher_pgd_acc'],'s',x['teacher_s']) for x in csv.DictReader(open('$OUT/recal-$r/results.csv'))]"
done
C='{"teacher_arch":"convnet","teacher_width":32,"teacher_epochs":5,"teacher_subset":1000,"iterations":500,"ipc_per_batch":10}'
( time $B/ddbench run --dataset fashion-mnist --data-dir $B/fmnist --device cuda --method sre2l,guard --ipc 10 --width 32 --seeds 3 --soft-epochs 200 --method-config sre2l=$C --method-config guard=$C --attacks pgd --n-attack 500 --out $OUT/fmnist --cache-dir /tmp/c2 ) > $OUT/fmnist.txt 2>&1
tail -8 $OUT/fmnist.txt
wait
C="{\"teacher_arch\": \"resnet18\", \"teacher_epochs\": ${TEACHER_EPOCHS:-5}, \"iterations\": 500, \"ipc_per_batch\": 10}"
( time timeout ${CIFAR_LIMIT:-360} $B/ddbench run --dataset imagefolder --data-dir /tmp/cifar --device cuda --method sre2l,guard --ipc 10,50 --seeds 1 --arch resnet18 --attacks pgd,fgsm --n-attack 1000 --method-config "sre2l=$C" --method-config "guard=$C" --out $OUT/cifar --cache-dir /tmp/c3 ) > $OUT/cifar.txt 2>&1
tail -15 $OUT/cifar.txt
for d in fmnist cifar; do cp $OUT/$d/results.csv $OUT/$d-results.csv; cp $OUT/$d/manifest.json $OUT/$d-manifest.json; done
