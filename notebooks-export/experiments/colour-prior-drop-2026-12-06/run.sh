#!/usr/bin/env bash
# The tries of RESULTS.md "Two more tries at the samples" (2026-12-06), each on one thread,
# two at a time on the developers' VM. tried.py trains the package's PyTorch model of the
# colour recipe; see its docstring. PY: a Python with the package's requirements.
# The 1,500/300 digits: scripts/make_colour_digits.py /tmp/colour/digits.npz; the 6,000/600:
# ... /tmp/colour/digits6k.npz --train 6000 --test 600; the fine-tuned run is
# colour-digits-6k-2026-12-06/run.sh's recipe-30epochs (in /tmp/colour-6k).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-python3}
export THREADS=1
# Posterior cut at a random resolution for half the images, from scratch, 20 epochs; and
# the same script without the cut (the baseline).
"$PY" tried.py 0.5 20 drop0.5-20epochs.png > drop0.5-20epochs.log
"$PY" tried.py 0 20 drop0-20epochs.png > drop0-20epochs.log
# The 6,000-digit run's weights trained 3 more epochs, with and without the cut.
for d in 0.5 0; do
    INIT=/tmp/colour-6k/recipe-30epochs LR=2e-4 DATA=/tmp/colour/digits6k.npz \
        "$PY" tried.py "$d" 3 "finetune6k-drop$d-3epochs.png" > "finetune6k-drop$d-3epochs.log"
done
# A dense top (the 1x1 level a learned map of the whole 4x4 map), 20 and 40 epochs, and
# with --depth 4,2,2,1,1's groups.
DENSE=1 "$PY" tried.py 0 20 dense-20epochs.png > dense-20epochs.log
DENSE=1 DEPTH=4,2,2,1,1 "$PY" tried.py 0 20 dense-depth42211-20epochs.png > dense-depth42211-20epochs.log
DENSE=1 "$PY" tried.py 0 40 dense-40epochs.png > dense-40epochs.log
