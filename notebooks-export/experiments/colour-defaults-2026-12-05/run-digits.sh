#!/usr/bin/env bash
# Issue 25's goal on 32x32 colour digits (scripts/make_colour_digits.py: 1,500 training and
# 300 test images), as the runs of ../colour-digits-2026-12-05: --arch hierarchical with the
# mixture at its defaults, which now include Adam at 2e-3 annealed by a cosine over the
# epochs and batches of 32; 40 epochs; eval with k = 50 on the 300 test images. THREADS: CPU
# threads (1 here: the run shared the 2 cores with another).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
name=digits-hierarchical
out=/tmp/colour-defaults/$name
rm -rf "$out"
# --clip-grad 0: made before clipping became the hierarchical default (2026-12-06).
"$B" train --data "$DATA" --out "$out" --arch hierarchical --likelihood logistic-mixture \
    --epochs 40 --clip-grad 0 --threads "${THREADS:-1}" 2>&1 | tee "$name.train.log"
"$B" eval --run "$out" --threads "${THREADS:-1}" --iw-samples 50 2>&1 | tee "$name.eval.log"
mkdir -p "$name"
cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
