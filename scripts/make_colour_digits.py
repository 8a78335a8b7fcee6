#!/usr/bin/env python3
"""Colour digits: MNIST digits painted in a random colour on a random darker background,
padded to 32x32 RGB, as an .npz that `tch-vae train --data` reads (x_train, y_train,
x_test, y_test; uint8 [n, 32, 32, 3]). A small colour set with structure a VAE can learn
and a likelihood can be measured on, made from the MNIST files beside the repository.

    python scripts/make_colour_digits.py OUT.npz [--train 1500] [--test 300] [--seed 0] \\
        [--mnist ../shared/data/mnist]

Each image: a digit's grey levels g in [0, 1] mix a foreground colour f (a random hue,
saturation 0.6-1, value 0.7-1) over a background b (another hue, value 0.05-0.35):
pixel = g f + (1 - g) b, then 8-bit. Training images come from MNIST's training file,
test images from its test file, both drawn with --seed."""
from __future__ import annotations

import argparse
import colorsys
import gzip
import os
import struct
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def paint(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(digits)
    grey = np.pad(digits, ((0, 0), (2, 2), (2, 2))).astype(np.float64)[..., None] / 255.0
    fg = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in
                   zip(rng.random(n), rng.uniform(0.6, 1.0, n), rng.uniform(0.7, 1.0, n))])
    bg = np.array([colorsys.hsv_to_rgb(h, s, v) for h, s, v in
                   zip(rng.random(n), rng.uniform(0.3, 1.0, n), rng.uniform(0.05, 0.35, n))])
    rgb = grey * fg[:, None, None, :] + (1.0 - grey) * bg[:, None, None, :]
    return np.round(rgb * 255.0).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mnist", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    parts = {}
    for split, prefix, n in [("train", "train", a.train), ("test", "t10k", a.test)]:
        images = read_idx(a.mnist / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(a.mnist / f"{prefix}-labels-idx1-ubyte.gz")
        pick = rng.choice(len(images), n, replace=False)
        parts[f"x_{split}"] = paint(images[pick], rng)
        parts[f"y_{split}"] = labels[pick].astype(np.int64)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(f".{a.out.name}.tmp-{os.getpid()}.npz")
    np.savez(tmp, **parts)
    os.replace(tmp, a.out)
    print(f"{a.out}: {a.train} training and {a.test} test images, 32x32 RGB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
