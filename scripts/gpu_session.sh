#!/usr/bin/env bash
# scripts/gpu_session.sh: one call on the GPU machine, with .gpu/ holding the stripped
# binary (tch-vae), the stripped fast test binary (fast) and MNIST (mnist/); copy this file
# then: bash scripts/gpu_session.sh. One call on the GPU machine (issue 23's CPU checks on another CPU; issue 27's Burda rows,
# continued from the committed checkpoints). Everything lands in $OUT/results.tar.gz.
set -u
R=$(pwd); G=$R/.gpu; RES=$OUT/results; mkdir -p $RES
export LD_LIBRARY_PATH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
pack() { tar -czf $OUT/results.tar.gz -C $OUT results; }
fail=0
{ date -u; nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; lscpu | grep -E "Model name|^CPU\(s\)|Flags" | cut -c1-400; python3 -c 'import torch;print(torch.__version__, torch.backends.cpu.get_cpu_capability())'; } > $RES/machine.txt 2>&1
# The test binary runs the binary at the path it was built with.
mkdir -p /work/main/target/release 2>/dev/null && cp $G/tch-vae /work/main/target/release/tch-vae 2>/dev/null
ls -la /work/main/target/release/tch-vae >> $RES/machine.txt 2>&1
if [ -z "${SKIP_CPU:-}" ]; then
# 1. Issue 23 on this CPU: thread counts, MKL's mode, the portable fingerprint.
(cd /tmp && timeout 240 $G/fast threads:: --test-threads 1 > $RES/fast_threads.log 2>&1) || fail=1
pack
# 2. The probe of libtorch's kernels on this CPU.
MKL_CBWR=AUTO,STRICT timeout 120 python3 $R/scripts/numerics_probe.py > $RES/probe_strict.log 2>&1 || fail=1
pack
# 3. Machine mode on up to 16 threads: the same bits at every count on this CPU.
D=/tmp/fx; mkdir -p $D; python3 - <<'PY'
import gzip, struct
def enc(dims, data):
    return struct.pack('>BBBB',0,0,8,len(dims))+b''.join(struct.pack('>I',d) for d in dims)+bytes(data)
for prefix,n in [('train',640),('t10k',256)]:
    px=[((i*2654435761)&0xffffffff)>>24 for i in range(n*784)]
    open(f'/tmp/fx/{prefix}-images-idx3-ubyte.gz','wb').write(gzip.compress(enc([n,28,28],px)))
    open(f'/tmp/fx/{prefix}-labels-idx1-ubyte.gz','wb').write(gzip.compress(enc([n],[i%10 for i in range(n)])))
PY
for t in 1 2 3 4 5 8 12 16; do
  for mode in machine portable; do
    timeout 60 $G/tch-vae train --data $D --epochs 1 --device cpu --threads $t --reproducible $mode --likelihood logistic --objective iwae --k 3 --prior vamp --pseudo-inputs 50 --activation tanh --out /tmp/thr-$mode-$t > /dev/null 2>&1
    echo "$mode $t $(sha256sum /tmp/thr-$mode-$t/weights.safetensors | cut -c1-16) $(tail -1 /tmp/thr-$mode-$t/metrics.csv | cut -d, -f1-12 | md5sum | cut -c1-8)"
  done
done > $RES/threads_1_to_16.txt 2>&1
python3 -c "import json;print(json.load(open('/tmp/thr-portable-2/config.json'))['numerics'])" >> $RES/threads_1_to_16.txt
pack
fi
# 4. Issue 27: the three Burda rows side by side, each continuing from its checkpoint.
mkdir -p /tmp/tch-vae-data && cp -r $G/mnist /tmp/tch-vae-data/ 2>/dev/null
B=/tmp/burda; mkdir -p $B
# The committed state of each row (checkpoint, config, metrics, curve) continues here.
C=$R/notebooks-export/experiments/burda-gpu
# The checkpoints (5.3 MiB each) are not in the tree: restore them first from the commit that
# holds them (burda-gpu/README.md); untracked files travel to the device. A row with metrics
# but no checkpoint would start over silently, so it stops the section instead.
rows=(vae iwae5 iwae50)
for row in "${rows[@]}"; do
  if [ -f $C/$row/$row/metrics.csv ] && [ ! -f $C/$row/$row/checkpoint.safetensors ]; then
    echo "burda-gpu/$row has no checkpoint: restore it (burda-gpu/README.md)"; fail=1; rows=()
  fi
done
[ -d $C ] && cp -r $C/. $B/
pids=()
for row in "${rows[@]}"; do
  python3 $R/scripts/burda_mnist.py --binary $G/tch-vae --data /tmp/tch-vae-data/mnist --rows $row --device cuda --out $B/$row > $B/$row.stdout 2>&1 &
  pids+=($!)
done
# Stop as a scheduler would: SIGTERM makes tch-vae write its checkpoint and exit.
end=$((SECONDS + ${BURDA_SECONDS:-330}))
while [ $SECONDS -lt $end ] && kill -0 "${pids[@]}" 2>/dev/null; do sleep 5; done
pkill -TERM -f "$G/tch-vae (train|eval)"
for p in "${pids[@]}"; do wait $p; done
nvidia-smi > $RES/nvidia-smi.txt 2>&1
# One archive per row (files come back at most 2 folders down, 16 MiB each), with only
# what resuming and the curve need: TensorBoard events, figures and vae.pt stay behind.
for row in vae iwae5 iwae50; do
  tar -czf $OUT/burda-$row.tar.gz -C $B --exclude='events.out.tfevents*' --exclude='*.png' \
    --exclude='vae.pt' --exclude='*.svg' $row $row.stdout
done
pack
echo "fail=$fail"; for row in vae iwae5 iwae50; do tail -n 3 $B/$row/log.txt; done
ls -la $OUT
