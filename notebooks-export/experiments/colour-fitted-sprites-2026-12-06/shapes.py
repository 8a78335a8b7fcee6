#!/usr/bin/env python3
"""Reconstructions of every shape: the run's reconstructions.png shows the first sixteen
test images, and a folder lists its test images class by class (the sprites': all circles).
This takes the first four test sprites of each shape: a row of originals, a row of their
reconstructions (the posterior means decoded, the mixture's likeliest component, as
reconstructions.png), shape by shape.

    python shapes.py RUN DATA OUT.png"""
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae import load_run  # noqa: E402

run, data, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
model = load_run(run)
shapes = sorted(p.name for p in (data / "test").iterdir() if p.is_dir())
files = [f for s in shapes for f in sorted((data / "test" / s).glob("*.png"))[:4]]
x = torch.tensor(np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]))
x = x.permute(0, 3, 1, 2).float().div(255)
with torch.no_grad():
    mu, _ = model.encode(x.flatten(1))
    r = model.decode(mu).reshape(x.shape)
rows = [x[i:i + 4] for i in range(0, len(x), 4)]
recs = [r[i:i + 4] for i in range(0, len(r), 4)]
# Originals, then reconstructions: two rows of 8 per pair of shapes; 2-pixel grey gaps.
h, w = x.shape[2], x.shape[3]
tiles = [torch.cat(list(a) + list(b), 2) for a, b in zip(rows, recs)]  # per shape: [3, h, 8w]
grid = torch.full((3, len(shapes) * (h + 2), 8 * w), 0.3)
for k, t in enumerate(tiles):
    grid[:, k * (h + 2):k * (h + 2) + h] = t
Image.fromarray((grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()).save(out)
print(f"{out}: rows {', '.join(shapes)}; in each, four test sprites then their reconstructions")
