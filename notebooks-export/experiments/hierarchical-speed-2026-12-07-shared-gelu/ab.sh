#!/bin/bash
# tch-vae before and after 8f0e62a (each gelu once, p and q split), interleaved: the
# benchmark's model and data (w64 d2 z8, mixture of 10, 500 colour digits, batch 32),
# ROUNDS rounds of each build, each run's epochs after the first. Builds: BEFORE and
# AFTER, release binaries of 0182f69 and 8f0e62a.
#   BEFORE=/tmp/tch-vae-base AFTER=/tmp/tch-vae-new THREADS=2 bash ab.sh > ab.log
set -euo pipefail
ROUNDS=${ROUNDS:-4}; EPOCHS=${EPOCHS:-4}; THREADS=${THREADS:-2}
echo "# $(date -u '+%F %T UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $THREADS threads, $ROUNDS rounds of $EPOCHS epochs"
for r in $(seq "$ROUNDS"); do
  for name in BEFORE AFTER; do
    out=$(mktemp -d)
    "${!name}" train --data /tmp/colour/digits.npz --out "$out/run" --arch hierarchical \
      --likelihood logistic-mixture --width 64 --depth 2 --latent 8 --batch-size 32 \
      --epochs "$EPOCHS" --threads "$THREADS" --limit 500 --seed 42 >/dev/null 2>&1
    echo "round $r $name epoch seconds: $(python3 -c "
import csv, sys; rows = list(csv.DictReader(open(sys.argv[1])))
print(' '.join(f\"{float(r['epoch_seconds']):.2f}\" for r in rows[1:]), '| test loss', rows[-1]['test_loss'])" "$out/run/metrics.csv")"
    rm -rf "$out"
  done
done
echo "# $(date -u '+%F %T UTC') done"
