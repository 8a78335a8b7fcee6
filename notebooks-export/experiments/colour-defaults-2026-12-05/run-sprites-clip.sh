#!/usr/bin/env bash
# run-sprites-long.sh's 40 epochs of the colour recipe on the same 3,000 32x32 sprites, with
# VDVAE's gradient clipping (200 per value, times the 3,072 values of an image for this loss
# in nats per image), to see whether it holds the spike that run had between epochs 24 and
# 31. A first try with VDVAE's skipping too (--skip-threshold 1228800) skipped 75 of epoch
# 3's 85 updates and was stopped there (sprites32-clip-and-skip-stopped.train.log): this
# model's gradient norms sit above VDVAE's threshold early on. THREADS: CPU threads.
set -euo pipefail
cd "$(dirname "$0")"
NAME=sprites32-40epochs-clip FLAGS="--clip-grad 614400" exec bash run-sprites-long.sh
