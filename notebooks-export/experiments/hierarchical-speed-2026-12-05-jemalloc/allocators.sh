#!/usr/bin/env bash
# Epoch seconds of the hierarchical model (the benchmark's w64 d2 z8, mixture of 10, 500 colour
# digits, batch 32, 2 threads, 3 epochs) under each allocator, one run each in turn:
# GLIBC_BUILD: a tch-vae built before jemalloc was linked (19bf19c), B: this build, whose
# jemalloc options a MALLOC_CONF of the environment overrides; then the default MLP and the
# conv model, whose epochs do not move.
set -euo pipefail
B=${B:-../../../target/release/tch-vae}
GLIBC_BUILD=${GLIBC_BUILD:?a build of 19bf19c}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--data /tmp/colour/digits.npz --arch hierarchical --likelihood logistic-mixture --width 64
       --depth 2 --latent 8 --batch-size 32 --epochs 3 --threads 2 --limit 500 --seed 42)
one() {  # name, then the command's environment and binary
    local name=$1; shift
    rm -rf "$work/run"
    env "$@" train "${flags[@]}" --out "$work/run" > "$work/log" 2>&1
    echo "$name: $(grep -o '[0-9.]* s, [0-9]* img/s' "$work/log" | cut -d' ' -f1 | tr '\n' ' ')s; $(grep -o 'train [0-9.]*' "$work/log" | tail -1)"
}
lscpu | grep "Model name"
date -u
for round in 1 2; do
    echo "round $round"
    one "glibc malloc" "$GLIBC_BUILD"
    one "jemalloc, pages kept (tch-vae's default)" "$B"
    one "jemalloc, its own default (pages returned after 10 s)" MALLOC_CONF=dirty_decay_ms:10000,muzzy_decay_ms:0 "$B"
done
# The default MLP on 20,000 Fashion-MNIST images and the conv model on 5,000, 2 epochs each.
for model in mlp conv; do
    if [ $model = mlp ]; then flags=(--limit 20000 --epochs 2); else flags=(--arch conv --limit 5000 --epochs 2); fi
    one "$model, glibc malloc" "$GLIBC_BUILD"
    one "$model, jemalloc" "$B"
done
