#!/usr/bin/env bash
# The flake hunt of 2026-12-04 (hunt.sh) with a traced binary: the numerics tier again and
# again beside the fast and slow tiers; every trainer of the numerics tier writes a
# per-step trace; a failing round keeps its traces and its output.
cd /tmp/flake
FAST=$(ls target/release/deps/fast-* | grep -v '\.d$' | head -1)
SLOW=$(ls target/release/deps/slow-* | grep -v '\.d$' | head -1)
NUM=$(ls target/release/deps/numerics-* | grep -v '\.d$' | head -1)
rm -f /tmp/hunt/stop
( while [ ! -f /tmp/hunt/stop ]; do $FAST > /dev/null 2>&1; done ) &
( while [ ! -f /tmp/hunt/stop ]; do $SLOW > /dev/null 2>&1; done ) &
for round in $(seq 1 ${N:-40}); do
  [ -f /tmp/hunt/stop ] && break
  rm -rf /tmp/trace; mkdir -p /tmp/trace
  TCH_VAE_TRACE=/tmp/trace $NUM matrix > /tmp/hunt/num.log 2>&1; rc=$?
  echo "$(date +%T) round $round: numerics $rc" >> /tmp/hunt/traced.log
  if [ $rc -ne 0 ]; then
    mkdir -p /tmp/hunt/fail$round; cp -r /tmp/trace /tmp/hunt/num.log /tmp/hunt/fail$round/
  fi
done
touch /tmp/hunt/stop; wait
