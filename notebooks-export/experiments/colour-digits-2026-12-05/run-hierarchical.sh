#!/usr/bin/env bash
# The same colour digits, 40 epochs at batch 32 on the CPU, with --arch hierarchical and
# PixelCNN++'s mixture (10 components): a narrow model (width 32, one group a resolution,
# 8 channels a group) and a wider one (width 64, two groups a resolution). Then eval (ELBO
# and the importance-weighted bound, in bits/dim) on the 300 test images.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
for shape in "32 1" "64 2"; do
  set -- $shape
  name=hierarchical-w$1-d$2
  out=/tmp/colour/$name
  rm -rf "$out"
  "$B" train --data "$DATA" --out "$out" --arch hierarchical --width "$1" --depth "$2" \
      --latent 8 --likelihood logistic-mixture --epochs 40 --batch-size 32 --threads 2 \
      2>&1 | tee "$name.train.log"
  "$B" eval --run "$out" --threads 2 2>&1 | tee "$name.eval.log"
  mkdir -p "$name"
  cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
done
