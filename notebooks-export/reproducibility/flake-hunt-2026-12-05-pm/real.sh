#!/usr/bin/env bash
# The real load-following policy under load (two spinners): each run's thread changes
# (batch numbers) and whether its weights match the 1-thread reference.
B=/tmp/fix/target/release/tch-vae; D=/tmp/hunt/data; W=/tmp/sched/wr; rm -rf $W; mkdir -p $W
FLAGS=${FLAGS:---clip-grad 5 --epochs 2}; REF=${REF:-c9858c27df6d}
for i in $(seq 1 ${SPIN:-2}); do ( while [ ! -f $W/stop ]; do :; done ) & done
for round in $(seq 1 ${N:-40}); do
  rm -rf $W/r
  TCH_VAE_THREAD_LOG=1 $B train --data $D --out $W/r $FLAGS --device cpu 2> $W/err >/dev/null
  h=$(sha256sum $W/r/weights.safetensors | cut -c1-12)
  [ $h = $REF ] && r=same || r="DIFF $(sed -n 2p $W/r/metrics.csv | cut -d, -f2)"
  echo "$(date +%T) run $round: $r | $(grep '^threads' $W/err | tr '\n' ';')"
done
touch $W/stop; wait
