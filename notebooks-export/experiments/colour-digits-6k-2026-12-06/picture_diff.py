"""How far the mixture's mean and its likeliest component differ as pictures of the same
samples: the share of pixels whose largest channel difference exceeds 30 of 255, and the
mean absolute difference, for each pair of PNGs that run.sh and run-1500.sh write (t = 0.6).

    python notebooks-export/experiments/colour-digits-6k-2026-12-06/picture_diff.py"""
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
PAIRS = [("recipe1500-40epochs/samples-t0.6-mode.png", "recipe1500-40epochs/samples-t0.6-mean.png"),
         ("recipe-30epochs/samples-t0.6.png", "recipe-30epochs/samples-t0.6-mean.png"),
         ("recipe-depth42211-30epochs/samples-t0.6.png", "recipe-depth42211-30epochs/samples-t0.6-mean.png")]
for mode, mean in PAIRS:
    a = np.asarray(Image.open(HERE / mode).convert("RGB")).astype(float)
    b = np.asarray(Image.open(HERE / mean).convert("RGB")).astype(float)
    diff = np.abs(a - b)
    print(f"{mode} vs {mean}: {100 * (diff.max(axis=-1) > 30).mean():.1f}% of pixels differ by "
          f"more than 30 levels; mean difference {diff.mean():.2f} levels")
