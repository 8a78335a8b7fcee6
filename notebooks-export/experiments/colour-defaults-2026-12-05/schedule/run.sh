#!/usr/bin/env bash
# The learning-rate experiments behind the hierarchical model's defaults (2026-12-05, the
# developers' 2-core Intel Xeon VM; two runs at a time, one thread each): the colour digits
# of ../run-digits.sh, --arch hierarchical with the mixture, 40 epochs at batch 32, Adam
# annealed by a cosine over the 40 epochs from 1e-3, 2e-3 and 3e-3 (seed 42), and from 2e-3
# with seed 7. The constant 1e-3 before them: ../../colour-digits-2026-12-05/hierarchical-default.
# The 3e-3 run was stopped at epoch 20 to free a core (its log ends there).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
for run in "cos1e3 1e-3 42" "cos2e3 2e-3 42" "cos3e3 3e-3 42" "cos2e3s7 2e-3 7"; do
  set -- $run
  out=/tmp/exp/$1
  rm -rf "$out"
  # --clip-grad 0: made before clipping became the hierarchical default (2026-12-06).
  "$B" train --data "$DATA" --out "$out" --arch hierarchical --likelihood logistic-mixture \
      --epochs 40 --batch-size 32 --clip-grad 0 --threads 1 --lr "$2" --seed "$3" --lr-schedule cosine \
      2>&1 | tee "$1.train.log"
  mkdir -p "$1"
  cp "$out"/{config.json,metrics.csv} "$1"/
done
