#!/usr/bin/env bash
# Samples of the colour recipe after its default 10 epochs on the 1,500/300 colour digits
# of scripts/make_colour_digits.py: the recipe as it is, with --likelihood logistic instead
# of the mixture, and with --kl-warmup 5; then (WARMUP40=1) the warm-up over 40 epochs
# beside ../colour-defaults-2026-12-05/digits-hierarchical; (CLIP40=1) VDVAE's clipping
# (200 per value times 3,072) over 40 epochs, beside the same; (DEPTH40=1) more groups at
# 1x1 and fewer at 16x16 and 32x32 (--depth 4,2,2,1,1) over 40 epochs. --clip-grad 0 where
# no clipping is given: made before clipping became the hierarchical default (2026-12-06). Samples at temperatures 1
# and 0.6 (seed 1). OUT: where the run folders go.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
OUT=${OUT:-/tmp/colour-samples}
[ -f "$DATA" ] || python3 ../../../scripts/make_colour_digits.py "$DATA"
go() {
    name=$1
    shift
    rm -rf "${OUT:?}/$name"
    mkdir -p "$OUT" "$name"
    "$B" train --data "$DATA" --out "$OUT/$name" --threads 2 "$@" 2>&1 | tee "$name.train.log"
    cp "$OUT/$name"/{config.json,metrics.csv,reconstructions.png} "$name"/
    for t in 1.0 0.6; do
        "$B" sample --run "$OUT/$name" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
    done
}
if [ "${DEPTH40:-}" = 1 ]; then
    go depth42211-40epochs --depth 4,2,2,1,1 --epochs 40 --clip-grad 0
elif [ "${CLIP40:-}" = 1 ]; then
    go clip-40epochs --clip-grad 614400 --epochs 40
elif [ "${WARMUP40:-}" = 1 ]; then
    go warmup5-40epochs --kl-warmup 5 --epochs 40 --clip-grad 0
else
    go recipe-10epochs --clip-grad 0
    go logistic-10epochs --arch hierarchical --likelihood logistic --clip-grad 0
    go warmup5-10epochs --kl-warmup 5 --clip-grad 0
fi
