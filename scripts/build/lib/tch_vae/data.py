"""MNIST-format IDX files, as tch-vae's src/idx.rs and src/data.rs read them."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

#: The default dataset (Debian's dataset-fashion-mnist), as in src/config.rs.
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def load_split(data: Path, prefix: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    def find(what: str, nd: int) -> Path:
        for name in (f"{prefix}-{what}-idx{nd}-ubyte.gz", f"{prefix}-{what}-idx{nd}-ubyte"):
            if (data / name).exists():
                return data / name
        raise FileNotFoundError(f"no {prefix} {what} IDX file in {data}")

    images = read_idx(find("images", 3))
    labels = read_idx(find("labels", 1))
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))
