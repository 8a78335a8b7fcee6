#!/usr/bin/env bash
# Fingerprints of a short run of the default model and of one run per variant: the SHA-256
# of weights.safetensors and of metrics.csv without its wall-clock column, and of the
# evaluation's numbers. Run it before and after a change that must not change behaviour
# (issue 24's redesign) and compare the two outputs line by line.
#
#   bash scripts/same_numbers.sh [BINARY] > before.txt
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$repo/target/release/tch-vae}"
data="${DATA:-/usr/share/datasets/fashion-mnist}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
common=(--data "$data" --limit 1024 --epochs 2 --threads 2 --seed 7)
variants=(
    "default|"
    "iwae|--objective iwae --k 5"
    "vamp|--prior vamp --pseudo-inputs 50"
    "conditional|--conditional"
    "gaussian|--likelihood gaussian --beta 0.5 --kl-warmup 1"
    "logistic|--likelihood logistic --activation tanh --free-bits 0.1"
    "conv|--arch conv --binarize dynamic --clip-grad 5"
)
echo "# $(date -u +%F) $(uname -m) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# $bin ${common[*]}"
for v in "${variants[@]}"; do
    name="${v%%|*}"
    read -r -a flags <<< "${v#*|}"
    run="$tmp/$name"
    "$bin" train "${common[@]}" "${flags[@]}" --out "$run" > "$tmp/$name.log" 2>&1 \
        || { cat "$tmp/$name.log"; exit 1; }
    "$bin" eval --run "$run" --iw-samples 10 --limit 500 > /dev/null 2>&1 || { echo "$name: eval failed"; exit 1; }
    weights=$(sha256sum "$run/weights.safetensors" | cut -c1-16)
    # Every column but the wall-clock one.
    metrics=$(python3 -c "
import csv
for row in csv.DictReader(open('$run/metrics.csv')):
    row.pop('epoch_seconds'); print(sorted(row.items()))" | sha256sum | cut -c1-16)
    eval_print=$(python3 -c "
import json,sys
d=json.load(open('$run/eval.json'))
d.pop('iw_seconds'); d.pop('data')
print(json.dumps(d,sort_keys=True))" | sha256sum | cut -c1-16)
    printf '%-12s weights %s  metrics %s  eval %s\n' "$name" "$weights" "$metrics" "$eval_print"
done
