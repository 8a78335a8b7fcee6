"""The ex-post prior that `tch-vae fit-prior` fits to a run (src/model/fitted/): a Gaussian
mixture over the principal coordinates of the training images' posterior means (a
hierarchical model's top groups). Read with torch.distributions, written apart from the
Rust code that fits it; tests/python holds the two together.

    prior = tch_vae.load_fitted_prior("models/<run>")
    images = tch_vae.sample_fitted(model, prior, 64, temperature=0.8)
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from .files import check_folder, read_regular
from .model import check_temperature

FITTED_PRIOR = "fitted-prior.safetensors"
FITTED_PRIOR_REPORT = "fitted-prior.json"
#: The largest file read (src/model/fitted/mod.rs's MAX_FILE_BYTES).
MAX_FILE_BYTES = 1 << 30


class FittedPrior:
    """z = mean + basis y, y ~ a mixture of full-covariance Gaussians (float64)."""

    def __init__(self, mean, basis, weights, means, scale_tril):
        self.mean, self.basis = mean, basis              # [D], [D, k]
        self.weights, self.means = weights, means        # [C], [C, k]
        self.scale_tril = scale_tril                     # [C, k, k]

    @property
    def code_values(self) -> int:
        return self.mean.shape[0]

    def mixture(self, temperature: float = 1.0) -> MixtureSameFamily:
        """The mixture over the k coordinates, each covariance times temperature^2."""
        temperature = check_temperature(temperature)
        return MixtureSameFamily(Categorical(probs=self.weights),
                                 MultivariateNormal(self.means, scale_tril=self.scale_tril * temperature))

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Codes [n, D] -> their coordinates [n, k]."""
        return (z.double() - self.mean) @ self.basis

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """The mixture's log-density of the codes' coordinates [n] (nats; of the k
        coordinates, as fitted-prior.json reports it)."""
        return self.mixture().log_prob(self.project(z))

    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """n codes [n, D] (float32), the components' spread times `temperature`. Drawn in
        the binary's order (the components, then one normal [n, k, 1]), so that a seed gives
        `tch-vae sample --fitted-prior`'s codes."""
        temperature = check_temperature(temperature)
        c = torch.multinomial(self.weights, n, replacement=True)
        eps = torch.randn(n, self.means.shape[1], 1, dtype=torch.float64)
        y = self.means[c] + (self.scale_tril[c] @ eps).squeeze(-1) * temperature
        return (self.mean + y @ self.basis.T).float()


def load_fitted_prior(run_dir: str | os.PathLike) -> FittedPrior:
    """The fitted prior of a run folder (fitted-prior.safetensors), its shapes checked."""
    from safetensors.torch import load as load_bytes

    check_folder(run_dir)
    path = Path(run_dir) / FITTED_PRIOR
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `tch-vae fit-prior --run {run_dir}` first")
    t = load_bytes(read_regular(path, MAX_FILE_BYTES, "a fitted prior holds"))
    names = ["mean", "basis", "weights", "means", "scale_tril"]
    if sorted(t) != sorted(names):
        raise ValueError(f"{path} is not a fitted prior: tensors {sorted(t)}, expected {names}")
    mean, basis, weights, means, tril = (t[n].double() for n in names)
    d, k, c = mean.shape[0], basis.shape[-1], weights.shape[0]
    shapes = [(mean, (d,)), (basis, (d, k)), (weights, (c,)), (means, (c, k)), (tril, (c, k, k))]
    if any(tuple(x.shape) != s for x, s in shapes):
        raise ValueError(f"{path} is not a fitted prior: shapes {[tuple(x.shape) for x in (mean, basis, weights, means, tril)]}")
    return FittedPrior(mean, basis, weights, means, tril)


def sample_fitted(model, prior: FittedPrior, n: int, temperature: float = 1.0,
                  picture: str = "mode") -> torch.Tensor:
    """n images [n, C*H*W] drawn with the fitted prior: a flat model's z from it; a
    hierarchical model's top groups from it and the rest from its own prior at
    `temperature` (as `tch-vae sample --fitted-prior`)."""
    z = prior.sample(n, temperature)
    with torch.no_grad():
        if hasattr(model, "top_down"):
            out = model.top_down(None, n, "prefix", z, temperature)[0]
            return model.picture(out, picture)
        if z.shape[1] != model.latent:
            raise ValueError(f"the prior draws {z.shape[1]} values; this model's z has {model.latent}")
        return model.decode(z, picture=picture)
