"""A tch-vae run folder read from Python: its file names (those of src/run/files.rs),
config.json, metrics.csv and the trained model."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch

from .files import check_folder, read_regular
from .hierarchy import HierarchicalVAE
from .model import VAE

CONFIG = "config.json"
WEIGHTS = "weights.safetensors"
METRICS = "metrics.csv"
TORCHSCRIPT = "vae.pt"
EVAL = "eval.json"
#: The columns of metrics.csv, in order (src/run/metrics.rs).
COLUMNS = [
    "epoch", "train_loss", "train_recon", "train_kl", "train_kl_mu", "train_kl_var",
    "test_loss", "test_recon", "test_kl", "test_kl_mu", "test_kl_var", "mean_var",
    "epoch_seconds", "beta",
]


#: The largest config.json and metrics.csv read (a config is a few KiB; a metrics.csv of
#: 3,280 epochs about 1 MiB).
MAX_CONFIG_BYTES = 1 << 20
MAX_METRICS_BYTES = 64 << 20


def read_config(run_dir: str | os.PathLike) -> dict:
    """The run's config.json as a dict."""
    check_folder(run_dir)
    path = Path(run_dir) / CONFIG
    try:
        config = json.loads(read_regular(path, MAX_CONFIG_BYTES, "a config.json may hold"))
    # RecursionError: brackets nested thousands deep (json's parser recurses).
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path} is not a valid tch-vae config: {e}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} is not a valid tch-vae config: a JSON {type(config).__name__}, not an object")
    return config


class Metrics(list):
    """metrics.csv: a list of rows (dicts of floats by column, one per epoch) that also
    gives a whole column by name: `m[-1]["test_loss"]` is the last epoch's test loss,
    `m["test_loss"]` every epoch's."""

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.columns:
                raise KeyError(f"{key!r}: metrics.csv's columns are {self.columns}")
            return [row[key] for row in self]
        return super().__getitem__(key)

    @property
    def columns(self) -> list[str]:
        return list(super().__getitem__(0)) if len(self) else list(COLUMNS)


def read_metrics(path: str | os.PathLike) -> Metrics:
    """The rows of a metrics.csv (a run folder, or the file itself), as floats by column
    (NaN where a column does not apply: the VampPrior's kl_mu and kl_var); see Metrics."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    data = read_regular(path, MAX_METRICS_BYTES, "a metrics.csv may hold")
    try:
        text = data.decode()
        # Every field as a float, and every row as long as the header (DictReader puts a
        # longer row's rest under None and fills a shorter one with None).
        rows = Metrics()
        for row in csv.DictReader(text.splitlines()):
            if None in row or None in row.values():
                raise ValueError(f"row {len(rows) + 1} has another number of fields than the header")
            rows.append({k: float(v) for k, v in row.items()})
        return rows
    except (UnicodeDecodeError, csv.Error, ValueError) as e:
        raise ValueError(f"{path} is not a tch-vae metrics file: {e}") from None


def write_metrics(path: str | os.PathLike, rows: list[list[float]]) -> None:
    """Writes rows of the COLUMNS as a metrics.csv."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)


def load_run(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu") -> VAE:
    """The VAE of a tch-vae run folder: a plain torch.nn.Module built from config.json, its
    trained weights loaded from weights.safetensors with load_state_dict(strict=True), in
    eval mode on `map_location`. `model.config` holds config.json as a dict. The weights
    are read first (a regular file that fits in memory), and the model a config describes
    is sized on PyTorch's meta device, without memory, before it is built: a config.json
    that names a model of another size than its weights is refused, naming both files."""
    from safetensors.torch import load as load_bytes

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    state = load_bytes(read_regular(run_dir / WEIGHTS, what="of memory available"))
    try:
        with torch.device("meta"):
            sized = _build(config)
    except (ValueError, RuntimeError, KeyError, TypeError) as e:
        raise ValueError(f"{run_dir / CONFIG} describes no model tch-vae builds: {e}") from None
    wanted = sum(p.numel() for p in sized.state_dict().values())
    held = sum(t.numel() for t in state.values())
    if wanted != held:
        raise ValueError(f"{run_dir / CONFIG} describes a model of {wanted} parameters but "
                         f"{run_dir / WEIGHTS} holds {held}: the two files are not of one run")
    model = _build(config)
    model.load_state_dict(state, strict=True)
    model.config = config
    return model.to(map_location).eval()


def _build(config: dict) -> VAE | HierarchicalVAE:
    m = config["model"]
    channels = m.get("channels", 1)  # runs written before colour images are grey
    if m.get("arch") == "hierarchical":
        # The binary's limits (src/config/model.rs): checked before anything is sized.
        depth = m["depth"] if isinstance(m["depth"], list) else [m["depth"]]
        for name, value, top in (("width", m["width"], 4096), ("latent", m["latent"], 4096)):
            if not (isinstance(value, int) and 1 <= value <= top):
                raise ValueError(f"--{name} must be from 1 to {top} (got {value!r})")
        if not depth or not all(isinstance(d, int) and 1 <= d <= 64 for d in depth):
            raise ValueError(f"--depth must be from 1 to 64 groups a resolution (got {depth!r})")
        return HierarchicalVAE((m["image_height"], m["image_width"]), channels, m["width"],
                               m["depth"], m["latent"], m["likelihood"], m.get("mixtures", 0))
    return VAE(channels * m["image_height"] * m["image_width"], m["hidden"], m["latent"],
               m.get("arch", "mlp"), (m["image_height"], m["image_width"]), channels,
               m.get("conv_channels", [32, 64]), m["likelihood"],
               activation=m.get("activation", "relu"), prior=m.get("prior", "normal"),
               pseudo_inputs=m.get("pseudo_inputs", 0), classes=m.get("classes"),
               mixtures=m.get("mixtures", 0))
