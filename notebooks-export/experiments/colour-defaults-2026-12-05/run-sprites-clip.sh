#!/usr/bin/env bash
# run-sprites-long.sh's 40 epochs of the colour recipe on the same 3,000 32x32 sprites, with
# VDVAE's gradient clipping (200 per value, times the 3,072 values of an image for this loss
# in nats per image), to see whether it holds the spike that run had between epochs 24 and
# 31. A first try with VDVAE's skipping too (--skip-threshold 1228800) skipped 75 of epoch
# 3's 85 updates and was stopped there (sprites32-clip-and-skip-stopped.train.log): this
# model's gradient norms sit above VDVAE's threshold early on. THREADS: CPU threads.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
data=/tmp/sprites32
[ -d "$data" ] || "${PY:-python3}" ../../../scripts/make_sprites.py "$data" --size 32 --count 3000
name=sprites32-40epochs-clip
out=/tmp/colour-defaults/$name
rm -rf "$out"
TCH_VAE_CACHE=/tmp/colour-defaults/cache "$B" train --data "$data" --out "$out" --epochs 40 \
    --clip-grad 614400 --threads "${THREADS:-1}" 2>&1 | tee "$name.train.log"
"$B" eval --run "$out" --threads "${THREADS:-1}" --iw-samples 20 2>&1 | tee "$name.eval.log"
mkdir -p "$name"
cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
for t in 0.8 0.5; do
    "$B" sample --run "$out" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
done
