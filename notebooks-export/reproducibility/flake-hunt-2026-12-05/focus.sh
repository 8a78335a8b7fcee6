#!/usr/bin/env bash
# Focused flake hunt: one flag set at --threads $T, under $LOAD concurrent 2-thread trainings
# and a spinning process, $N times; each run's weights hash against a quiet 1-thread run.
B=${B:-/work/main/target/release/tch-vae}
D=/tmp/hunt/data
FLAGS=${FLAGS:---conditional --likelihood gaussian --epochs 2}
T=${T:-2}; LOAD=${LOAD:-5}
W=/tmp/hunt/w; rm -rf $W; mkdir -p $W; cd $W
run() { $B train --data $D --out $1 --device cpu $FLAGS --threads $2 >/dev/null 2>&1 || echo FAIL $1; }
run ref 1
ref=$(sha256sum ref/weights.safetensors | cut -c1-16)
echo ref $ref
for j in $(seq 1 $LOAD); do
 ( while [ ! -f stop ]; do rm -rf load$j; run load$j 2; done ) &
done
( while [ ! -f stop ]; do :; done ) &
for i in $(seq 1 ${N:-30}); do
  run run$i $T
  h=$(sha256sum run$i/weights.safetensors | cut -c1-16)
  if [ "$h" = "$ref" ]; then echo "$i same"; rm -rf run$i; else echo "$i DIFF $h"; fi
done
touch stop; wait
