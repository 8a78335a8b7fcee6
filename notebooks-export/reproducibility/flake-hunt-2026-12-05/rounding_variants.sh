#!/usr/bin/env bash
# Rounding-level variants of the conditional Gaussian run (the matrix test's data, written
# by tests/common's write_idx_folder; here /tmp/hunt/data): epoch 1's train loss, recon
# and KL under other MKL branches and ATen capabilities, quiet, at 2 threads.
B=${B:-/work/main/target/release/tch-vae}
if [ ! -d /tmp/hunt/data ]; then  # the matrix's 640 training and 256 test images
    python3 - <<'PY'
import gzip, os, struct
d = '/tmp/hunt/data'; os.makedirs(d, exist_ok=True)
for prefix, n in [('train', 640), ('t10k', 256)]:
    px = bytes(((i * 2654435761) & 0xffffffff) >> 24 for i in range(n * 784))
    with open(f'{d}/{prefix}-images-idx3-ubyte.gz', 'wb') as f:
        f.write(gzip.compress(struct.pack('>IIII', 0x803, n, 28, 28) + px))
    with open(f'{d}/{prefix}-labels-idx1-ubyte.gz', 'wb') as f:
        f.write(gzip.compress(struct.pack('>II', 0x801, n) + bytes(i % 10 for i in range(n))))
PY
fi
mkdir -p /tmp/alt && cd /tmp/alt
try() { name=$1; shift; rm -rf $name; env "$@" $B train --data /tmp/hunt/data --out $name --device cpu --conditional --likelihood gaussian --epochs 2 --threads 2 >/dev/null 2>&1; echo "$name $(sed -n 2p $name/metrics.csv | cut -d, -f2,3,4)"; }
try base X=1
try cbwr_auto MKL_CBWR=AUTO
try cbwr_avx2 MKL_CBWR=AVX2,STRICT
try cbwr_avx512 MKL_CBWR=AVX512,STRICT
try aten_avx2 ATEN_CPU_CAPABILITY=avx2
try aten_default ATEN_CPU_CAPABILITY=default
try mkl_off MKL_CBWR=OFF
