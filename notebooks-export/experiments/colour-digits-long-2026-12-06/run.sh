#!/usr/bin/env bash
# The colour recipe (`--arch hierarchical --likelihood logistic-mixture` at its defaults:
# width 64, depth 2, 8 latents a group, Adam 2e-3 under a cosine over the epochs, batches of
# 32) on the 1,500/300 32x32 colour digits of scripts/make_colour_digits.py, trained EPOCHS
# (100) epochs instead of the 40 of ../colour-defaults-2026-12-05: do the samples become
# digits, and what do the held-out bits do on 1,500 training images? Then eval with k = 50,
# and samples at temperatures 1, 0.8, 0.6 and 0.4. THREADS: CPU threads. RESUME=1 continues
# a stopped run from its checkpoint (its log appended).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
EPOCHS=${EPOCHS:-100}
name=digits-hierarchical-${EPOCHS}epochs
out=/tmp/colour-long/$name
if [ "${RESUME:-}" = 1 ]; then
    "$B" train --resume "$out" --epochs "$EPOCHS" --threads "${THREADS:-2}" 2>&1 | tee -a "$name.train.log"
else
    rm -rf "$out"
    mkdir -p "$(dirname "$out")"
    # --clip-grad 0: made before clipping became the hierarchical default (2026-12-06).
    "$B" train --data "$DATA" --out "$out" --arch hierarchical --likelihood logistic-mixture \
        --epochs "$EPOCHS" --clip-grad 0 --threads "${THREADS:-2}" 2>&1 | tee "$name.train.log"
fi
"$B" eval --run "$out" --threads "${THREADS:-2}" --iw-samples 50 2>&1 | tee "$name.eval.log"
mkdir -p "$name"
cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
for t in 0.8 0.6 0.4; do
    "$B" sample --run "$out" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
done
