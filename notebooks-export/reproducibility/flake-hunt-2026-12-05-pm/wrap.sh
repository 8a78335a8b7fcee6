#!/usr/bin/env bash
# Test wrapper: the real binary with MKL's verbose log written beside the run folder.
out=""; prev=""
for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
if [ -n "$out" ]; then export MKL_VERBOSE=1 MKL_VERBOSE_OUTPUT_FILE="$out.mklv"; fi
exec /work/main/target/release/tch-vae.real "$@"
