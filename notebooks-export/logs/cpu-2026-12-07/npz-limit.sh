#!/bin/bash
# --limit on an .npz with x_test: npz-read.sh's command (the whole train command at --limit
# 64 --epochs 1 on its two 400 MB files, uint8 and float32, each with 100 test images),
# built before (BEFORE, 6f61fd1: the whole x_train read, then its first 64 kept) and after
# (AFTER, 9bdc9be: only x_train's first 64 images read). The weights' hashes must agree.
#   BEFORE=/tmp/tch-vae-6f61fd1 AFTER=/path/to/tch-vae bash npz-limit.sh > npz-limit.log 2>&1
exec bash "$(dirname "$0")/npz-read.sh"
