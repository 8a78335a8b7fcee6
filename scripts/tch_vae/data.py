"""The data of a run in Python: MNIST-format IDX files (src/data/idx.rs), CIFAR and NumPy
sources with tch-vae's test split (src/data/)."""
from __future__ import annotations

import io
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from .files import read_regular

#: The default dataset (Debian's dataset-fashion-mnist), as in src/config/defaults.rs.
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


#: The largest decompressed IDX file read, as src/data/idx.rs's MAX_DECOMPRESSED_BYTES: a
#: corrupt or hostile gzip stream never exhausts memory.
MAX_DECOMPRESSED_BYTES = 1 << 30


def _gunzip(raw: bytes, path: Path) -> bytes:
    """Every gzip member of `raw` (as `cat a.gz b.gz` makes), at most
    MAX_DECOMPRESSED_BYTES in all; a damaged stream is a ValueError naming `path`."""
    out = bytearray()
    while raw:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += member.decompress(raw, MAX_DECOMPRESSED_BYTES + 1 - len(out))
        except zlib.error as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None
        if len(out) > MAX_DECOMPRESSED_BYTES:
            raise ValueError(f"{path}: decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")
        if not member.eof:
            raise ValueError(f"{path}: corrupt or truncated gzip data (the stream ends early)")
        raw = member.unused_data
    return bytes(out)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (gzip or raw), its header checked as src/data/idx.rs
    checks it: a damaged file is a ValueError naming it, never a reshape's error."""
    raw = read_regular(path)
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)

    def bad(why: str) -> ValueError:
        return ValueError(f"{path}: invalid IDX file: {why}")

    if len(raw) < 4:
        raise bad(f"{len(raw)} bytes long, shorter than the 4-byte IDX header")
    if raw[:2] != b"\0\0":
        raise bad(f"not an IDX file: magic number starts with {raw[0]:#04x} {raw[1]:#04x}")
    if raw[2] != 0x08:
        raise bad(f"unsupported IDX value type {raw[2]:#04x}: only unsigned bytes (0x08)")
    ndims = raw[3]
    header = 4 + 4 * ndims
    if ndims == 0 or len(raw) < header:
        raise bad(f"{ndims} dimensions need a {header}-byte header; the file has {len(raw)} bytes")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    values = math.prod(dims)
    if values != len(raw) - header:
        raise bad(f"header declares dimensions {dims} ({values} values) but the file holds "
                  f"{len(raw) - header} value bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


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


# --- Every source a run may have come from, as tch-vae splits it (src/data/) ---------------

def _permutation(n: int, seed: int) -> list[int]:
    """src/data/split.rs's permutation: Fisher-Yates driven by SplitMix64."""
    mask = (1 << 64) - 1
    state = seed & mask
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        j = z % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def _numpy_images(a: np.ndarray, what: str) -> np.ndarray:
    """src/data/numpy.rs's layouts and values: [N, C*H*W] uint8, channels first."""
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[3] in (1, 3) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    elif a.ndim == 4 and a.shape[1] in (1, 3):
        pass
    elif a.ndim == 4 and a.shape[3] in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"{what}: an array of shape {list(a.shape)}; images are [N, H, W], "
                         "[N, H, W, C] or [N, C, H, W] with C = 1 or 3")
    if a.dtype.kind == "f":  # Rust's round(): halves away from zero, not to even
        a = np.floor(a.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a.astype(np.uint8)).reshape(len(a), -1)


def _read_numpy(path: Path):
    """A .npy or .npz of a regular file's bytes, never unpickling: an object array is
    refused with the file named."""
    raw = read_regular(path)
    # np.load takes any other bytes for a pickle, and refuses them as one: say what they are.
    if not raw.startswith((b"\x93NUMPY", b"PK\x03\x04", b"PK\x05\x06")):
        raise ValueError(f"{path}: not a NumPy file (it begins with neither .npy's magic nor a "
                         "zip's); save the images with np.save or np.savez")
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
        if path.suffix == ".npy":
            return _numpy_images(loaded, str(path)), None, None, None
        with loaded as z:
            if "x_train" not in z:
                raise ValueError(f"{path}: no x_train array (it holds {sorted(z.files)}); save the "
                                 "training images as x_train")
            x_train = _numpy_images(z["x_train"], f"{path}: x_train")
            x_test = _numpy_images(z["x_test"], f"{path}: x_test") if "x_test" in z else None
            y_train = z["y_train"].astype(np.int64) if "y_train" in z else None
            y_test = z["y_test"].astype(np.int64) if "y_test" in z else None
        return x_train, y_train, x_test, y_test
    except Exception as e:  # zipfile's, zlib's, NumPy's header parser's: named here
        if "allow_pickle" in str(e):
            raise ValueError(f"{path}: an array of Python objects (a pickle), which is never "
                             "loaded; save images as uint8 or float arrays") from None
        if isinstance(e, MemoryError) or (isinstance(e, ValueError) and str(path) in str(e)):
            raise
        raise ValueError(f"{path}: not a readable NumPy file ({type(e).__name__}: {e}); save it "
                         "again with np.save or np.savez") from e


def _read_cifar(data: Path):
    ten = (data / "data_batch_1.bin").is_file()
    files = [data / f"data_batch_{i}.bin" for i in range(1, 6)] if ten else [data / "train.bin"]
    label_bytes = 1 if ten else 2  # CIFAR-100: coarse, then the fine label tch-vae uses

    def read(paths):
        parts = []
        for p in paths:
            part = np.frombuffer(read_regular(p), dtype=np.uint8)
            if len(part) == 0 or len(part) % (label_bytes + 3072):
                raise ValueError(f"{p}: {len(part)} bytes, not a whole number of CIFAR records of "
                                 f"{label_bytes + 3072} bytes (truncated or not CIFAR)")
            parts.append(part.reshape(-1, label_bytes + 3072))
        records = np.concatenate(parts)
        return records[:, label_bytes:], records[:, label_bytes - 1].astype(np.int64)

    x_train, y_train = read(files)
    x_test, y_test = read([data / ("test_batch.bin" if ten else "test.bin")])
    return x_train, y_train, x_test, y_test


def load_run_data(config: dict, split: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The `split` ("train" or "test") of the data a run's config.json names, as tch-vae
    made it: x [n, C*H*W] float32 in [0, 1] and labels [n] int64 (zeros without labels).
    MNIST-format, CIFAR and NumPy sources, with the test split that --test-fraction drew
    (the same seeded permutation); `limit` (default: the run's own) cuts the training
    split. Folders of images and runs with --channels or --image-size are refused: their
    decoding and resizing are tch-vae's."""
    train = config["train"]
    data = Path(train["data"])
    source = config.get("data", {}).get("source", "idx") or "idx"
    if source == "folder" or train.get("channels") or train.get("image_size"):
        raise ValueError(f"{data}: images decoded or resized by tch-vae (a folder of images, "
                         "--channels or --image-size); read them with tch-vae itself")
    if source == "idx":
        prefix = "train" if split == "train" else "t10k"
        return load_split(data, prefix, (limit or train.get("limit")) if split == "train" else None)
    x_train, y_train, x_test, y_test = _read_cifar(data) if source == "cifar" else _read_numpy(data)
    y_train = np.zeros(len(x_train), np.int64) if y_train is None else y_train
    if x_test is None:  # split.rs: a fraction held out with the run's seed, source order kept
        n = len(x_train)
        n_test = max(1, math.floor(n * train.get("test_fraction", 0.1) + 0.5))  # Rust's round()
        held = np.zeros(n, bool)
        held[_permutation(n, int(train["seed"]))[:n_test]] = True
        x_train, x_test, y_test, y_train = x_train[~held], x_train[held], y_train[held], y_train[~held]
    y_test = np.zeros(len(x_test), np.int64) if y_test is None else y_test
    if split == "train":
        keep = limit or train.get("limit") or len(x_train)
        x, y = x_train[:keep], y_train[:keep]
    else:
        x, y = x_test, y_test
    return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y)
