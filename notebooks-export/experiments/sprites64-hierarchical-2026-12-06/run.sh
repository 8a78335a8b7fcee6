#!/usr/bin/env bash
# The 64x64 sprites of ../sprites64 (scripts/make_sprites.py, 6,000 images: 5,414 training,
# 586 test) again, with the colour recipe instead of that run's conv + `logistic` (8 epochs,
# grey blobs): `--arch hierarchical --likelihood logistic-mixture` at its defaults (width 64,
# depth 2 at each of 64, 32, 16, 8, 4, 1, 8 latents a group, Adam 2e-3 under a cosine,
# batches of 32) with VDVAE's clipping (200 per value, times 12,288 values an image: the
# sprites32 runs of ../colour-defaults-2026-12-05 spiked without it), `--limit` LIMIT (2,000)
# images, which the folder's split makes 1,804 training and 196 test images (its first 196
# test sprites: the pictures show the same sixteen as ../sprites64), for EPOCHS (12) epochs:
# what two CPU cores give in about 20 minutes. Eval with k = 10 on the 196 test images,
# samples at temperatures 1, 0.8, 0.6. THREADS: CPU threads.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
data=/tmp/sprites64
[ -d "$data" ] || "${PY:-python3}" ../../../scripts/make_sprites.py "$data" --count 6000 --size 64
EPOCHS=${EPOCHS:-12}
LIMIT=${LIMIT:-2000}
name=sprites64-hierarchical
out=/tmp/sprites64-runs/$name
rm -rf "$out"
mkdir -p "$(dirname "$out")"
TCH_VAE_CACHE=/tmp/sprites64-runs/cache "$B" train --data "$data" --out "$out" \
    --arch hierarchical --likelihood logistic-mixture --clip-grad 2457600 \
    --limit "$LIMIT" --epochs "$EPOCHS" --threads "${THREADS:-2}" 2>&1 | tee "$name.train.log"
TCH_VAE_CACHE=/tmp/sprites64-runs/cache "$B" eval --run "$out" --threads "${THREADS:-2}" \
    --iw-samples 10 2>&1 | tee "$name.eval.log"
mkdir -p "$name"
cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
for t in 0.8 0.6; do
    "$B" sample --run "$out" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
done
