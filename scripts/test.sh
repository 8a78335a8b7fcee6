#!/usr/bin/env bash
# The whole test suite: set-up (idempotent, quick when nothing is missing), then the Rust
# tests and the Python tests, all seeded, on the CPU.
#
#   bash scripts/test.sh          # everything: the fast tier, the slow tier, pytest (and
#                                 # the package's tests on the newest torch too)
#   bash scripts/test.sh --fast   # the fast tier only (unit tests and tests/fast), under
#                                 # a minute once built: for every change
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$repo/scripts/env.sh"
cd "$repo"
bash scripts/setup.sh
# Release profile: the same build as the binary, so libtorch's glue is compiled once.
if [ "${1:-}" = --fast ]; then
    cargo test --release --lib --bins --test fast
    exit 0
fi
cargo test --release --lib --bins --test fast --test slow
cargo test --release --doc
# The numerics tier one test at a time, so that its quiet runs are quiet and its busy runs
# have exactly one busy core beside them (run together, each case would have the others'
# trainings and busy cores around it too).
cargo test --release --test numerics -- --test-threads=1
"$TCH_VAE_PYTHON" -m pytest -q tests/python
# The package (load_run, export_pt2, vae.pt) on the newest torch on PyPI as well.
"$TCH_VAE_PYTHON_NEXT" -m pytest -q tests/python/test_package.py
