#!/usr/bin/env python3
"""A small colour dataset with known factors, in the spirit of dSprites (Matthey et al.
2017): RGB sprites on a dark background, one class subfolder per shape, every factor drawn
independently and recorded.

    python scripts/make_sprites.py OUT [--size 64] [--count 6000] [--test-fraction 0.1] [--seed 0]

Writes OUT/train/<shape>/NNNNN.png and OUT/test/<shape>/NNNNN.png (the layout
`tch-vae train --data OUT` reads: class subfolders give labels), and OUT/factors.csv with
each image's split, file, shape, colour (hue), scale, x and y. Factors:
- shape: square, circle, triangle, cross (the class);
- colour: a hue in [0, 1), full saturation and value;
- scale: the sprite's width as a share of the image, in [0.25, 0.5];
- position: the centre, anywhere the whole sprite fits.
"""
from __future__ import annotations

import argparse
import colorsys
import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("square", "circle", "triangle", "cross")
BACKGROUND = (16, 16, 24)


def draw(shape: str, size: int, hue: float, scale: float, cx: float, cy: float) -> Image.Image:
    """One sprite; `cx`, `cy` and `scale` are shares of the image side."""
    img = Image.new("RGB", (size, size), BACKGROUND)
    d = ImageDraw.Draw(img)
    colour = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 1.0, 1.0))
    r = scale * size / 2
    x, y = cx * size, cy * size
    box = (x - r, y - r, x + r, y + r)
    if shape == "square":
        d.rectangle(box, fill=colour)
    elif shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "triangle":
        d.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour)
    else:  # cross
        t = r / 3
        d.rectangle((x - r, y - t, x + r, y + t), fill=colour)
        d.rectangle((x - t, y - r, x + t, y + r), fill=colour)
    return img


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--count", type=int, default=6000, help="images in all")
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if not 0 < a.test_fraction < 1 or a.count < 2 or a.size < 8:
        p.error("need 0 < --test-fraction < 1, --count >= 2 and --size >= 8")
    rng = np.random.default_rng(a.seed)
    out = Path(a.out)
    rows = []
    for i in range(a.count):
        shape = SHAPES[rng.integers(len(SHAPES))]
        hue, scale = rng.random(), rng.uniform(0.25, 0.5)
        half = scale / 2
        cx, cy = rng.uniform(half, 1 - half, size=2)
        split = "test" if rng.random() < a.test_fraction else "train"
        path = out / split / shape / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        draw(shape, a.size, hue, scale, cx, cy).save(path)
        rows.append([split, str(path.relative_to(out)), shape, f"{hue:.4f}", f"{scale:.4f}", f"{cx:.4f}", f"{cy:.4f}"])
    with open(out / "factors.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "file", "shape", "hue", "scale", "x", "y"])
        w.writerows(rows)
    print(f"wrote {a.count} {a.size}x{a.size} sprites to {out} ({sum(r[0] == 'test' for r in rows)} for testing)")


if __name__ == "__main__":
    main()
