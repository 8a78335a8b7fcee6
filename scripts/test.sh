#!/usr/bin/env bash
# The whole test suite: set-up (idempotent, quick when nothing is missing), then the Rust
# tests (unit, integration, end-to-end on CPU) and the Python tests, all seeded.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$repo/scripts/env.sh"
cd "$repo"
bash scripts/setup.sh
# Release profile: the same build as the binary, so libtorch's glue is compiled once.
cargo test --release
"$TCH_VAE_PYTHON" -m pytest -q tests/python
