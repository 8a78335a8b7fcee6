#!/usr/bin/env bash
# The colour digits with the hierarchical model at its defaults (--width 64 --depth 2
# --latent 8, Adam 1e-3) and the mixture, 40 epochs at batch 32 on the CPU; eval with
# k = 50 on the 300 test images.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
name=hierarchical-default
out=/tmp/colour/$name
rm -rf "$out"
# --clip-grad 0: made before clipping became the hierarchical default (2026-12-06).
"$B" train --data "$DATA" --out "$out" --arch hierarchical --likelihood logistic-mixture \
    --epochs 40 --batch-size 32 --clip-grad 0 --threads 2 2>&1 | tee "$name.train.log"
"$B" eval --run "$out" --threads 2 --iw-samples 50 2>&1 | tee "$name.eval.log"
mkdir -p "$name"
cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
