#!/usr/bin/env bash
# Where a CPU training step's time goes, by kind of work, from `perf` samples of a real
# run (Debian: apt-get install linux-perf). Usage:
#
#   bash scripts/profile_cpu.sh [train flags...]    # e.g. --hidden 200,200 --latent 50 --batch-size 20 --limit 6000
#
# Trains 1 epoch to warm up, then profiles a run of --epochs 6 with the flags given, and
# sorts every sample's symbol into a kind: matrix products (MKL's sgemm), Adam (the fused
# kernel), OpenMP worker threads spinning while they wait (samples, not wall time: with N
# threads, N are sampled), element-wise and reduction kernels, libtorch's dispatch and
# autograd, memory allocation, data loading, and the rest. Startup and the test passes are in the run too;
# with a few epochs of training they are a small share. Writes the table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/tch-vae}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v perf > /dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 1; }

"$bin" train --device cpu --epochs 1 --out "$work/warm" "$@" > /dev/null
perf record -q -F 2000 -o "$work/perf.data" -- "$bin" train --device cpu --epochs 6 \
    --out "$work/run" "$@" > "$work/train.log" 2>&1
grep -E "img/s" "$work/train.log" | sed 's/^/# /'
perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio -g none 2> /dev/null \
    | python3 -c '
import re, sys
KINDS = [  # the first pattern that matches a symbol names its kind
    ("matrix products (MKL sgemm)", r"sgemm|mkl_blas"),
    ("Adam (the fused kernel)", r"fused_adam|adam_fused_step"),
    ("OpenMP threads waiting for work (spinning)", r"libgomp"),
    ("element-wise and reduction kernels", r"Sleef|VectorizedLoop|vectorized_|reduce|_kernel|binary_kernel|norm_kernel|mkl_vml"),
    ("memory (allocation, copies, page faults)", r"malloc|free|_int_|memset|memmove|memcpy|page|unlink_chunk|operator new|operator delete"),
    ("data loading (gzip)", r"zlib|inflate|crc32|idx::"),
    ("dispatch, autograd, tensor bookkeeping", r"c10::|at::_ops|at::Tensor|autograd|Dispatch|OperatorEntry|TensorIterator|intrusive_ptr|tls_get_addr|TensorImpl|at::native::|at::"),
]
share = {}
for line in sys.stdin:
    m = re.match(r"\s*([0-9.]+)%\s+(\S+\s+\[[.k]\]\s+.*)", line)
    if not m:
        continue
    kind = next((k for k, pat in KINDS if re.search(pat, m.group(2))), "other")
    share[kind] = share.get(kind, 0.0) + float(m.group(1))
print("| kind of work | share of samples |")
print("|---|---|")
for kind, pct in sorted(share.items(), key=lambda kv: -kv[1]):
    print(f"| {kind} | {pct:.1f}% |")
'
