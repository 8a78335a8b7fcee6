#!/usr/bin/env bash
# The numerics tier with its tests together (--test-threads=2, as `cargo test` ran it),
# traced: the setting in which CI failed on 2026-12-05.
cd /tmp/flake
NUM=$(ls target/release/deps/numerics-* | grep -v '\.d$' | head -1)
for round in $(seq 1 ${N:-12}); do
  rm -rf /tmp/trace; mkdir -p /tmp/trace
  TCH_VAE_TRACE=/tmp/trace $NUM --test-threads=2 > /tmp/hunt/num2.log 2>&1; rc=$?
  echo "$(date +%T) round $round: numerics $rc" >> /tmp/hunt/traced2.log
  if [ $rc -ne 0 ]; then
    mkdir -p /tmp/hunt/fail2-$round; cp -r /tmp/trace /tmp/hunt/num2.log /tmp/hunt/fail2-$round/; break
  fi
done
