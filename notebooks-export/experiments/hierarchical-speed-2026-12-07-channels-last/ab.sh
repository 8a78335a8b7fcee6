#!/usr/bin/env bash
# tch-vae before (61ab210, NCHW) and after (channels-last) alone, interleaved, then the
# PyTorch twin's three layouts (twin_layouts.py), two rounds. From the repository root:
#   OLD=/path/to/tch-vae-61ab210 NEW=target/release/tch-vae bash .../ab.sh > .../ab.log 2>&1
set -euo pipefail
. scripts/env.sh
here=notebooks-export/experiments/hierarchical-speed-2026-12-07-channels-last
echo "# $(date -u '+%F %T UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), new = $(git rev-parse --short HEAD)"
[ -f /tmp/colour/digits.npz ] || "$TCH_VAE_PYTHON" scripts/make_colour_digits.py /tmp/colour/digits.npz
flags=(--data /tmp/colour/digits.npz --arch hierarchical --likelihood logistic-mixture --width 64
       --depth 2 --latent 8 --batch-size 32 --epochs 3 --threads 2 --limit 500 --seed 42)
echo "# tch-vae: epoch seconds (3 epochs), and the last epoch's training loss"
for round in 1 2 3 4; do
    for which in old new; do
        bin=$OLD; [ $which = new ] && bin=$NEW
        d=$(mktemp -d)
        "$bin" train --out "$d/run" "${flags[@]}" > "$d/log" 2>&1
        echo "round $round $which: $(awk -F, 'NR>1{printf "%.2f ", $13}' "$d/run/metrics.csv")loss $(awk -F, 'END{print $2}' "$d/run/metrics.csv")"
        [ $which = new ] && [ $round = 4 ] && cp "$d/run/config.json" /tmp/ab-config.json
        rm -rf "$d"
    done
done
echo "# the PyTorch twin, eager, fused Adam: seconds a pass over 320 images"
for round in 1 2; do
    for mode in nchw channels_last channels_last_kept; do
        "$TCH_VAE_PYTHON" "$here/twin_layouts.py" /tmp/ab-config.json $mode 2>&1 | grep -v gpuGetDeviceCount
    done
done
echo "# done $(date -u '+%F %T UTC')"
