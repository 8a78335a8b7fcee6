#!/usr/bin/env bash
# MKL on an AMD CPU (2026-12-07): which CNR branches MKL accepts, how fast its matrix
# products are on each, which settings give the same bits at 1, 2 and 3 threads, and the
# portable mode's fingerprints. From the repository root, after scripts/setup.sh:
#   bash notebooks-export/reproducibility/amd-2026-12-07/run.sh > notebooks-export/reproducibility/amd-2026-12-07/run.log 2>&1
set -euo pipefail
. scripts/env.sh
B=target/release/tch-vae
echo "# $(date -u '+%F %T UTC'); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
     "$(grep -m1 vendor_id /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)" \
     "model $(grep -m1 '^model' /proc/cpuinfo | cut -d: -f2 | xargs); $(git rev-parse --short HEAD)"
echo "## mkl_cbwr_set's answer for each branch, with and without STRICT (a fresh process each; 0: accepted, -3: unsupported branch)"
for branch in 3:COMPATIBLE 4:SSE2 8:SSE4_2 9:AVX 10:AVX2 12:AVX512; do
    for strict in 0 65536; do
        "$TCH_VAE_PYTHON" - "${branch%%:*}" "$strict" "${branch##*:}" <<'PY' 2>&1 | grep -v gpuGetDeviceCount
import ctypes, os, sys, torch
lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
b, strict, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(f"{name}{',STRICT' if strict else ''}: {lib.mkl_serv_cbwr_set(b | strict)}")
PY
    done
done
echo "## sgemm 1024x1024x1024, 1 thread, GFLOP/s (MKL_CBWR in the environment)"
for mode in AUTO,STRICT COMPATIBLE,STRICT; do
    MKL_CBWR=$mode "$TCH_VAE_PYTHON" - "$mode" <<'PY' 2>&1 | grep -v gpuGetDeviceCount
import sys, time, torch
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
torch.mm(a, b)
best = min(((lambda t: (torch.mm(a, b), time.perf_counter() - t)[1])(time.perf_counter())) for _ in range(10))
print(f"{sys.argv[1]}: {2 * 1024 ** 3 / best / 1e9:.1f}")
PY
done
echo "## an MLP epoch (640 Fashion-MNIST images, batch 128, --clip-grad 5) at 1, 2, 3 threads: weights' SHA-256"
tmp=$(mktemp -d)
for mode in AUTO,STRICT COMPATIBLE,STRICT; do
    for t in 1 2 3; do
        MKL_CBWR=$mode "$B" train --out "$tmp/r" --epochs 1 --limit 640 --batch-size 128 --threads $t --clip-grad 5 > /dev/null 2>&1
        echo "MKL_CBWR=$mode, $t threads: $(sha256sum "$tmp/r/weights.safetensors" | cut -c1-16)"
        rm -rf "$tmp/r"
    done
done
echo "## the same in the portable mode (this build)"
for t in 1 2 3; do
    "$B" train --out "$tmp/r" --epochs 1 --limit 640 --batch-size 128 --threads $t --clip-grad 5 --reproducible portable > /dev/null 2>&1
    echo "portable, $t threads: $(sha256sum "$tmp/r/weights.safetensors" | cut -c1-16); numerics: $(python3 -c "import json,sys; n=json.load(open(sys.argv[1]))['numerics']; print(n['mkl_mode'], n['aten_cpu_capability'], n['cpu_vendor'])" "$tmp/r/config.json")"
    rm -rf "$tmp/r"
done
rm -rf "$tmp"
echo "## the fast tier's fingerprint test (1, 2, 3 threads, two flag sets, against the committed numbers of this CPU's maker)"
cargo test --release --test fast threads::the_portable_mode_gives_the_committed_numbers 2>&1 | grep -E "^test |test result"
