#!/usr/bin/env bash
# The route of a `tch-vae train` request through the crate's modules (issue 24): traces
# every function entry of a build with gdb on a tiny dataset, then counts the source
# files and concept folders visited, the changes between them, and the climbs back up.
#
#   bash scripts/route.sh [BINARY [GIT_REV]]   # default: target/release/tch-vae, HEAD
#
# BINARY must be a build of GIT_REV (its source tree gives the module of each function).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$repo/scripts/env.sh"
bin="$(realpath "${1:-$repo/target/release/tch-vae}")"
rev="${2:-HEAD}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$TCH_VAE_PYTHON" - "$tmp/tiny.npz" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(0)
images = lambda n: (rng.random((n, 28, 28)) * 255).astype(np.uint8)
np.savez(sys.argv[1], x_train=images(256), y_train=rng.integers(0, 10, 256),
         x_test=images(64), y_test=rng.integers(0, 10, 64))
PY
git -C "$repo" ls-tree -r --name-only "$rev" src | grep '\.rs$' > "$tmp/files"
ROUTE_BINARY="$bin" ROUTE_OUT="$tmp/calls" gdb -q -batch -ex "set pagination off" -ex starti \
    -ex "source $repo/scripts/route_trace.py" -ex continue \
    --args "$bin" train --data "$tmp/tiny.npz" --epochs 1 --batch-size 128 --threads 1 \
    --out "$tmp/run" > "$tmp/gdb.log" 2>&1 || { tail -20 "$tmp/gdb.log"; exit 1; }
echo "# $(date -u +%F) $bin ($rev): train --data tiny.npz (256 images) --epochs 1 --batch-size 128 --threads 1"
python3 "$repo/scripts/route_measure.py" "$rev" "$tmp/calls" "$tmp/files"
