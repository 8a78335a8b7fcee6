#!/usr/bin/env bash
# Runs the numerics, fast and slow test binaries together, again and again, keeping the
# output of every round that fails.
cd /tmp/flake
export CARGO_TARGET_DIR=/tmp/flake/target
cargo test --release --no-run > /tmp/flake/build.log 2>&1 || exit 1
for round in $(seq 1 100); do
    [ -f /tmp/flake/stop ] && break
    cargo test --release --test numerics > /tmp/flake/r$round-numerics.log 2>&1 & a=$!
    cargo test --release --test slow > /tmp/flake/r$round-slow.log 2>&1 & b=$!
    cargo test --release --test fast > /tmp/flake/r$round-fast.log 2>&1 & c=$!
    wait $a; ra=$?; wait $b; rb=$?; wait $c; rc=$?
    echo "$(date +%T) round $round: numerics $ra slow $rb fast $rc" >> /tmp/flake/rounds.log
    for t in numerics slow fast; do
        grep -q "test result: ok" /tmp/flake/r$round-$t.log && rm /tmp/flake/r$round-$t.log
    done
done
