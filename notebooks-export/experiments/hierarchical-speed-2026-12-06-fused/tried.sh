#!/usr/bin/env bash
# What else was tried for the hierarchical model's CPU epoch (SPEED.md, "The mixture in one
# pass"), each beside the plain run, 2 epochs on the benchmark's model and data; the second
# epoch's seconds are the ones to read. B: the tch-vae binary. Run on a quiet machine.
set -uo pipefail
B=${B:-target/release/tch-vae}
DATA=${DATA:-/tmp/colour/digits.npz}
run() {
    local out
    out=$(mktemp -d)/run
    env "$@" "$B" train --data "$DATA" --out "$out" --arch hierarchical --likelihood logistic-mixture \
        --width 64 --depth 2 --latent 8 --epochs 2 --limit 500 --seed 42 \
        $FLAGS 2>&1 | grep -oE "epoch [0-9]/2 .*\| [0-9.]+ s" | sed 's/|.*|//' | tr '\n' ' '
    echo "| $* $FLAGS"
}
for round in 1 2; do
    echo "round $round"
    FLAGS="--threads 2 --batch-size 32" run X=1
    FLAGS="--threads 1 --batch-size 32" run X=1
    FLAGS="--nproc 2 --batch-size 16" run X=1
    FLAGS="--threads 2 --batch-size 32" run OMP_WAIT_POLICY=PASSIVE
    FLAGS="--threads 2 --batch-size 32 --reproducible portable" run X=1
done
echo "1x1 convolutions against matrix products (python conv_vs_matmul.py):"
"${PY:-python3}" "$(dirname "$0")/conv_vs_matmul.py"
