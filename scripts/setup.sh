#!/usr/bin/env bash
# One-time, idempotent setup: a local virtualenv holding torch 2.11.0 (libtorch for tch 0.24),
# and the Fashion-MNIST demo data set from Debian where the machine allows it.
# Re-running it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
VENV=.venv

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtualenv $VENV"
  python3 -m venv "$VENV"
fi
installed=$("$VENV/bin/python" -m pip show torch 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$installed" != "$TORCH_VERSION" ]; then
  echo "setup: installing torch ${TORCH_VERSION} (libtorch for tch; lean, no CUDA user-space libs)"
  # --no-deps keeps this at ~1.3 GB: enough to build and run on CPU. CUDA machines bring their own
  # torch (see README: LD_LIBRARY_PATH at that machine's torch/lib).
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
    "torch==${TORCH_VERSION}" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85
fi
# The reference implementations the tests cross-check against (torchattacks needs a full torch:
# about 2.5 minutes and 4 GB the first time).
if ! "$VENV/bin/python" -c 'import torch, torchattacks, safetensors, numpy' 2>/dev/null; then
  need_gb=8   # the wheels unpack beside their download (pip's temp folder) before they are installed
  for dir in "$VENV" "${TMPDIR:-/tmp}"; do
    free_gb=$(df -Pk "$dir" | awk 'NR == 2 {print int($4 / 1048576)}')
    if [ "$free_gb" -lt "$need_gb" ]; then
      echo "setup: $dir has ${free_gb} GB free; installing the test references needs about ${need_gb} GB" >&2
      exit 1
    fi
  done
  echo "setup: installing torch ${TORCH_VERSION} with its dependencies, torchattacks, safetensors (test references)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "torch==${TORCH_VERSION}" torchattacks==3.5.1 safetensors numpy
fi
TORCH_DIR=$("$VENV/bin/python" - <<'PY'
import sysconfig, os
print(os.path.join(sysconfig.get_paths()["purelib"], "torch"))
PY
)
test -f "$TORCH_DIR/lib/libtorch_cpu.so" || { echo "setup: $TORCH_DIR/lib/libtorch_cpu.so missing" >&2; exit 1; }
ln -sfn "$TORCH_DIR" "$VENV/libtorch"   # stable path for .cargo/config.toml (LIBTORCH)

FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's dataset-fashion-mnist"
    (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
      { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }) || \
      echo "setup: could not install dataset-fashion-mnist; run 'sudo apt-get install dataset-fashion-mnist' or 'ddbench data fetch fashion-mnist --to DIR'" >&2
  else
    echo "setup: Fashion-MNIST not found in $FMNIST; run 'sudo apt-get install dataset-fashion-mnist' or 'ddbench data fetch fashion-mnist --to DIR'" >&2
  fi
fi

# Slurm and munge for the Slurm executor's test (tests/slurm.rs starts a single-node cluster of its
# own; without them that test says it skipped and why).
have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
if ! have slurmctld || ! have slurmd || ! have munged; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's slurm-wlm and munge (for the Slurm test)"
    (apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 || \
      { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; }) || \
      echo "setup: could not install slurm-wlm and munge; the Slurm test will be skipped" >&2
  else
    echo "setup: Slurm not found; run 'sudo apt-get install slurm-wlm munge' to run the Slurm test (else it is skipped)" >&2
  fi
fi
