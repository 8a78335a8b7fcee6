#!/usr/bin/env bash
# The numerics tier with its tests together, as CI's failure; env given by the caller.
cd /work/main
NUM=target/release/deps/numerics-b6dcea551587c8eb
for round in $(seq 1 ${N:-15}); do
  s=$(date +%s)
  $NUM --test-threads=2 > /tmp/dyn/num-$round.log 2>&1; rc=$?
  echo "$(date +%T) round $round: numerics rc=$rc ($(( $(date +%s)-s )) s) MKL_DYNAMIC=${MKL_DYNAMIC-unset}" >> /tmp/dyn/loop.log
  [ $rc -ne 0 ] && cp /tmp/dyn/num-$round.log /tmp/dyn/fail-$round.log
done
