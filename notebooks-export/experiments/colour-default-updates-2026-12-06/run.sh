#!/usr/bin/env bash
# The colour recipe's default epochs as a number of updates (from this commit on, a
# hierarchical run given no --epochs takes at least 10 epochs and 3,400 updates): on the
# 3,000 32x32 sprites (2,704 training images, 85 batches of 32), `tch-vae train --data
# /tmp/sprites32` and nothing else, started and stopped (SIGINT) once its config.json is
# written; its model and training settings against those of
# ../colour-fitted-sprites-2026-12-06's `--epochs 40` run (built from b90821e, whose
# training steps this commit leaves as they were). The same settings and seed make the same
# run, so that run's numbers and samples are the new default's; its reconstructions.png
# would now show test sprites spread over the four shapes (its shapes.png shows them).
# B: the tch-vae binary; PY: a Python 3; OUT: where the run folder goes.
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
PY=${PY:-python3}
OUT=${OUT:-/tmp/colour-default-updates}
sprites=../colour-fitted-sprites-2026-12-06
[ -d /tmp/sprites32 ] || "$PY" ../../../scripts/make_sprites.py /tmp/sprites32 --size 32 --count 3000
mkdir -p "$OUT"
rm -rf "${OUT:?}/sprites32"
"$B" train --data /tmp/sprites32 --out "$OUT/sprites32" --threads 2 >sprites32.train.log 2>&1 &
pid=$!
until [ -f "$OUT/sprites32/config.json" ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
kill -INT "$pid" || true
wait "$pid" || true
"$PY" - "$OUT/sprites32/config.json" "$sprites/sprites32-40epochs/config.json" <<'PY' | tee sprites32.compare.log
import json, sys
new, old = (json.load(open(p)) for p in sys.argv[1:])
for part in ("model", "train", "data"):
    a, b = new[part], old[part]
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    print(f"{part}: {len(a | b)} settings, differing: {', '.join(differ) or 'none'}")
print(f"epochs: {new['train']['epochs']} (no --epochs) against {old['train']['epochs']} (--epochs 40)")
PY
