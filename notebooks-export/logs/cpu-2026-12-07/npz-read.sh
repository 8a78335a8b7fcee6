#!/bin/bash
# Reading a 400 MB uint8 .npz (130,000 32x32 RGB images of noise and 100 test images) and
# a 400 MB float32 one (32,500 such images in [0, 1]): the whole train command at --limit 64
# --epochs 1, built before (BEFORE, 8f0e62a) and after (AFTER) arrays were read whole
# (uint8) or a block at a time (floats) instead of one value at a time.
#   BEFORE=/tmp/tch-vae-new AFTER=/tmp/tch-vae-read2 bash npz-read.sh > npz-read.log 2>&1
set -euo pipefail
. "$(dirname "$0")/../../../scripts/env.sh"
echo "# $(date -u '+%F %T UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
npz=/tmp/npz-read/big.npz; mkdir -p /tmp/npz-read
[ -f $npz ] || "$TCH_VAE_PYTHON" -c "
import numpy as np
np.savez('$npz', x_train=np.random.default_rng(0).integers(0, 256, (130000, 32, 32, 3), dtype=np.uint8), x_test=np.zeros((100, 32, 32, 3), np.uint8))"
f32=/tmp/npz-read/big-f32.npz
[ -f $f32 ] || "$TCH_VAE_PYTHON" -c "
import numpy as np
x = np.random.default_rng(0).integers(0, 256, (32500, 32, 32, 3)).astype(np.float32) / 255
np.savez('$f32', x_train=x, x_test=np.zeros((100, 32, 32, 3), np.float32))"
ls -l $npz $f32
for data in $npz $f32; do
  for round in 1 2; do
    for name in BEFORE AFTER; do
      rm -rf /tmp/npz-read/run
      /usr/bin/time -f "$(basename $data) round $round $name: %e s, peak %M KB" "${!name}" train \
        --data $data --out /tmp/npz-read/run --epochs 1 --limit 64 --seed 1 2>&1 | tail -1
      sha256sum /tmp/npz-read/run/weights.safetensors | cut -c1-16
    done
  done
done
