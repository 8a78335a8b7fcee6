#!/usr/bin/env bash
# The numerics tier with its tests together (as CI's failure), on the build that sets the
# thread count at start-up in every case.
cd /tmp/fix
NUM=target/release/deps/numerics-b6dcea551587c8eb
for round in $(seq 1 ${N:-20}); do
  s=$(date +%s)
  $NUM --test-threads=2 > /tmp/dyn/fix-$round.log 2>&1; rc=$?
  echo "$(date +%T) round $round: numerics rc=$rc ($(( $(date +%s)-s )) s)" >> /tmp/dyn/loopfix.log
  [ $rc -ne 0 ] && cp /tmp/dyn/fix-$round.log /tmp/dyn/fixfail-$round.log
done
