#!/usr/bin/env bash
# Colour digits (scripts/make_colour_digits.py: 1,500 training and 300 test 32x32 RGB
# images), --arch conv, 40 epochs at batch 32 on the CPU: the single logistic against
# PixelCNN++'s mixture (10 components). Then eval (ELBO and the importance-weighted bound
# with 200 samples, in bits/dim) on the 300 test images.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
for lik in ${LIKELIHOODS:-logistic logistic-mixture}; do
  out=/tmp/colour/$lik
  rm -rf "$out"
  "$B" train --data "$DATA" --out "$out" --arch conv --likelihood "$lik" --epochs 40 \
      --batch-size 32 --threads 2 2>&1 | tee "$lik.train.log"
  "$B" eval --run "$out" --threads 2 2>&1 | tee "$lik.eval.log"
  mkdir -p "$lik"
  cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$lik"/
done
