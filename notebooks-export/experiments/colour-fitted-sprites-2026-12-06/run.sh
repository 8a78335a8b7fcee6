#!/usr/bin/env bash
# The sprites (scripts/make_sprites.py: shapes in random hues on a dark background, four
# shape subfolders) with the colour recipe and its ex-post prior: every --arch hierarchical
# run ends by fitting one (samples-fitted.png beside the model's own samples.png).
# - sprites32-defaults: 3,000 32x32 sprites (2,704 training, 296 test), `tch-vae train
#   --data DIR` and nothing else (the colour recipe, the default 10 epochs);
# - sprites32-40epochs: the same, 40 epochs;
# - sprites32-lr1e-3, sprites32-batch16: the defaults at half the learning rate, or half the
#   batch (twice the updates); not in the default RUNS: probes of why 10 epochs fall short;
# - sprites64-12epochs: ../sprites64-hierarchical-2026-12-06's 64x64 run again on 6,000
#   sprites (`--limit 2000`: the first 2,000 of 5,414 training images; all 586 test images;
#   VDVAE's clipping; 12 epochs). Built before b90821e, --limit kept the folder's first
#   2,000 files: circles and crosses only. sprites64-12epochs-all-shapes: the same command
#   from b90821e on, --limit drawing the 2,000 from every shape (not in the default RUNS).
# - sprites64-54epochs: the same on all four shapes, 54 epochs (63 batches each: 3,402
#   updates, the number the 32x32 sprites needed to come back recognisable).
# Then eval (k = 20), the side-by-side pictures, score.py's Frechet distances (a shape
# classifier trained on each set's own training sprites) and shapes.py's reconstructions of
# four test sprites of each shape.
# RUNS: which of the three (default: all); TRAINED=1: the runs are trained, go on from eval;
# B: the tch-vae binary; PY: a Python with torch and PIL; OUT: where run folders go;
# THREADS: CPU threads (2: each run had the machine to itself).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
OUT=${OUT:-/tmp/colour-fitted-sprites}
T=${THREADS:-2}
here=../colour-fitted-prior-2026-12-06
[ -d /tmp/sprites32 ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites32 --size 32 --count 3000
[ -d /tmp/sprites64 ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites64 --size 64 --count 6000

one() { # NAME DATA [train flags...]
    local name=$1 data=$2
    shift 2
    mkdir -p "$OUT" "$name"
    if [ "${TRAINED:-}" != 1 ]; then
        rm -rf "${OUT:?}/$name"
        TCH_VAE_CACHE="$OUT/cache" "$B" train --data "$data" --out "$OUT/$name" --threads "$T" \
            "$@" 2>&1 | tee "$name.train.log"
    fi
    TCH_VAE_CACHE="$OUT/cache" "$B" eval --run "$OUT/$name" --threads "$T" --iw-samples 20 \
        2>&1 | tee "$name.eval.log"
    cp "$OUT/$name"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,samples-fitted.png,fitted-prior.json} "$name"/
    "$PY" "$here/side_by_side.py" "$name/samples.png" "$name/samples-fitted.png" "$name/own-vs-fitted.png"
    "$PY" "$here/score.py" "$data" "scores-$name.json" own-t1.0="$OUT/$name" \
        fitted-t1.0="$OUT/$name:fitted" 2>&1 | tee "scores-$name.log"
    # reconstructions.png shows the first sixteen test sprites, all circles: every shape.
    "$PY" shapes.py "$OUT/$name" "$data" "$name/shapes.png"
}

for run in ${RUNS:-sprites32-defaults sprites32-40epochs sprites64-12epochs}; do
    case $run in
        sprites32-defaults) one "$run" /tmp/sprites32 ;;
        sprites32-40epochs) one "$run" /tmp/sprites32 --epochs 40 ;;
        sprites32-lr1e-3) one "$run" /tmp/sprites32 --lr 1e-3 ;;
        sprites32-batch16) one "$run" /tmp/sprites32 --batch-size 16 ;;
        sprites64-12epochs | sprites64-12epochs-all-shapes) one "$run" /tmp/sprites64 \
            --limit 2000 --epochs 12 --clip-grad 2457600 ;;
        sprites64-54epochs) one "$run" /tmp/sprites64 \
            --limit 2000 --epochs 54 --clip-grad 2457600 ;;
    esac
done
