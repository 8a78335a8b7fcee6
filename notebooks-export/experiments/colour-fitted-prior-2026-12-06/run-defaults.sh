#!/usr/bin/env bash
# The colour recipe with nothing but --data: 6,000 colour digits
# (scripts/make_colour_digits.py --train 6000 --test 600), the default 10 epochs; the run
# ends by fitting its ex-post prior (samples-fitted.png). Then score.py on its samples.
# B: the tch-vae binary; PY: a Python with torch; OUT: where the run folder goes.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
OUT=${OUT:-/tmp/colour-default}
D6K=${D6K:-/tmp/colour/digits6k.npz}
[ -f "$D6K" ] || "$PY" ../../../scripts/make_colour_digits.py "$D6K" --train 6000 --test 600
name=digits6k-defaults
rm -rf "${OUT:?}/$name"
mkdir -p "$OUT" "$name"
"$B" train --data "$D6K" --out "$OUT/$name" 2>&1 | tee "$name.train.log"
cp "$OUT/$name"/{config.json,metrics.csv,threads.csv,reconstructions.png,samples.png,samples-fitted.png,fitted-prior.json} "$name"/
"$PY" score.py "$D6K" "scores-$name.json" own-t1.0="$OUT/$name" fitted-t1.0="$OUT/$name:fitted" \
    2>&1 | tee "scores-$name.log"
# Before and after, side by side (README): the model's own prior, then the fitted prior.
"$PY" side_by_side.py "$name/samples.png" "$name/samples-fitted.png" "$name/own-vs-fitted.png"
