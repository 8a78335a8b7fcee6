"""torch.export of a tch-vae run: a program that outlives TorchScript (deprecated since
PyTorch 2.10; see the README for what each version does with vae.pt)."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .files import check_output
from .hierarchy import HierarchicalVAE
from .run import load_run


class ExportedVAE(nn.Module):
    """One forward pass with every piece a user compares: for images x ([n, C*H*W] or
    [n, C, H, W]; the exported program takes [n, C, H, W]), noise eps ([n, latent]) and, for a conditional model, labels y ([n]
    int64): (mu, logvar, decode(z), recon, kl_mu, kl_var) with z = mu + sigma * eps, or,
    under the VampPrior, (mu, logvar, decode(z), recon, kl). A hierarchical model: the same
    six, z drawn group by group (HierarchicalVAE.exported_terms)."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, eps: torch.Tensor, y: torch.Tensor | None = None):
        if isinstance(self.vae, HierarchicalVAE):
            return self.vae.exported_terms(x, eps)
        mu, logvar = self.vae.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * eps
        return (mu, logvar, self.vae.decode(z, y), *self.vae.elbo_terms(x, eps, y))


def export_pt2(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Writes the run's model as a torch.export program (`torch.export.load(path).module()`
    runs it on images [n, C, H, W]; the batch size n is free) and returns the path. The file is written to a
    temporary name and renamed, so no half-written program is ever left. It never replaces
    one of the run folder's own files."""
    check_output(run_dir, path)
    vae = load_run(run_dir)
    program = ExportedVAE(vae).eval()
    m = vae.config["model"]
    shape = (m.get("channels", 1), m["image_height"], m["image_width"])
    n = torch.export.Dim("n", min=1)
    x, eps = torch.rand(2, *shape), torch.randn(2, vae.latent)
    args: tuple = (x, eps)
    shapes: dict = {"x": {0: n}, "eps": {0: n}}
    if vae.classes is not None:
        args += (torch.zeros(2, dtype=torch.int64),)
        shapes["y"] = {0: n}
    with torch.no_grad():
        exported = torch.export.export(program, args, dynamic_shapes=shapes)
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.pt2")
    try:
        torch.export.save(exported, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
