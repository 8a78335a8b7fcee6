#!/usr/bin/env python3
"""Analyse a tch-vae run folder with PyTorch and the package alone: its model
(`tch_vae.load_run`: config.json and weights.safetensors), `metrics.csv` and the test
images of the dataset its `config.json` names (`tch_vae.load_run_data`: MNIST-format,
CIFAR and NumPy sources, grey or colour; conditional models get their labels).

    python scripts/analyze_run.py models/<run>                 # every figure
    python scripts/analyze_run.py models/<run> --only latent   # one of: curves latent
                                                               #   aggregate manifold interpolation
Figures go to RUN/analysis/ (or --out DIR) as PNG; the aggregate posterior's statistics
are printed and written to RUN/analysis/aggregate_posterior.json.

Figures:
- curves: loss, reconstruction and both KL parts per epoch (metrics.csv);
- latent: test-set mu coloured by label (2-D latents directly, else the first two
  principal components);
- aggregate: the aggregate posterior q(z) = mean_x q(z|x) over the test set, its mean and
  covariance against the prior N(0, I) (how close the codes come to the prior they are pulled to);
- manifold: for latent = 2, decoded images over a grid of Gaussian quantiles (Kingma &
  Welling 2013, figure 4);
- interpolation: decoded images along the line between the posterior means of two test
  images.
The functions are importable (the notebook in notebooks-export/ uses them).

It reads no TorchScript: safetensors and JSON only, so any run folder is safe to open.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

import tch_vae
from tch_vae import read_metrics

FIGURES = ("curves", "latent", "aggregate", "manifold", "interpolation")


@dataclass
class Run:
    path: Path
    module: torch.nn.Module
    config: dict
    metrics: list[dict[str, float]]

    @property
    def latent(self) -> int:
        return int(self.module.latent)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of an image."""
        m = self.config["model"]
        return int(m.get("channels", 1)), int(m["image_height"]), int(m["image_width"])

    def labels_for(self, labels: torch.Tensor) -> torch.Tensor | None:
        """The labels a conditional model takes (None for an unconditional one)."""
        return labels if self.config["model"].get("classes") is not None else None


def load_run(path: str | Path) -> Run:
    """The run's model on the CPU (whatever device trained it), config.json and metrics.csv."""
    path = Path(path)
    module = tch_vae.load_run(path, map_location="cpu")
    return Run(path, module, module.config, read_metrics(path))


def test_images(run: Run, data: str | Path | None = None, limit: int | None = None):
    """The test split of the run's dataset (`data`: another copy of it): x [n, C*H*W] in
    [0, 1] and labels [n]."""
    config = run.config
    if data:
        config = {**config, "train": {**config["train"], "data": str(data)}}
    x, labels = tch_vae.load_run_data(config, "test")
    return (x[:limit], labels[:limit]) if limit else (x, labels)


@torch.no_grad()
def encode_all(run: Run, x: torch.Tensor, labels: torch.Tensor | None = None,
               batch: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior parameters (mu, logvar), each [n, latent] (a conditional model reads the
    labels)."""
    y = None if labels is None else run.labels_for(labels)
    parts = [run.module.encode(x[i:i + batch], None if y is None else y[i:i + batch])
             for i in range(0, len(x), batch)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def aggregate_posterior(mu: torch.Tensor, logvar: torch.Tensor) -> dict:
    """Moments of q(z) = mean_x N(mu(x), diag sigma^2(x)) and the KL of the moment-matched
    Gaussian N(m, S) from N(0, I): 1/2 (tr S + m.m - d - log det S)."""
    mu, var = mu.double(), logvar.double().exp()
    mean = mu.mean(0)
    centred = mu - mean
    cov = centred.T @ centred / len(mu) + torch.diag(var.mean(0))  # law of total covariance
    d = mu.shape[1]
    kl = 0.5 * (torch.trace(cov) + mean @ mean - d - torch.logdet(cov))
    return {
        "mean": mean.tolist(),
        "cov_diag": torch.diag(cov).tolist(),
        "cov": cov.tolist(),
        "kl_moment_matched_to_prior": float(kl),
        "mean_norm": float(mean.norm()),
        "max_abs_off_diagonal": float((cov - torch.diag(torch.diag(cov))).abs().max()) if d > 1 else 0.0,
    }


def grid(images: torch.Tensor, shape: tuple[int, int, int], cols: int) -> np.ndarray:
    """[k, C*H*W] in [0, 1] -> one array ([rows*H, cols*W], or [..., 3] in colour) with the
    images in rows of `cols`."""
    ch, h, w = shape
    k = len(images)
    rows = -(-k // cols)
    canvas = np.ones((rows * h, cols * w, ch))
    for i, img in enumerate(images.detach().cpu().reshape(k, ch, h, w).permute(0, 2, 3, 1).numpy()):
        r, c = divmod(i, cols)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return canvas[..., 0] if ch == 1 else canvas


def plot_curves(run: Run, ax=None):
    """Loss curves from metrics.csv: train solid, test dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4)) if ax is None else (None, ax)
    epochs = [m["epoch"] for m in run.metrics]
    for key, colour in (("loss", "C0"), ("recon", "C1")):
        axes[0].plot(epochs, [m[f"train_{key}"] for m in run.metrics], colour, label=f"train {key}")
        axes[0].plot(epochs, [m[f"test_{key}"] for m in run.metrics], colour + "--", label=f"test {key}")
    for key, colour, name in (("kl", "C2", "KL"), ("kl_mu", "C4", "L_mu"), ("kl_var", "C3", "L_sigma^2")):
        axes[1].plot(epochs, [m[f"train_{key}"] for m in run.metrics], colour, label=f"train {name}")
        axes[1].plot(epochs, [m[f"test_{key}"] for m in run.metrics], colour + "--", label=f"test {name}")
    for a, title in zip(axes, ("negative ELBO and reconstruction", "KL = L_mu + L_sigma^2")):
        a.set(xlabel="epoch", ylabel="nats per image", title=title)
        a.legend(fontsize=8)
    return fig


def latent_2d(mu: torch.Tensor) -> tuple[np.ndarray, str]:
    """mu itself for 2-D latents, else its projection on the first two principal components."""
    if mu.shape[1] == 2:
        return mu.numpy(), "z"
    centred = mu - mu.mean(0)
    _, s, v = torch.linalg.svd(centred, full_matrices=False)
    explained = (s[:2] ** 2 / (s ** 2).sum()).tolist()
    return (centred @ v[:2].T).numpy(), f"PC (explains {explained[0]:.0%}, {explained[1]:.0%})"


def plot_latent(mu: torch.Tensor, labels: torch.Tensor, ax=None):
    fig, ax = plt.subplots(figsize=(6, 5.5)) if ax is None else (None, ax)
    points, name = latent_2d(mu)
    sc = ax.scatter(points[:, 0], points[:, 1], c=labels.numpy(), cmap="tab10", s=2, alpha=0.6)
    ax.set(xlabel=f"{name} 1", ylabel=f"{name} 2", title="test-set posterior means by label")
    if fig is not None:
        fig.colorbar(sc, ax=ax, ticks=range(10), label="label")
    return fig


def plot_aggregate(stats: dict):
    d = len(stats["mean"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    idx = np.arange(d)
    a.bar(idx - 0.2, stats["mean"], 0.4, label="mean of q(z)")
    a.bar(idx + 0.2, stats["cov_diag"], 0.4, label="variance of q(z)")
    a.axhline(0, color="k", lw=0.8)
    a.axhline(1, color="k", lw=0.8, ls="--", label="prior variance 1")
    a.set(xlabel="latent dimension", title="aggregate posterior vs N(0, I)", xticks=idx)
    a.legend(fontsize=8)
    im = b.imshow(np.array(stats["cov"]), cmap="RdBu_r", vmin=-1.5, vmax=1.5)
    b.set(xticks=idx, yticks=idx, title=f"covariance of q(z); KL(moment match || prior) = {stats['kl_moment_matched_to_prior']:.2f}")
    fig.colorbar(im, ax=b)
    return fig


@torch.no_grad()
def manifold(run: Run, n: int = 20) -> np.ndarray:
    """For latent = 2: decode z on an n x n grid of N(0, 1) quantiles (AEVB figure 4)."""
    if run.latent != 2:
        raise ValueError(f"the manifold needs a 2-D latent space; this run has latent = {run.latent}")
    if run.config["model"].get("classes") is not None:
        raise ValueError("a conditional model has a manifold per class; give it labels with decode(z, y)")
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))
    z1, z2 = torch.meshgrid(q, q.flip(0), indexing="xy")  # z2 grows upwards
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)
    return grid(run.module.decode(z), run.shape, n)


@torch.no_grad()
def interpolation(run: Run, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10,
                  labels: torch.Tensor | None = None) -> np.ndarray:
    """Decoded images along mu(x_a) -> mu(x_b), with the two originals at the ends (a
    conditional model encodes each with its label, `labels` [2], and decodes with a's)."""
    y = None if labels is None else run.labels_for(labels)
    mu, _ = run.module.encode(torch.stack([x_a, x_b]), y)
    t = torch.linspace(0, 1, steps)[:, None]
    images = run.module.decode((1 - t) * mu[0] + t * mu[1], None if y is None else y[:1].repeat(steps))
    return grid(torch.cat([x_a[None], images, x_b[None]]), run.shape, steps + 2)


def show(image: np.ndarray, title: str, width: float = 8):
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(width, width * h / w + 0.4))
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    return fig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                epilog="Reads config.json, weights.safetensors and metrics.csv "
                                       "(no TorchScript).")
    p.add_argument("run", help="run folder written by `tch-vae train`")
    p.add_argument("--data", help="dataset folder [default: the one in config.json]")
    p.add_argument("--out", help="output folder [default: RUN/analysis]")
    p.add_argument("--only", choices=FIGURES, action="append", help="figure(s) to draw [default: all]")
    p.add_argument("--pair", type=int, nargs=2, default=(0, 1), metavar=("A", "B"),
                   help="test-image indices to interpolate between")
    a = p.parse_args()
    matplotlib.use("Agg")  # files only; a notebook importing this module keeps its inline backend
    run = load_run(a.run)
    out = Path(a.out) if a.out else run.path / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    conditional = run.config["model"].get("classes") is not None
    wanted = a.only or [f for f in FIGURES if f != "manifold" or (run.latent == 2 and not conditional)]

    def save(fig, name):
        fig.savefig(out / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote {out / name}")

    if "curves" in wanted:
        save(plot_curves(run), "curves.png")
    if {"latent", "aggregate", "interpolation"} & set(wanted):
        x, labels = test_images(run, a.data)
        mu, logvar = encode_all(run, x, labels)
        if "latent" in wanted:
            save(plot_latent(mu, labels), "latent.png")
        if "aggregate" in wanted:
            stats = aggregate_posterior(mu, logvar)
            (out / "aggregate_posterior.json").write_text(json.dumps(stats, indent=1))
            print(f"aggregate posterior: |mean| = {stats['mean_norm']:.3f}, variances "
                  f"{min(stats['cov_diag']):.3f}..{max(stats['cov_diag']):.3f}, "
                  f"KL(moment-matched || N(0, I)) = {stats['kl_moment_matched_to_prior']:.3f} nats")
            save(plot_aggregate(stats), "aggregate.png")
        if "interpolation" in wanted:
            i, j = a.pair
            save(show(interpolation(run, x[i], x[j], labels=labels[[i, j]]), f"test image {i} -> test image {j}", 10),
                 "interpolation.png")
    if "manifold" in wanted:
        save(show(manifold(run), "decoded z over N(0, I) quantiles (latent = 2)"), "manifold.png")


if __name__ == "__main__":
    main()
