#!/usr/bin/env bash
# The focused hunt (focus.sh) with the test suite's own fast and slow tiers as the load,
# as in the rounds that reproduced the flake.
cd /tmp/flake
FAST=$(ls target/release/deps/fast-* | grep -v '\.d$' | head -1)
SLOW=$(ls target/release/deps/slow-* | grep -v '\.d$' | head -1)
( while [ ! -f /tmp/hunt/stop ]; do $FAST > /dev/null 2>&1; done ) &
( while [ ! -f /tmp/hunt/stop ]; do $SLOW > /dev/null 2>&1; done ) &
B=/tmp/flake/target/release/tch-vae LOAD=0 /tmp/hunt/focus.sh
touch /tmp/hunt/stop; wait; rm -f /tmp/hunt/stop
