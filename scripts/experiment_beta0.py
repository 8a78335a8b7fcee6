#!/usr/bin/env python3
"""The KL term's role, by experiment: without the KL term (beta = 0) the posterior
variances collapse towards 0 and the VAE degenerates into a plain autoencoder whose
prior samples stop looking like data; with it (beta = 1) they do not.

    python scripts/experiment_beta0.py [--epochs 10] [--limit N] [--out notebooks-export/experiments]

Trains both runs with tch-vae (same seed and data), then draws mean sigma^2 per epoch
side by side (log scale) with both runs' prior-sample grids, writes `beta0.png` and
prints a Markdown table of the final epoch.
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from tch_vae import read_metrics  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto")
    p.add_argument("--runs", default=str(REPO / "models"), help="where the two run folders go")
    p.add_argument("--out", default=str(REPO / "notebooks-export" / "experiments"))
    a = p.parse_args()

    runs = {}
    for beta in ("0", "1"):
        run = Path(a.runs) / f"beta{beta}-seed{a.seed}-{a.epochs}ep"
        if not (run / "metrics.csv").exists() or not (run / "samples.png").exists():
            cmd = [str(REPO / "target/release/tch-vae"), "train", "--beta", beta, "--epochs", str(a.epochs),
                   "--seed", str(a.seed), "--device", a.device, "--out", str(run)]
            if a.limit:
                cmd += ["--limit", str(a.limit)]
            subprocess.run(cmd, check=True)
        runs[beta] = (run, read_metrics(run))

    fig = plt.figure(figsize=(14, 4.6))
    ax = fig.add_subplot(1, 3, 1)
    for beta, (_, rows) in runs.items():
        ax.semilogy([r["epoch"] for r in rows], [r["mean_var"] for r in rows], "o-", label=f"beta = {beta}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="prior variance")
    ax.set(xlabel="epoch", ylabel="mean sigma^2 over test images and latent units",
           title="posterior variance")
    ax.legend()
    for i, (beta, (run, _)) in enumerate(runs.items()):
        ax = fig.add_subplot(1, 3, 2 + i)
        ax.imshow(mpimg.imread(run / "samples.png"), cmap="gray")
        ax.set_title(f"decoded z ~ N(0, I), beta = {beta}")
        ax.axis("off")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "beta0.png", dpi=100, bbox_inches="tight")
    print(f"wrote {out / 'beta0.png'}\n")
    print("| beta | mean sigma^2 (epoch 1 -> last) | test recon (nats) | test KL (nats) | test -ELBO (nats) |")
    print("|---|---|---|---|---|")
    for beta, (_, rows) in runs.items():
        first, last = rows[0], rows[-1]
        neg_elbo = last["test_recon"] + last["test_kl"]
        print(f"| {beta} | {first['mean_var']:.3g} -> {last['mean_var']:.3g} | {last['test_recon']:.2f} "
              f"| {last['test_kl']:.2f} | {neg_elbo:.2f} |")


if __name__ == "__main__":
    main()
