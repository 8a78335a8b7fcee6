#!/usr/bin/env bash
# An ex-post prior (`tch-vae fit-prior`) for three trained runs of the colour recipe, and
# the sweep that chose its defaults. Needs the runs that these scripts write (weights are
# not committed):
#   ../colour-digits-6k-2026-12-06/run.sh        -> $RUNS/recipe-30epochs (6,000 digits)
#   ../colour-digits-6k-2026-12-06/run-1500.sh   -> $RUNS/recipe1500-40epochs (1,500 digits)
#   ../colour-deep-groups-2026-12-06/run.sh      -> $DEEP/depth24621-latent4-40epochs
# Each fit works on a copy of the run's config and weights under $WORK, so the runs keep
# their files. Then score.py: a digit classifier's view of 1,000 samples of each kind.
# B: the tch-vae binary; PY: a Python with torch (scripts/env.sh's $TCH_VAE_PYTHON).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
RUNS=${RUNS:-/tmp/colour-6k}
DEEP=${DEEP:-/tmp/colour-deep}
WORK=${WORK:-/tmp/colour-fitted}
PY=${PY:-python3}
D6K=${D6K:-/tmp/colour/digits6k.npz}
D1500=${D1500:-/tmp/colour/digits.npz}
mkdir -p "$WORK" fits

# fit NAME RUN DATA [fit-prior flags]: a copy of RUN with its prior; its report, its
# samples (seed 0, as fit-prior draws them) and its log kept here.
fit() {
    local name=$1 run=$2 data=$3
    shift 3
    rm -rf "${WORK:?}/$name"
    mkdir -p "$WORK/$name"
    cp "$run"/{config.json,weights.safetensors} "$WORK/$name"/
    "$B" fit-prior --run "$WORK/$name" --data "$data" --threads 2 "$@" 2>&1 | tee "fits/$name.log"
    cp "$WORK/$name/fitted-prior.json" "fits/$name.json"
}

# The defaults (--components auto, --dims 64) on each run, with pictures.
fit digits6k "$RUNS/recipe-30epochs" "$D6K"
fit digits1500 "$RUNS/recipe1500-40epochs" "$D1500"
fit digits1500-deep "$DEEP/depth24621-latent4-40epochs" "$D1500"
for name in digits6k digits1500 digits1500-deep; do
    mkdir -p "$name"
    cp "$WORK/$name/samples-fitted.png" "$name/samples-fitted-t1.0.png"
    for t in 0.8; do
        "$B" sample --run "$WORK/$name" --fitted-prior --seed 0 --temperature "$t" \
            --output "$name/samples-fitted-t$t.png"
    done
    "$B" sample --run "$WORK/$name" --fitted-prior --seed 0 --picture mean \
        --output "$name/samples-fitted-t1.0-mean.png"
    # The model's own prior, same seed, for the comparison.
    "$B" sample --run "$WORK/$name" --seed 0 --output "$name/samples-own-t1.0.png"
done

# The sweep on the 6,000-digit run: components at 256 and 64 coordinates, coordinates at 5.
for d in 256 64; do
    for c in 1 2 3 5 8 13 20; do
        fit "sweep-c$c-d$d" "$RUNS/recipe-30epochs" "$D6K" --components "$c" --dims "$d"
    done
done
for d in 32 128 512; do
    fit "sweep-c5-d$d" "$RUNS/recipe-30epochs" "$D6K" --components 5 --dims "$d"
done

# The classifier's scores (score.py says what each means).
specs=(own-t1.0="$WORK/digits6k" own-t0.8="$WORK/digits6k:0.8" fitted-t1.0="$WORK/digits6k:fitted"
    fitted-t0.8="$WORK/digits6k:fitted:0.8")
for d in 256 64; do
    for c in 1 2 3 5 8 13 20; do specs+=("sweep-c$c-d$d=$WORK/sweep-c$c-d$d:fitted"); done
done
for d in 32 128 512; do specs+=("sweep-c5-d$d=$WORK/sweep-c5-d$d:fitted"); done
"$PY" score.py "$D6K" scores-digits6k.json "${specs[@]}" 2>&1 | tee scores-digits6k.log
"$PY" score.py "$D1500" scores-digits1500.json own-t1.0="$WORK/digits1500" \
    fitted-t1.0="$WORK/digits1500:fitted" deep-own-t1.0="$WORK/digits1500-deep" \
    deep-fitted-t1.0="$WORK/digits1500-deep:fitted" 2>&1 | tee scores-digits1500.log

# Before and after, side by side: the model's own prior, then the fitted prior.
for name in digits6k digits1500 digits1500-deep; do
    "$PY" side_by_side.py "$name/samples-own-t1.0.png" "$name/samples-fitted-t1.0.png" \
        "$name/own-vs-fitted.png"
done
