#!/bin/bash
# --limit on an .npz with x_test: the whole train command at --limit 64 --epochs 1 on
# npz-read.sh's two 400 MB files (uint8 and float32, each with 100 test images), built
# before (BEFORE, 6f61fd1: the whole x_train read, then its first 64 kept) and after
# (AFTER: only x_train's first 64 images read). The weights' hashes must agree.
#   BEFORE=/tmp/tch-vae-6f61fd1 AFTER=/path/to/tch-vae bash npz-limit.sh > npz-limit.log 2>&1
# (run npz-read.sh's first lines, or it, first: they write the two files.)
set -euo pipefail
echo "# $(date -u '+%F %T UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for data in /tmp/npz-read/big.npz /tmp/npz-read/big-f32.npz; do
  for round in 1 2; do
    for name in BEFORE AFTER; do
      rm -rf /tmp/npz-read/run
      /usr/bin/time -f "$(basename $data) round $round $name: %e s, peak %M KB" "${!name}" train \
        --data $data --out /tmp/npz-read/run --epochs 1 --limit 64 --seed 1 2>&1 | tail -1
      sha256sum /tmp/npz-read/run/weights.safetensors | cut -c1-16
    done
  done
done
