#!/usr/bin/env bash
# The standard likelihood benchmark: an MLP VAE on dynamically binarised images, then
# the importance-weighted test -log p(x) (Burda et al. 2015). On real MNIST this is the
# number of Burda et al.'s Table 1 (86.76 nats for their 1-layer VAE, 784-200-200-50).
#
#   bash scripts/experiment_binarized.sh [DATA_DIR] [EPOCHS] [K] [OUT]
#   DATA_DIR  MNIST-format folder        default /usr/share/datasets/fashion-mnist
#   EPOCHS    training epochs            default 100
#   K         importance samples         default 5000 (the standard protocol)
#   OUT       run folder                 default models/<data>-binarized-<EPOCHS>ep
#
# The model is Burda et al.'s 1-layer VAE shape (two hidden layers of 200, 50 latent
# units; ReLU here, tanh there), batch 128, Adam 1e-3.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${1:-/usr/share/datasets/fashion-mnist}"
epochs="${2:-100}"
k="${3:-5000}"
out="${4:-$repo/models/$(basename "$data")-binarized-${epochs}ep}"
bin="$repo/target/release/tch-vae"
[ -x "$bin" ] || (cd "$repo" && cargo build --release)
if [ ! -f "$out/weights.safetensors" ]; then
  "$bin" train --data "$data" --out "$out" --epochs "$epochs" --binarize dynamic \
    --hidden 200,200 --latent 50
fi
"$bin" eval --run "$out" --iw-samples "$k"
