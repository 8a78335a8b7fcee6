#!/usr/bin/env bash
# Issue 23: the numerics tier with its tests together (--test-threads=2), alternating the
# build before the fix (de4f840, /tmp/base) and the build that warms MKL's vector math
# (/tmp/fix), round by round, so that both see the same machine and load.
# START: the first round's number (a later session continues the log).
for round in $(seq ${START:-1} $(( ${START:-1} + ${N:-16} - 1 ))); do
  for build in base fix; do
    cd /tmp/$build
    s=$(date +%s)
    target/release/deps/numerics-b6dcea551587c8eb --test-threads=2 > /tmp/vml/i-$build-$round.log 2>&1; rc=$?
    echo "$(date +%T) round $round $build: rc=$rc ($(( $(date +%s)-s )) s)" >> /tmp/vml/interleaved.log
    [ $rc -ne 0 ] && cp /tmp/vml/i-$build-$round.log /tmp/vml/ifail-$build-$round.log
  done
done
