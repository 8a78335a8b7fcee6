#!/usr/bin/env bash
# The colour recipe on four times the colour digits: 6,000 training and 600 test images
# of scripts/make_colour_digits.py (the 1,500/300 set's recipe, seed 0), EPOCHS epochs (30:
# 5,640 steps at batch 32, against 1,880 for 40 epochs on 1,500), with VDVAE's clipping
# (200 per value times 3,072 values, given so that the run is the same whatever the
# default). Then samples at temperatures 1, 0.8 and 0.6 (seed 1), as the mixture's likeliest
# component and (-mean) as its mean (`--picture mean`), and `eval` (k = 20).
# DEPTH: groups per resolution (--depth; DEPTH=4,2,2,1,1: four 1x1 groups, one at 16x16 and
# one at 32x32). B: the tch-vae binary; OUT: where the run folder goes.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits6k.npz}
OUT=${OUT:-/tmp/colour-6k}
EPOCHS=${EPOCHS:-30}
PY=${PY:-python3}
[ -f "$DATA" ] || "$PY" ../../../scripts/make_colour_digits.py "$DATA" --train 6000 --test 600
name=recipe-${EPOCHS}epochs
depth=()
if [ -n "${DEPTH:-}" ]; then
    name=recipe-depth${DEPTH//,/}-${EPOCHS}epochs
    depth=(--depth "$DEPTH")
fi
if [ "${RESUME:-}" = 1 ]; then
    "$B" train --resume "$OUT/$name" --epochs "$EPOCHS" --threads 2 2>&1 | tee -a "$name.train.log"
else
    rm -rf "${OUT:?}/$name"
    mkdir -p "$OUT"
    "$B" train --data "$DATA" --out "$OUT/$name" --threads 2 --epochs "$EPOCHS" \
        --clip-grad 614400 "${depth[@]}" 2>&1 | tee "$name.train.log"
fi
mkdir -p "$name"
cp "$OUT/$name"/{config.json,metrics.csv,reconstructions.png} "$name"/
for t in 1.0 0.8 0.6; do
    "$B" sample --run "$OUT/$name" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
    "$B" sample --run "$OUT/$name" --seed 1 --temperature "$t" --picture mean \
        --output "$name/samples-t$t-mean.png"
done
"$B" eval --run "$OUT/$name" --iw-samples 20 --threads 2 2>&1 | tee "$name.eval.log"
cp "$OUT/$name/eval.json" "$name"/
