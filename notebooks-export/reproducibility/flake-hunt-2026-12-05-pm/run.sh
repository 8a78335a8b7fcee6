#!/usr/bin/env bash
# One short run per thread schedule (the adaptive policy's counts forced batch by batch),
# each run's weights hashed against a run at a fixed 1 thread.
B=/tmp/fix/target/release/tch-vae; D=/tmp/hunt/data; W=/tmp/sched/w; rm -rf $W; mkdir -p $W
FLAGS=${FLAGS:---clip-grad 5 --epochs 2}
h() { sha256sum $1/weights.safetensors | cut -c1-12; }
$B train --data $D --out $W/ref $FLAGS --device cpu --threads 1 >/dev/null 2>&1; echo "ref(1 thread) $(h $W/ref)"
for s in 1 2 "2,1" "1,2" "2,2,1" "1,1,2" "2,1,1,1" "1,2,2,2,2,2,2"; do
  TCH_VAE_THREAD_SCHEDULE=$s $B train --data $D --out $W/s$s $FLAGS --device cpu >/dev/null 2>&1
  echo "schedule $s: $(h "$W/s$s") $(sed -n 2p "$W/s$s/metrics.csv" | cut -d, -f2)"
done
