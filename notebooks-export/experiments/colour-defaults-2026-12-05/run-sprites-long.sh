#!/usr/bin/env bash
# The colour recipe on the 3,000 32x32 sprites of run-sprites.sh, trained 40 epochs instead of
# the default 10 (same defaults otherwise; the cosine spans the 40 epochs). THREADS: CPU
# threads (1 here: the run shared the 2 cores with another). RESUME=1 continues a stopped run
# from its checkpoint (its log appended): it was stopped at epoch 28 on 2026-12-05 and
# resumed the next session.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
data=/tmp/sprites32
[ -d "$data" ] || "${PY:-python3}" ../../../scripts/make_sprites.py "$data" --size 32 --count 3000
name=${NAME:-sprites32-40epochs}
out=/tmp/colour-defaults/$name
if [ "${RESUME:-}" = 1 ]; then
    TCH_VAE_CACHE=/tmp/colour-defaults/cache "$B" train --resume "$out" --epochs 40 \
        --threads "${THREADS:-1}" 2>&1 | tee -a "$name.train.log"
else
    rm -rf "$out"
    # FLAGS: extra train flags (run-sprites-clip.sh gives its clipping here; without,
    # --clip-grad 0: made before clipping became the hierarchical default, 2026-12-06).
    # shellcheck disable=SC2086
    TCH_VAE_CACHE=/tmp/colour-defaults/cache "$B" train --data "$data" --out "$out" --epochs 40 \
        ${FLAGS:---clip-grad 0} --threads "${THREADS:-1}" 2>&1 | tee "$name.train.log"
fi
"$B" eval --run "$out" --threads "${THREADS:-1}" --iw-samples 20 2>&1 | tee "$name.eval.log"
mkdir -p "$name"
cp "$out"/{config.json,metrics.csv,eval.json,reconstructions.png,samples.png,loss.svg} "$name"/
for t in 0.8 0.5; do
    "$B" sample --run "$out" --seed 1 --temperature "$t" --output "$name/samples-t$t.png"
done
