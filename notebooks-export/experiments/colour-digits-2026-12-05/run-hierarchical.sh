#!/usr/bin/env bash
# The same colour digits, 40 epochs at batch 32 on the CPU, with --arch hierarchical and
# PixelCNN++'s mixture (10 components), width 32, one group a resolution, 8 channels a
# group: at Adam's 1e-3 (the default) and at 3e-3. Then eval (ELBO and the
# importance-weighted bound, in bits/dim) on the 300 test images (k = 200; k = 50 for the
# second, for time).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
run() {  # name, lr, k
  out=/tmp/colour/$1
  rm -rf "$out"
  # --clip-grad 0: made before clipping became the hierarchical default (2026-12-06).
  "$B" train --data "$DATA" --out "$out" --arch hierarchical --width 32 --depth 1 --latent 8 \
      --likelihood logistic-mixture --epochs 40 --batch-size 32 --lr "$2" --clip-grad 0 --threads 2 \
      2>&1 | tee "$1.train.log"
  "$B" eval --run "$out" --threads 2 --iw-samples "$3" 2>&1 | tee "$1.eval.log"
  mkdir -p "$1"
  cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$1"/
}
[ "${ONLY:-}" = lr3e-3 ] || run hierarchical-w32-d1 1e-3 200
run hierarchical-w32-d1-lr3e-3 3e-3 50
