#!/usr/bin/env bash
# Thread schedules under load (two spinning processes): how often each gives other bits.
B=/tmp/fix/target/release/tch-vae; D=/tmp/hunt/data; W=/tmp/sched/wl; rm -rf $W; mkdir -p $W
FLAGS="--clip-grad 5 --epochs 2"; REF=c9858c27df6d
for i in 1 2; do ( while [ ! -f $W/stop ]; do :; done ) & done
for round in $(seq 1 ${N:-8}); do
  for s in fixed2 2 "2,1" "1,2,2"; do
    rm -rf $W/r
    if [ $s = fixed2 ]; then $B train --data $D --out $W/r $FLAGS --device cpu --threads 2 >/dev/null 2>&1
    else TCH_VAE_THREAD_SCHEDULE=$s $B train --data $D --out $W/r $FLAGS --device cpu >/dev/null 2>&1; fi
    h=$(sha256sum $W/r/weights.safetensors | cut -c1-12)
    [ $h = $REF ] && r=same || r="DIFF $(sed -n 2p $W/r/metrics.csv | cut -d, -f2)"
    echo "$(date +%T) round $round schedule $s: $r"
  done
done
touch $W/stop; wait
