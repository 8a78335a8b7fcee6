#!/usr/bin/env python3
"""PyTorch eager reference for tch-vae: the same model, loss and training procedure.

It is the baseline that tch-vae's quality and speed are measured against (README,
"Results"), and `VAE` is the plain `nn.Module` whose `state_dict` keys are exactly the
names in a run's `weights.safetensors`:

    from reference_vae import load_run
    model, config = load_run("models/<run>")   # a VAE with the run's trained weights

Training it (same defaults as `tch-vae train`):

    python scripts/reference_vae.py --epochs 10 --out /tmp/reference-run

writes `metrics.csv` with tch-vae's columns, so both runs are read the same way.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
COLUMNS = [
    "epoch", "train_loss", "train_recon", "train_kl", "train_kl_mu", "train_kl_var",
    "test_loss", "test_recon", "test_kl", "test_kl_mu", "test_kl_var", "mean_var",
    "epoch_seconds", "beta",
]


def _mlp(widths: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers


class VAE(nn.Module):
    """The VAE of tch-vae's src/arch.rs: encoder trunk + heads mu (f1) and log sigma^2 (f2),
    mirrored decoder; arch "mlp" (linear layers) or "conv" (two stride-2 4x4 convolutions of
    32 and 64 channels before the hidden layers, transposed convolutions after them).

    Parameter names match tch-vae's VarStore: encoder.N, fc_mu, fc_logvar, decoder.N, with
    N the position in the nn.Sequential. `decode_logits` returns pre-sigmoid outputs;
    `decode` returns pixel probabilities (Bernoulli) or means (Gaussian).
    """

    def __init__(self, input_dim: int = 784, hidden: list[int] | None = None, latent: int = 20,
                 arch: str = "mlp", image_shape: tuple[int, int] = (28, 28)):
        super().__init__()
        hidden = [400] if hidden is None else list(hidden)
        if arch == "mlp":
            enc = _mlp([input_dim] + hidden)
            dec = _mlp([latent] + hidden[::-1] + [input_dim])[:-1]
            trunk = hidden[-1] if hidden else input_dim
        elif arch == "conv":
            h, w = image_shape
            flat = 64 * (h // 4) * (w // 4)
            enc = [nn.Unflatten(1, (1, h, w)), nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(),
                   nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten()] + _mlp([flat] + hidden)
            dec = _mlp([latent] + hidden[::-1] + [flat]) + [
                nn.Unflatten(1, (64, h // 4, w // 4)), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Flatten()]
            trunk = hidden[-1] if hidden else flat
        else:
            raise ValueError(f"unknown arch {arch!r}")
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(trunk, latent)
        self.fc_logvar = nn.Linear(trunk, latent)
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)  # [n, trunk]
        return self.fc_mu(h), self.fc_logvar(h)  # [n, latent] each

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # [n, pixels]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))


def elbo_terms(model: VAE, x: torch.Tensor, likelihood: str = "bernoulli", eps: torch.Tensor | None = None):
    """Per-sample (recon, kl_mu, kl_var, logvar), each [n] but logvar [n, latent], as tch-vae's
    loss.rs computes them; `eps` ([n, latent], default fresh N(0, I) draws) sets z."""
    mu, logvar = model.encode(x)
    eps = torch.randn_like(mu) if eps is None else eps
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode_logits(z)
    if likelihood == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    else:  # N(sigmoid(logits), 1/2): squared error plus the density constant
        recon = (x - torch.sigmoid(logits)).pow(2).sum(1) + 0.5 * x.shape[1] * math.log(math.pi)
    kl_mu = 0.5 * mu.pow(2).sum(1)
    kl_var = 0.5 * (logvar.exp() - logvar - 1).sum(1)
    return recon, kl_mu, kl_var, logvar


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


def load_run(run_dir: str | os.PathLike) -> tuple[VAE, dict]:
    """The VAE of a tch-vae run folder, with its trained weights (strict key match)."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    m = config["model"]
    model = VAE(m["image_height"] * m["image_width"], m["hidden"], m["latent"], m.get("arch", "mlp"),
                (m["image_height"], m["image_width"]))
    model.load_state_dict(load_file(str(run_dir / "weights.safetensors")), strict=True)
    return model.eval(), config


def run_pass(model, x, batch_size, beta, likelihood, optimizer=None, order=None):
    """Sums [loss, recon, kl, kl_mu, kl_var] over one pass, and the sum of sigma^2."""
    sums = torch.zeros(5, dtype=torch.float64, device=x.device)
    var_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    n = len(x)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
        xb = x[idx]
        recon, kl_mu, kl_var, logvar = elbo_terms(model, xb, likelihood)
        kl = kl_mu + kl_var
        loss = recon + beta * kl
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.mean().backward()
            optimizer.step()
        with torch.no_grad():
            sums += torch.stack([t.sum() for t in (loss, recon, kl, kl_mu, kl_var)]).double()
            var_sum += logvar.exp().sum().double()
    return (sums / n).tolist(), float(var_sum)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--out", help="folder for metrics.csv and weights.safetensors")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--hidden", default="400", help="comma-separated widths")
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (the data live on it, as in tch-vae)")
    a = p.parse_args()

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = Path(a.data)
    device = torch.device(a.device)
    x_train, _ = load_split(data, "train", a.limit)
    x_test, _ = load_split(data, "t10k")
    x_train, x_test = x_train.to(device), x_test.to(device)
    hidden = [int(h) for h in a.hidden.split(",") if h]
    model = VAE(x_train.shape[1], hidden, a.latent).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=a.lr)
    print(f"reference: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(x_train)} train / {len(x_test)} test images")
    rows = []
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), device=device)
        t0 = time.perf_counter()
        train, _ = run_pass(model, x_train, a.batch_size, a.beta, a.likelihood, optimizer, order)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            test, var_sum = run_pass(model, x_test, 1024, a.beta, a.likelihood)
        mean_var = var_sum / (len(x_test) * a.latent)
        rows.append([epoch, *train, *test, mean_var, seconds, a.beta])
        print(f"epoch {epoch}/{a.epochs} | train {train[0]:.2f} | test {test[0]:.2f} "
              f"(recon {test[1]:.2f} + KL {test[2]:.2f}) | mean var {mean_var:.4f} | {seconds:.2f} s",
              flush=True)
    if a.out:
        from safetensors.torch import save_file

        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "metrics.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows(rows)
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                  str(out / "weights.safetensors"))


if __name__ == "__main__":
    main()
