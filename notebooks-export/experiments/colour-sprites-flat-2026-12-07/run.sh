#!/usr/bin/env bash
# Sprites whose samples look like sprites: a flat latent (`--arch conv --likelihood
# logistic`, 20 latent dimensions) trained for many updates on many sprites, then the
# ex-post prior (`tch-vae fit-prior`) fitted to its codes. The colour recipe's hierarchy
# (../colour-fitted-sprites-2026-12-06) reconstructs the sprites and wins on bits/dim, but
# its samples stay blobs: a Gaussian mixture over its spatial latent maps averages sprites
# at other places. A flat latent's 20 values are what a Gaussian mixture fits well.
# - flat32-20k: 20,000 32x32 sprites (17,970 training, 2,030 test), 100 epochs of 141
#   batches of 128 (14,100 updates);
# - flat32-3k: the 3,000 32x32 sprites the hierarchy was trained on (2,704 training, 296
#   test), 400 epochs of 22 batches (8,800 updates): is it the model or the data?
# - flat64-20k: 20,000 64x64 sprites, 60 epochs (8,460 updates).
# Then eval (k = 20), fit-prior at its defaults, the side-by-side pictures, score.py's
# Frechet distances (a shape classifier trained on the 20,000-sprite set's training images,
# so every 32x32 row is measured by one yardstick; the hierarchy's 40-epoch run of
# ../colour-fitted-sprites-2026-12-06 is scored by it too, as `hier32-3k`, if its folder is
# at $OUT/../colour-fitted-sprites/sprites32-40epochs) and shapes.py's four test sprites of
# each shape.
# flat32-20k and flat64-20k were trained by these commands from a shell (--out /tmp/flat20k and
# /tmp/flat64, then moved to $OUT), their logs copied; the rest by this script.
# RUNS: which runs (default: the three trainings; also `components`, `hier32-3k`); TRAINED=1: the runs are trained, go on from eval;
# B: the tch-vae binary; PY: a Python with torch and PIL; OUT: where run folders go;
# THREADS: CPU threads (2: each run had the machine to itself, but see the README's notes).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
OUT=${OUT:-/tmp/colour-sprites-flat}
T=${THREADS:-2}
prior=../colour-fitted-prior-2026-12-06
sprites=../colour-fitted-sprites-2026-12-06
[ -d /tmp/sprites32 ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites32 --size 32 --count 3000
[ -d /tmp/sprites32-20k ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites32-20k --size 32 --count 20000
[ -d /tmp/sprites64-20k ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites64-20k --size 64 --count 20000

one() { # NAME DATA SCORE_DATA [train flags...]
    local name=$1 data=$2 score_data=$3
    shift 3
    mkdir -p "$OUT" "$name"
    if [ "${TRAINED:-}" != 1 ]; then
        rm -rf "${OUT:?}/$name"
        "$B" train --data "$data" --out "$OUT/$name" --threads "$T" --arch conv \
            --likelihood logistic "$@" 2>&1 | tee "$name.train.log"
    fi
    "$B" eval --run "$OUT/$name" --threads "$T" --iw-samples 20 2>&1 | tee "$name.eval.log"
    "$B" fit-prior --run "$OUT/$name" --threads "$T" 2>&1 | tee "$name.fit.log"
    cp "$OUT/$name"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,samples-fitted.png,fitted-prior.json} "$name"/
    "$PY" "$prior/side_by_side.py" "$name/samples.png" "$name/samples-fitted.png" "$name/own-vs-fitted.png"
    "$PY" "$prior/score.py" "$score_data" "scores-$name.json" own-t1.0="$OUT/$name" \
        fitted-t1.0="$OUT/$name:fitted" 2>&1 | tee "scores-$name.log"
    "$PY" "$sprites/shapes.py" "$OUT/$name" "$data" "$name/shapes.png"
}

for run in ${RUNS:-flat32-20k flat32-3k flat64-20k}; do
    case $run in
        flat32-20k) one "$run" /tmp/sprites32-20k /tmp/sprites32-20k --epochs 100 ;;
        flat32-3k) one "$run" /tmp/sprites32 /tmp/sprites32-20k --epochs 400 ;;
        flat64-20k) one "$run" /tmp/sprites64-20k /tmp/sprites64-20k --epochs 60 ;;
        components) # flat32-20k's prior refitted with more components than auto tries
            for c in 55 89; do
                rm -rf "$OUT/flat32-20k-c$c"
                cp -r "$OUT/flat32-20k" "$OUT/flat32-20k-c$c"
                "$B" fit-prior --run "$OUT/flat32-20k-c$c" --threads "$T" --components $c 2>&1 \
                    | tee "flat32-20k-c$c.fit.log"
                mkdir -p "flat32-20k-c$c"
                cp "$OUT/flat32-20k-c$c"/{samples-fitted.png,fitted-prior.json} "flat32-20k-c$c"/
                "$PY" "$prior/score.py" /tmp/sprites32-20k "scores-flat32-20k-c$c.json" \
                    fitted-t1.0="$OUT/flat32-20k-c$c:fitted" 2>&1 | tee "scores-flat32-20k-c$c.log"
            done ;;
        hier32-3k) # the hierarchy's 40-epoch run, scored by the 20,000-sprite set's classifier
            h=$OUT/../colour-fitted-sprites/sprites32-40epochs
            "$PY" "$prior/score.py" /tmp/sprites32-20k scores-hier32-3k.json own-t1.0="$h" \
                fitted-t1.0="$h:fitted" 2>&1 | tee scores-hier32-3k.log ;;
    esac
done
