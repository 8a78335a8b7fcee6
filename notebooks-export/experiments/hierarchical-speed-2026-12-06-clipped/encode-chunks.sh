#!/usr/bin/env bash
# fit-prior and eval on a hierarchical run, a build before (OLD, 46bb1f6: posteriors
# encoded 256 a chunk in fit-prior, 4,096 in eval's KL per group) and after (NEW, 20cab9e
# on: memory::encoded_chunk_rows, 32 images of this model on the CPU), each on its own copy
# of the run: seconds and peak resident memory (GNU time), two rounds of fit-prior.
# RUN: the 6,000-digit colour recipe's run (../colour-digits-6k-2026-12-06/run.sh ->
# /tmp/colour-6k/recipe-30epochs); DATA: its .npz.
set -euo pipefail
OLD=${OLD:?a tch-vae binary built from 46bb1f6}
NEW=${NEW:?a tch-vae binary built from 20cab9e or later}
RUN=${RUN:-/tmp/colour-6k/recipe-30epochs}
DATA=${DATA:-/tmp/colour/digits6k.npz}
WORK=${WORK:-/tmp/encode-chunks}
for v in old new; do
    rm -rf "${WORK:?}/$v"
    mkdir -p "$WORK/$v"
    cp "$RUN"/{config.json,weights.safetensors} "$WORK/$v"/
done
bin() { if [ "$1" = old ]; then echo "$OLD"; else echo "$NEW"; fi; }
for round in 1 2; do
    for v in old new; do
        /usr/bin/time -f "fit-prior, $v build, round $round: %e s, peak %M KB" "$(bin $v)" fit-prior \
            --run "$WORK/$v" --data "$DATA" --components 3 --threads 2 2>&1 | grep -E "round|components in"
    done
done
cmp "$WORK/old/fitted-prior.safetensors" "$WORK/new/fitted-prior.safetensors" && echo "fitted priors: identical"
for v in old new; do
    /usr/bin/time -f "eval, $v build: %e s, peak %M KB" "$(bin $v)" eval --run "$WORK/$v" \
        --data "$DATA" --iw-samples 2 --threads 2 2>&1 | grep -E "build:"
done
# eval.json of each (the KL per group: a one-draw estimate below the top group).
cp "$WORK/old/eval.json" eval-before.json
cp "$WORK/new/eval.json" eval-after.json
