#!/usr/bin/env bash
# The prepared script for a session on the GPU machine (../shared/GPU.md), whose time is
# short: one call runs every CUDA check and benchmark, and keeps going past a failure so
# that one run reports everything, then exits 1 if any step failed.
#
#   bash scripts/gpu_check.sh prepare   # here: a stripped binary and the dataset into .gpu/
#   bash scripts/gpu_check.sh run       # there, with carry [".gpu"]; results under $OUT
#
# Steps of `run`: the device's name; 5 epochs on CUDA (with checkpoints; steps replayed
# from a CUDA graph, and the count of replays checked), again with --no-cuda-graphs (the
# losses must agree), the same for --arch conv (1 epoch), then --arch conv with
# --deterministic twice eagerly and once replayed (all three identical), and on the CPU with the same
# seed, whose test losses must agree within 1%; export, then vae.pt loaded
# in the machine's Python on the CPU and on CUDA, its parameters equal to
# weights.safetensors and its outputs equal to the PyTorch reference module's to 1e-5;
# --resume for one more epoch; eval on the 10,000 test images (k = 5000 on CUDA), timed;
# the fault check's CUDA path (a learning rate that makes the loss non-finite must stop
# with exit code 1); the benchmark against the PyTorch eager reference at batch 128 and
# 1024 (PyTorch eager, eager with fused Adam, and torch.compile(mode="reduce-overhead"),
# PyTorch's own CUDA graphs); this round's variants (conditional, VampPrior, IWAE, tanh, the
# Burda learning-rate schedule) replayed against eager, loaded in Python on both devices,
# resumed and evaluated; the MNIST protocol of Burda et al. shortened to BURDA_EPOCHS
# (default 13). Everything comes back as $OUT/summary.txt and $OUT/results.tar.gz; STEPS="name ..."
# runs only the steps named. A dry run here:
#   DEVICE=cpu LIMIT=3000 EPOCHS=1 OUT=/tmp/gpu-dry bash scripts/gpu_check.sh run
set -uo pipefail
cd "$(dirname "$0")/.."
GPU_DIR=.gpu

if [ "${1:-}" = prepare ]; then
    set -e
    cargo build --release
    readelf -d target/release/tch-vae | grep -q libtorch_cuda.so \
        || { echo "target/release/tch-vae does not link libtorch_cuda.so: CUDA would be unavailable" >&2; exit 1; }
    mkdir -p "$GPU_DIR/data"
    strip -o "$GPU_DIR/tch-vae" target/release/tch-vae   # 75 MB with line tables, 3 MB stripped
    cp /usr/share/datasets/fashion-mnist/*.gz "$GPU_DIR/data/"
    # Full MNIST for the protocol of Burda et al. (scripts/burda_mnist.py).
    mkdir -p "$GPU_DIR/mnist"
    cp ../shared/data/mnist/*-ubyte* "$GPU_DIR/mnist/"
    # A small colour folder (2,000 32x32 RGB sprites, about 3 MB) for the colour steps.
    rm -rf "$GPU_DIR/sprites"
    . scripts/env.sh  # the project's Python (numpy, Pillow) from scripts/setup.sh
    "${PYTHON:-$TCH_VAE_PYTHON}" scripts/make_sprites.py "$GPU_DIR/sprites" --count 2000 --size 32
    # The Python side of the checks: the package and the comparison scripts travel as
    # tracked files (scripts/), and run from the repository root there.
    du -sh "$GPU_DIR"
    exit 0
fi
[ "${1:-}" = run ] || { echo "usage: $0 prepare|run" >&2; exit 2; }

OUT=${OUT:-/tmp/gpu-check}
# Runs and logs are written to WORK; only a few files may come back from the device
# machine, so after every step WORK is packed into $OUT/results.tar.gz (without the
# checkpoints and the CPU run's weights) beside summary.txt.
WORK=${WORK:-/tmp/gpu-work}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-5}
PY=${PYTHON:-python3}
BIN=$GPU_DIR/tch-vae
DATA=$GPU_DIR/data
LIMIT_ARGS=()
[ -n "${LIMIT:-}" ] && LIMIT_ARGS=(--limit "$LIMIT")
rm -rf "$WORK"
mkdir -p "$OUT" "$WORK"
export LD_LIBRARY_PATH="$($PY -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib:${LD_LIBRARY_PATH:-}"
# `run` below may not exit on a failed step: each step's status goes to summary.txt.
summary="$WORK/summary.txt"
: > "$summary"
failed=0

pack() {
    # Weights, modules and checkpoints stay behind: at most 16 MiB come back per file.
    tar -czf "$OUT/results.tar.gz.part" -C "$WORK" --exclude=checkpoint.safetensors \
        --exclude='weights.safetensors' --exclude='vae.pt' --exclude=cache . \
        && mv "$OUT/results.tar.gz.part" "$OUT/results.tar.gz"
    cp "$summary" "$OUT/summary.txt"
}

step() {
    local name=$1
    shift
    # STEPS="a b" runs only the steps named (a shorter rerun when device time is short).
    [[ -n "${STEPS:-}" && " $STEPS " != *" $name "* ]] && return 0
    local start=$SECONDS
    if "$@" > "$WORK/$name.log" 2>&1; then
        echo "ok   $name ($((SECONDS - start)) s)" | tee -a "$summary"
    else
        echo "FAIL $name (exit $?, $((SECONDS - start)) s); last lines of $name.log:" | tee -a "$summary"
        tail -15 "$WORK/$name.log" | tee -a "$summary"
        failed=$((failed + 1))
    fi
    pack
}

# The fault check must refuse to go on: exit code 1 and a message naming the batch.
expect_fault() {
    local code=0
    "$BIN" train --device "$DEVICE" --data "$DATA" --epochs 1 --lr 1e12 --out "$WORK/fault" \
        "${LIMIT_ARGS[@]}" || code=$?
    echo "exit code $code"
    [ "$code" = 1 ]
}

# The comparisons are scripts/gpu_checks.py's subcommands.
same_loss() { "$PY" scripts/gpu_checks.py same-loss "$WORK/run" "$WORK/cpu-run"; }
graph_vs_eager() { "$PY" scripts/gpu_checks.py graph-vs-eager "$WORK/$1" "$WORK/$2"; }
identical() { "$PY" scripts/gpu_checks.py identical "$WORK/$1" "$WORK/$2"; }
differences() { "$PY" scripts/gpu_checks.py differences "$WORK/$1" "$WORK/$2"; }
load_in_python() { "$PY" scripts/gpu_checks.py load-in-python "$WORK/run" "$DEVICE"; }

# Every full batch after the first 3 of each epoch must have been replayed from the graph.
replay_count() {
    local images=${LIMIT:-60000}
    local expected=$((EPOCHS * (images / 128 - 3)))
    grep "replayed from CUDA graphs" "$WORK/train_cuda.log"
    grep -q "^$expected training steps replayed" "$WORK/train_cuda.log" \
        || { echo "expected $expected replayed steps"; [ "$DEVICE" = cpu ]; }
}

{ nvidia-smi 2>/dev/null || echo "no nvidia-smi"; echo "$(nproc) CPU cores"; "$PY" -c 'import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())'; } > "$WORK/device.txt" 2>&1
cat "$WORK/device.txt"
step train_cuda "$BIN" train --device "$DEVICE" --data "$DATA" --epochs "$EPOCHS" \
    --checkpoint-every 200 --out "$WORK/run" "${LIMIT_ARGS[@]}"
step train_cuda_eager "$BIN" train --device "$DEVICE" --data "$DATA" --epochs "$EPOCHS" \
    --no-cuda-graphs --out "$WORK/eager-run" "${LIMIT_ARGS[@]}"
step train_cpu "$BIN" train --device cpu --data "$DATA" --epochs "$EPOCHS" --out "$WORK/cpu-run" \
    "${LIMIT_ARGS[@]}"
step same_loss same_loss
step graph_vs_eager graph_vs_eager run eager-run
step replay_count replay_count
# The convolutional encoder and decoder (cuDNN kernels inside the graph), one epoch each way.
for mode in graph eager; do
    flag=(); [ $mode = eager ] && flag=(--no-cuda-graphs)
    step "train_conv_$mode" "$BIN" train --device "$DEVICE" --data "$DATA" --epochs 1 --arch conv \
        "${flag[@]}" --out "$WORK/conv-$mode" "${LIMIT_ARGS[@]}"
done
# Without --deterministic, cuDNN's convolution gradients vary from run to run (on the
# H200: losses 0.16% apart after one epoch), so these two are shown, not judged; the
# deterministic runs below are the check.
step conv_graph_vs_eager differences conv-graph conv-eager
# With cuDNN's deterministic algorithms (--deterministic), two eager conv runs must agree in
# every digit, and so must the graph replay of the same steps.
for mode in eager-a eager-b graph; do
    flag=(--deterministic); [ $mode != graph ] && flag+=(--no-cuda-graphs)
    step "train_conv_det_$mode" "$BIN" train --device "$DEVICE" --data "$DATA" --epochs 1 --arch conv \
        "${flag[@]}" --out "$WORK/conv-det-$mode" "${LIMIT_ARGS[@]}"
done
step conv_det_eager_twice identical conv-det-eager-a conv-det-eager-b
# Colour images from a folder, the logistic likelihood, uint8 batches: graph replay against
# eager steps, both with cuDNN's deterministic algorithms, must agree in every digit.
for mode in eager graph; do
    flag=(--deterministic); [ $mode = eager ] && flag+=(--no-cuda-graphs)
    step "train_colour_$mode" env TCH_VAE_CACHE="$WORK/cache" "$BIN" train --device "$DEVICE" \
        --data "$GPU_DIR/sprites" --epochs 2 --arch conv --likelihood logistic --hidden 64 \
        --latent 8 "${flag[@]}" --out "$WORK/colour-$mode"
done
step colour_graph_vs_eager identical colour-graph colour-eager
# The IWAE objective (k = 5 decodes per image) inside the recorded step: replayed against eager.
for mode in eager graph; do
    flag=(); [ $mode = eager ] && flag+=(--no-cuda-graphs)
    step "train_iwae_$mode" "$BIN" train --device "$DEVICE" --data "$DATA" --epochs 2 \
        --objective iwae --k 5 --hidden 200,200 --latent 50 "${flag[@]}" --out "$WORK/iwae-$mode" \
        "${LIMIT_ARGS[@]}"
done
step iwae_graph_vs_eager identical iwae-graph iwae-eager
# The variants of this round in one run (conditional, VampPrior, IWAE, tanh) with the Burda
# learning-rate schedule, whose rate (a device tensor the graph reads) changes at epoch 2:
# replayed against eager, identical; then vae.pt on CUDA and CPU, resume, eval.
VARIANT=(--conditional --prior vamp --pseudo-inputs 100 --objective iwae --k 5
         --activation tanh --lr-schedule burda --hidden 200,200 --latent 50)
for mode in eager graph; do
    flag=(); [ $mode = eager ] && flag+=(--no-cuda-graphs)
    step "train_variant_$mode" "$BIN" train --device "$DEVICE" --data "$DATA" --epochs 2 \
        "${VARIANT[@]}" "${flag[@]}" --out "$WORK/variant-$mode" "${LIMIT_ARGS[@]}"
done
step variant_graph_vs_eager identical variant-graph variant-eager
step variant_load_in_python "$PY" scripts/gpu_checks.py load-in-python "$WORK/variant-graph" "$DEVICE"
step variant_resume "$BIN" train --resume "$WORK/variant-graph" --epochs 3 --device "$DEVICE"
step variant_eval "$BIN" eval --run "$WORK/variant-graph" --device "$DEVICE" --data "$DATA"
# The MNIST protocol of Burda et al. (scripts/burda_mnist.py), shortened to BURDA_EPOCHS.
step burda "$PY" scripts/burda_mnist.py --binary "$BIN" --data "$GPU_DIR/mnist" --device "$DEVICE" \
    --epochs "${BURDA_EPOCHS:-13}" --rows "${BURDA_ROWS:-vae,iwae5}" --out "$WORK/burda"
step conv_det_graph_vs_eager identical conv-det-graph conv-det-eager-a
step export "$BIN" export --run "$WORK/run"
step load_in_python load_in_python
step resume "$BIN" train --resume "$WORK/run" --epochs $((EPOCHS + 1)) --device "$DEVICE"
step eval "$BIN" eval --run "$WORK/run" --device "$DEVICE" --data "$DATA"
step fault_check expect_fault
BENCH=("$PY" scripts/benchmark.py --device "$DEVICE" --binary "$BIN" --data "$DATA" --repeats 2)
[ -n "${LIMIT:-}" ] && BENCH+=(--limit "$LIMIT" --epochs 1)
# PEERS="eager,fused" times fewer PyTorch programs (benchmark.py --peers; its default on
# CUDA: eager, fused Adam, torch.compile reduce-overhead).
[ -n "${PEERS:-}" ] && BENCH+=(--peers "$PEERS")
# Every epoch of every run comes back too (--raw), not only each program's fastest.
step benchmark_b128 "${BENCH[@]}" --batch-size 128 --raw "$WORK/benchmark_b128_runs.csv"
step benchmark_b1024 "${BENCH[@]}" --batch-size 1024 --raw "$WORK/benchmark_b1024_runs.csv"
rm -rf "$WORK/fault"
pack
cat "$WORK/benchmark_b128.log" "$WORK/benchmark_b1024.log" 2>/dev/null
grep -h "replayed" "$WORK"/*.log
echo "summary in $OUT/summary.txt; everything in $OUT/results.tar.gz"
# Every step ran; the script fails when any of them did.
if [ "$failed" -gt 0 ]; then
    echo "$failed step(s) failed" | tee -a "$OUT/summary.txt"
    exit 1
fi
