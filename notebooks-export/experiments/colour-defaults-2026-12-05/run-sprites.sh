#!/usr/bin/env bash
# The colour recipe on sprites (scripts/make_sprites.py: shapes in random hues on a dark
# background, class subfolders): given neither --arch nor --likelihood, colour images get
# --arch hierarchical --likelihood logistic-mixture with its defaults (width 64, two groups
# a resolution, batches of 32, Adam 2e-3 with a cosine over the epochs) and the default 10
# epochs. 32x32: 3,000 sprites (2,700 train, 300 test); 64x64: 2,000 sprites at --width 32
# --depth 1 (a quarter of the cost a pixel). THREADS: CPU threads (1 here: the runs shared
# the 2 cores with another).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
for size in ${SIZES:-32 64}; do
  data=/tmp/sprites$size
  [ -d "$data" ] || case $size in
    32) "$PY" ../../../scripts/make_sprites.py "$data" --size 32 --count 3000 ;;
    64) "$PY" ../../../scripts/make_sprites.py "$data" --size 64 --count 2000 ;;
  esac
  extra=(); [ "$size" = 64 ] && extra=(--width 32 --depth 1)
  name=sprites$size
  out=/tmp/colour-defaults/$name
  rm -rf "$out"
  # --clip-grad 0: made before clipping became the hierarchical default (2026-12-06).
  TCH_VAE_CACHE=/tmp/colour-defaults/cache "$B" train --data "$data" --out "$out" \
      --clip-grad 0 --threads "${THREADS:-1}" "${extra[@]}" 2>&1 | tee "$name.train.log"
  "$B" eval --run "$out" --threads "${THREADS:-1}" --iw-samples 20 2>&1 | tee "$name.eval.log"
  mkdir -p "$name"
  cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
done
