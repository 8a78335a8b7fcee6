"""tch_vae: read tch-vae run folders from Python, with nothing but torch, numpy and
safetensors (`pip install ./scripts`).

    import tch_vae
    model = tch_vae.load_run("models/<run>")           # a plain nn.Module, trained weights
    model.config                                        # config.json
    rows = tch_vae.read_metrics("models/<run>")         # metrics.csv: rows[-1]["test_loss"], rows["test_loss"]
    tch_vae.export_pt2("models/<run>", "vae.pt2")       # a torch.export program
    prior = tch_vae.load_fitted_prior("models/<run>")   # after `tch-vae fit-prior`
    images = tch_vae.sample_fitted(model, prior, 64)    # z (a hierarchy's top groups) from it

The scripts in scripts/ import it too (running a script from scripts/ puts this package
on the path).
"""
from .data import DEFAULT_DATA, load_run_data, load_split, read_idx
from .export import ExportedVAE, export_pt2
from .fitted import FittedPrior, load_fitted_prior, sample_fitted
from .machine import cpu_name
from .hierarchy import HierarchicalVAE
from .model import VAE, elbo_terms
from .run import COLUMNS, Metrics, load_run, read_config, read_metrics, write_metrics

__all__ = [
    "COLUMNS", "DEFAULT_DATA", "ExportedVAE", "FittedPrior", "HierarchicalVAE", "Metrics", "VAE", "cpu_name",
    "elbo_terms", "export_pt2", "load_fitted_prior", "load_run", "load_run_data", "load_split", "sample_fitted",
    "read_config", "read_idx", "read_metrics", "write_metrics",
]
