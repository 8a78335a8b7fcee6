#!/usr/bin/env bash
# The 64x64 sprites' ex-post prior, other settings than fit-prior's defaults: do the
# fitted samples become shapes with more principal coordinates, more components, or
# fewer fitted groups? Needs the 54-epoch run of
# ../colour-fitted-sprites-2026-12-06/run.sh (RUNS=sprites64-54epochs) in $RUN (weights are
# not committed). Each fit works on a copy of the run's config and weights under $WORK;
# then score.py (a shape classifier's Frechet distance, as for the run's own fit).
# B: the tch-vae binary; PY: a Python with torch (scripts/env.sh's $TCH_VAE_PYTHON);
# FITS: which fits (default: all below).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
RUN=${RUN:-/tmp/colour-fitted-sprites/sprites64-54epochs}
WORK=${WORK:-/tmp/colour-sprite-samples}
DATA=${DATA:-/tmp/sprites64}
here=../colour-fitted-prior-2026-12-06
mkdir -p "$WORK" fits

fit() { # NAME [fit-prior flags]
    local name=$1
    shift
    rm -rf "${WORK:?}/$name"
    mkdir -p "$WORK/$name" "$name"
    cp "$RUN"/{config.json,weights.safetensors} "$WORK/$name"/
    TCH_VAE_CACHE="$WORK/cache" "$B" fit-prior --run "$WORK/$name" --data "$DATA" --threads 2 "$@" \
        2>&1 | tee "fits/$name.log"
    cp "$WORK/$name/fitted-prior.json" "fits/$name.json"
    cp "$WORK/$name/samples-fitted.png" "$name/"
    "$PY" "$here/score.py" "$DATA" "fits/scores-$name.json" "fitted-t1.0=$WORK/$name:fitted" \
        2>&1 | tee "fits/scores-$name.log"
}

for f in ${FITS:-d128 d256 d64-c34 d64-g8}; do
    case $f in
        d128) fit "$f" --dims 128 ;;
        d256) fit "$f" --dims 256 ;;
        d64-c34) fit "$f" --components 34 ;;
        d64-g8) fit "$f" --groups 8 ;;
    esac
done
