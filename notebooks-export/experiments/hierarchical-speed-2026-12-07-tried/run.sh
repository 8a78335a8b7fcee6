#!/usr/bin/env bash
# The two ideas of layouts.py, interleaved with the model as written, two rounds, and the
# 1x1 microbenchmark. The config is benchmark_hierarchical.py's tch-vae run (colour digits,
# width 64, depth 2, 8 latent channels, batch 32, 500 images).
#   B=/path/to/tch-vae PY=/path/to/python bash run.sh > run.log 2>&1
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
[ -f /tmp/colour/digits.npz ] || "$PY" ../../../scripts/make_colour_digits.py /tmp/colour/digits.npz
echo "# $(date -u '+%F %T UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
rm -rf /tmp/tried-config
"$B" train --data /tmp/colour/digits.npz --out /tmp/tried-config --arch hierarchical \
    --likelihood logistic-mixture --width 64 --depth 2 --latent 8 --batch-size 32 --epochs 1 \
    --threads 2 --limit 500 --seed 42 > /dev/null 2>&1
for round in 1 2; do
    for mode in conv channels_last mm1x1; do
        "$PY" layouts.py /tmp/tried-config/config.json $mode 2>&1 | grep -v gpuGetDeviceCount
    done
done
"$PY" micro1x1.py 2>&1 | grep -v gpuGetDeviceCount
