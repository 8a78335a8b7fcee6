#!/usr/bin/env bash
# Where a hierarchical run's peak memory comes from: the benchmark's tch-vae command (2
# epochs), its VmHWM (peak resident memory so far) and VmRSS polled every half second, then
# each output file's time of writing, so that a jump in the poll is placed between two files.
# B: the tch-vae binary; NAME: the logs' name (peak-NAME.*).
set -euo pipefail
cd "$(dirname "$0")"
B=${B:-../../../target/release/tch-vae}
NAME=${NAME:?e.g. the build's commit}
OUT=/tmp/poll-peak-$NAME
rm -rf "$OUT"
"$B" train --data /tmp/colour/digits.npz --out "$OUT" --arch hierarchical \
    --likelihood logistic-mixture --width 64 --depth 2 --latent 8 --batch-size 32 --epochs 2 \
    --threads 2 --limit 500 --seed 42 > "peak-$NAME.train.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
    echo "$(date +%s.%N | cut -c1-14) $(grep -E 'VmHWM|VmRSS' /proc/$pid/status 2>/dev/null | tr -s ' \t' ' ' | tr '\n' ' ')"
    sleep 0.5
done > "peak-$NAME.poll.log"
wait $pid
for f in "$OUT"/*; do echo "$(stat -c %.Y "$f") $(basename "$f")"; done | sort > "peak-$NAME.files.log"
