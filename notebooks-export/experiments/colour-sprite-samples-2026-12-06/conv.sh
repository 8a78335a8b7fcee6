#!/usr/bin/env bash
# A flat latent instead of the hierarchy: does a conv VAE (one 20-value z, the
# logistic-mixture likelihood) on the 2,704 32x32 sprites learn shapes that a fitted prior
# could then draw? 40 epochs, as the hierarchical run that reconstructs them.
# B: the tch-vae binary; OUT: where the run folder goes.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
OUT=${OUT:-/tmp/conv-sprites}
PY=${PY:-python3}
[ -d /tmp/sprites32 ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites32 --size 32 --count 3000
rm -rf "${OUT:?}/conv40"
mkdir -p "$OUT" conv40
"$B" train --data /tmp/sprites32 --arch conv --likelihood logistic-mixture --epochs 40 \
    --out "$OUT/conv40" --threads 2 2>&1 | tee conv40.train.log
cp "$OUT/conv40"/{config.json,metrics.csv,reconstructions.png,samples.png} conv40/
