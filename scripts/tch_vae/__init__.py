"""tch_vae: read tch-vae run folders from Python.

    import tch_vae
    model, config = tch_vae.load_run("models/<run>")   # a plain nn.Module, trained weights
    rows = tch_vae.read_metrics("models/<run>")         # metrics.csv, one dict per epoch

The scripts in scripts/ import it (running a script from scripts/ puts this package on the
path); `sys.path.insert(0, "scripts")` does the same from elsewhere.
"""
from .data import DEFAULT_DATA, load_split, read_idx
from .machine import cpu_name
from .model import VAE, elbo_terms
from .run import COLUMNS, load_run, read_config, read_metrics, write_metrics

__all__ = [
    "COLUMNS", "DEFAULT_DATA", "VAE", "cpu_name", "elbo_terms", "load_run", "load_split",
    "read_config", "read_idx", "read_metrics", "write_metrics",
]
