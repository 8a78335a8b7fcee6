#!/usr/bin/env bash
# The numerics tier with its tests together (--test-threads=2: the oversubscribed case that
# showed the odd runs about one round in three), on the build that warms VML.
cd /tmp/fix
NUM=target/release/deps/numerics-b6dcea551587c8eb
for round in $(seq 1 ${N:-15}); do
  s=$(date +%s)
  $NUM --test-threads=2 > /tmp/vml/round-$round.log 2>&1; rc=$?
  echo "$(date +%T) round $round: numerics rc=$rc ($(( $(date +%s)-s )) s)" >> /tmp/vml/rounds.log
  [ $rc -ne 0 ] && cp /tmp/vml/round-$round.log /tmp/vml/fail-$round.log
done
