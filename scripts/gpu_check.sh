#!/usr/bin/env bash
# The prepared script for a session on the GPU machine (../shared/GPU.md), whose time is
# short: one call runs every CUDA check and benchmark, and keeps going past a failure so
# that one run reports everything.
#
#   bash scripts/gpu_check.sh prepare   # here: a stripped binary and the dataset into .gpu/
#   bash scripts/gpu_check.sh run       # there, with carry [".gpu"]; results under $OUT
#
# Steps of `run`: the device's name; 5 epochs on CUDA (with checkpoints; steps replayed
# from a CUDA graph, and the count of replays checked), again with --no-cuda-graphs (the
# losses must agree), the same for --arch conv (1 epoch), and on the CPU with the same
# seed, whose test losses must agree within 1%; export, then vae.pt loaded
# in the machine's Python on the CPU and on CUDA, its parameters equal to
# weights.safetensors and its outputs equal to the PyTorch reference module's to 1e-5;
# --resume for one more epoch; eval on the 10,000 test images (k = 5000 on CUDA), timed;
# the fault check's CUDA path (a learning rate that makes the loss non-finite must stop
# with exit code 1); the benchmark against the PyTorch eager reference at batch 128 and
# 1024. Everything comes back as $OUT/summary.txt and $OUT/results.tar.gz; STEPS="name ..."
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

pack() {
    tar -czf "$OUT/results.tar.gz.part" -C "$WORK" --exclude=checkpoint.safetensors \
        --exclude=cpu-run/weights.safetensors --exclude=cpu-run/vae.pt \
        --exclude=eager-run/weights.safetensors --exclude=eager-run/vae.pt \
        --exclude='conv-*/weights.safetensors' --exclude='conv-*/vae.pt' . \
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

# The CUDA run's test loss against the CPU run's, same seed and epochs: within 1%.
same_loss() {
    "$PY" - "$WORK/run/metrics.csv" "$WORK/cpu-run/metrics.csv" <<'EOF'
import csv, sys
cuda, cpu = (float(list(csv.DictReader(open(p)))[-1]["test_loss"]) for p in sys.argv[1:])
print(f"test loss: CUDA {cuda:.3f}, CPU {cpu:.3f}, difference {100 * (cuda / cpu - 1):+.3f}%")
assert abs(cuda / cpu - 1) < 0.01
EOF
}

# Steps replayed from a CUDA graph against the same steps launched one by one: same
# kernels, same random numbers, so the metrics should agree to rounding.
graph_vs_eager() {
    "$PY" - "$WORK/$1/metrics.csv" "$WORK/$2/metrics.csv" <<'EOF'
import csv, sys
graph, eager = (list(csv.DictReader(open(p))) for p in sys.argv[1:])
cols = [c for c in graph[0] if c not in ("epoch", "epoch_seconds")]
worst = max(abs(float(g[c]) / float(e[c]) - 1) for g, e in zip(graph, eager) for c in cols if float(e[c]))
same = all(g[c] == e[c] for g, e in zip(graph, eager) for c in cols)
print(f"CUDA graph vs eager steps, {len(graph)} epochs: every metric {'identical' if same else 'equal within'} "
      f"(largest relative difference {worst:.2e}); epoch seconds graph "
      + ", ".join(r["epoch_seconds"][:5] for r in graph) + " vs eager " + ", ".join(r["epoch_seconds"][:5] for r in eager))
losses = max(abs(float(g[c]) / float(e[c]) - 1) for g, e in zip(graph, eager) for c in ("train_loss", "test_loss"))
assert losses < 1e-3, f"losses differ by {losses:.2e}"
EOF
}

# Every full batch after the first 3 of each epoch must have been replayed from the graph.
replay_count() {
    local images=${LIMIT:-60000}
    local expected=$((EPOCHS * (images / 128 - 3)))
    grep "replayed from CUDA graphs" "$WORK/train_cuda.log"
    grep -q "^$expected training steps replayed" "$WORK/train_cuda.log" \
        || { echo "expected $expected replayed steps"; [ "$DEVICE" = cpu ]; }
}

# vae.pt in Python, on each device: parameters equal to weights.safetensors, outputs equal
# to the reference nn.Module's.
load_in_python() {
    "$PY" - "$WORK/run" "$DEVICE" <<'EOF'
import sys, torch
sys.path.insert(0, "scripts")
from reference_vae import load_run
from safetensors.torch import load_file
run, device = sys.argv[1], sys.argv[2]
w = load_file(f"{run}/weights.safetensors")
reference, _ = load_run(run)
for dev in sorted({"cpu", device}):
    m = torch.jit.load(f"{run}/vae.pt", map_location=dev)
    params = dict(m.named_parameters())
    assert set(params) == set(w), (sorted(params), sorted(w))
    for k, v in w.items():
        assert torch.equal(params[k].detach().cpu(), v), k
    ref = reference.to(dev)
    x = torch.rand(64, 784, device=dev)
    with torch.no_grad():
        mu, logvar = m.encode(x)
        rmu, rlogvar = ref.encode(x)
        pairs = [("mu", mu, rmu), ("logvar", logvar, rlogvar), ("decode", m.decode(mu), ref.decode(rmu))]
    err = max((a - b).abs().max().item() for _, a, b in pairs)
    assert err < 1e-5, (dev, err)
    print(f"vae.pt on {dev}: {len(params)} parameters equal to weights.safetensors; "
          f"encode and decode agree with the reference module (max error {err:.1e})")
EOF
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
step conv_graph_vs_eager graph_vs_eager conv-graph conv-eager
step export "$BIN" export --run "$WORK/run"
step load_in_python load_in_python
step resume "$BIN" train --resume "$WORK/run" --epochs $((EPOCHS + 1)) --device "$DEVICE"
step eval "$BIN" eval --run "$WORK/run" --device "$DEVICE" --data "$DATA"
step fault_check expect_fault
BENCH=("$PY" scripts/benchmark.py --device "$DEVICE" --binary "$BIN" --data "$DATA" --repeats 2)
[ -n "${LIMIT:-}" ] && BENCH+=(--limit "$LIMIT" --epochs 1)
step benchmark_b128 "${BENCH[@]}" --batch-size 128
step benchmark_b1024 "${BENCH[@]}" --batch-size 1024
rm -rf "$WORK/fault"
pack
cat "$WORK/benchmark_b128.log" "$WORK/benchmark_b1024.log" 2>/dev/null
grep -h "replayed" "$WORK"/*.log
echo "summary in $OUT/summary.txt; everything in $OUT/results.tar.gz"
