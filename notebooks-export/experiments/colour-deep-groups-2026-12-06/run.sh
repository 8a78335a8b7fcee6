#!/usr/bin/env bash
# The colour recipe with VDVAE's shape of depth: more, narrower groups at the middle
# resolutions, so that each group's prior is conditioned on the draws of the groups before
# it at the same resolution (a residual block at 4x4 sees the whole map): DEPTH groups per
# resolution (1x1, 4x4, 8x8, 16x16, 32x32), LATENT channels a group, on the issue's
# 1,500/300 colour digits, 40 epochs, at the recipe's other defaults. Then samples at
# temperatures 1, 0.8 and 0.6 (seed 1; as the mixture's likeliest component and, -mean, as
# its mean) and `eval` (k = 50). B: the tch-vae binary; OUT: where the run folder goes.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
OUT=${OUT:-/tmp/colour-deep}
DEPTH=${DEPTH:-2,4,6,2,1}
LATENT=${LATENT:-4}
THREADS=${THREADS:-2}
PY=${PY:-python3}
[ -f "$DATA" ] || "$PY" ../../../scripts/make_colour_digits.py "$DATA"
name=depth${DEPTH//,/}-latent$LATENT-40epochs
rm -rf "${OUT:?}/$name"
mkdir -p "$OUT" "$name"
"$B" train --data "$DATA" --out "$OUT/$name" --threads "$THREADS" --epochs 40 \
    --depth "$DEPTH" --latent "$LATENT" 2>&1 | tee "$name.train.log"
cp "$OUT/$name"/{config.json,metrics.csv,reconstructions.png} "$name"/
for t in 1.0 0.8 0.6; do
    "$B" sample --run "$OUT/$name" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
    "$B" sample --run "$OUT/$name" --seed 1 --temperature "$t" --picture mean \
        --output "$name/samples-t$t-mean.png"
done
"$B" eval --run "$OUT/$name" --iw-samples 50 --threads "$THREADS" 2>&1 | tee "$name.eval.log"
cp "$OUT/$name/eval.json" "$name"/
