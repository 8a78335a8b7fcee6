#!/usr/bin/env bash
# The hierarchical benchmark after the channels-last change (2026-12-07), with the new
# channels-last PyTorch peer: colour digits, width 64, depth 2, 8 latent channels, batch 32,
# 500 images, 3 rounds. From the repository root, after scripts/setup.sh and
# `apt-get install libjemalloc2`, with target/release/tch-vae built from the commit named
# in the log:
#   bash run.sh            # benchmark.log and runs.csv
#   bash run.sh 2          # benchmark-2.log and runs-2.csv (a second run)
set -euo pipefail
. scripts/env.sh
out=notebooks-export/experiments/hierarchical-speed-2026-12-07-channels-last
suffix=${1:+-$1}
{
    echo "# $(date -u '+%F %T UTC'), built from $(git rev-parse --short HEAD)"
    cd scripts
    "$TCH_VAE_PYTHON" benchmark_hierarchical.py --repeats 3 --jemalloc /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
        --raw "../$out/runs$suffix.csv" 2>&1 | grep -v gpuGetDeviceCount
    echo "# done $(date -u '+%F %T UTC')"
} > "$out/benchmark$suffix.log"
