#!/usr/bin/env bash
# The demo run (make demo): the leaderboard file baselines/demo.toml (Fashion-MNIST, random at
# IPC 10 and 50 and full, ConvNet-3, 2 seeds, FGSM + PGD at 4/255 and 8/255), cut down to finish
# in about 5 minutes on a 2-core CPU. Ends with the Markdown leaderboard and the chart paths.
# Usage: demo.sh DDBENCH [ARGS...] (extra ARGS such as --device are appended; DEMO_OUT moves the
# output folder). Rerunning resumes: finished cells are kept.
set -euo pipefail
DDBENCH=${1:?usage: demo.sh DDBENCH [ARGS...]}
shift
exec "$DDBENCH" bench baselines/demo.toml --out "${DEMO_OUT:-results/demo}" "$@"
