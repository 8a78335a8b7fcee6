#!/usr/bin/env bash
# The cost of --reproducible portable for a conv model (convolutions without oneDNN), in
# one interleaved run: the same conv training in the machine and the portable mode, at 1
# and 2 threads, ROUNDS rounds, each round in another order; prints every run's training
# seconds (metrics.csv's epoch_seconds) and the medians. The MLP's cost is in
# scripts/benchmark.py --portable.
#
#   bash scripts/numerics_cost.sh [DATA] [ROUNDS] > notebooks-export/reproducibility/conv_cost.log
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin=$repo/target/release/tch-vae
data=${1:-/usr/share/datasets/fashion-mnist}
rounds=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "\$ bash scripts/numerics_cost.sh $data $rounds"
configs=("machine 1" "portable 1" "machine 2" "portable 2")
declare -A times
for r in $(seq 1 "$rounds"); do
  n=${#configs[@]}
  for i in $(seq 0 $((n - 1))); do
    read -r mode threads <<< "${configs[$(( (i + r) % n ))]}"
    out=$work/$mode-$threads-$r
    "$bin" train --data "$data" --limit 6000 --epochs 2 --arch conv --device cpu \
      --threads "$threads" --reproducible "$mode" --out "$out" > /dev/null
    s=$(python3 -c "import csv,sys; print(sum(float(r['epoch_seconds']) for r in csv.DictReader(open(sys.argv[1]))))" "$out/metrics.csv")
    echo "round $r: $mode, $threads thread(s): $s s (2 epochs of 6,000 images)"
    times["$mode $threads"]+="$s "
  done
done
for c in "${configs[@]}"; do
  echo "median $c: $(python3 -c "import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 3))" ${times[$c]}) s"
done
