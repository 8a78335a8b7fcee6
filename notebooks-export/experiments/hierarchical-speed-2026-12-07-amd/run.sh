#!/usr/bin/env bash
# The hierarchical benchmark on the AMD EPYC dev VM (2026-12-07), as on the Intel VM before:
# colour digits, width 64, depth 2, 8 latent channels, batch 32, 500 images, 3 rounds.
# From the repository root, after scripts/setup.sh (and apt-get install libjemalloc2):
set -euo pipefail
. scripts/env.sh
cd scripts
"$TCH_VAE_PYTHON" benchmark_hierarchical.py --repeats 3 --jemalloc /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \
    --raw ../notebooks-export/experiments/hierarchical-speed-2026-12-07-amd/runs.csv \
    > ../notebooks-export/experiments/hierarchical-speed-2026-12-07-amd/benchmark.log 2>&1
