#!/usr/bin/env bash
# The colour recipe at its defaults (since 2026-12-06 with VDVAE's clipping) on the issue's
# own setting: the 1,500/300 colour digits of scripts/make_colour_digits.py, 40 epochs at
# batch 32 on 2 threads. Then samples at temperatures 1, 0.8 and 0.6 (seed 1), each as the
# mixture's likeliest component and as its mean (--picture), and `eval` (k = 50).
# B: the tch-vae binary; OUT: where the run folder goes.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
OUT=${OUT:-/tmp/colour-6k}
PY=${PY:-python3}
[ -f "$DATA" ] || "$PY" ../../../scripts/make_colour_digits.py "$DATA"
name=recipe1500-40epochs
rm -rf "${OUT:?}/$name"
mkdir -p "$OUT" "$name"
"$B" train --data "$DATA" --out "$OUT/$name" --threads 2 --epochs 40 2>&1 | tee "$name.train.log"
cp "$OUT/$name"/{config.json,metrics.csv,reconstructions.png,samples.png} "$name"/
for t in 1.0 0.8 0.6; do
    for picture in mode mean; do
        "$B" sample --run "$OUT/$name" --seed 1 --temperature "$t" --picture "$picture" \
            --output "$name/samples-t$t-$picture.png"
    done
done
"$B" eval --run "$OUT/$name" --iw-samples 50 --threads 2 2>&1 | tee "$name.eval.log"
cp "$OUT/$name/eval.json" "$name"/
