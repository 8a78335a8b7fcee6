"""The VAE of tch-vae in PyTorch: the same layers, parameter names and loss terms as the
Rust crate (src/arch.rs, src/loss.rs). tests/python checks the parity."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


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
                 arch: str = "mlp", image_shape: tuple[int, int] = (28, 28), channels: int = 1,
                 conv_channels: list[int] | None = None, likelihood: str = "bernoulli"):
        super().__init__()
        hidden = [400] if hidden is None else list(hidden)
        if arch == "mlp":
            enc = _mlp([input_dim] + hidden)
            dec = _mlp([latent] + hidden[::-1] + [input_dim])[:-1]
            trunk = hidden[-1] if hidden else input_dim
        elif arch == "conv":
            # One stride-2 4x4 convolution per entry of conv_channels, mirrored in the decoder.
            stages = [32, 64] if conv_channels is None else list(conv_channels)
            h, w = image_shape
            scale = 2 ** len(stages)
            last, fh, fw = stages[-1], h // scale, w // scale
            flat = last * fh * fw
            enc: list[nn.Module] = [nn.Unflatten(1, (channels, h, w))]
            for a, b in zip([channels] + stages[:-1], stages):
                enc += [nn.Conv2d(a, b, 4, 2, 1), nn.ReLU()]
            enc += [nn.Flatten()] + _mlp([flat] + hidden)
            dec = _mlp([latent] + hidden[::-1] + [flat]) + [nn.Unflatten(1, (last, fh, fw))]
            back = stages[::-1] + [channels]
            for a, b in zip(back[:-1], back[1:]):
                dec += [nn.ConvTranspose2d(a, b, 4, 2, 1), nn.ReLU()]
            dec = dec[:-1] + [nn.Flatten()]  # logits: no ReLU after the last layer
            trunk = hidden[-1] if hidden else flat
        else:
            raise ValueError(f"unknown arch {arch!r}")
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(trunk, latent)
        self.fc_logvar = nn.Linear(trunk, latent)
        self.decoder = nn.Sequential(*dec)
        if likelihood == "logistic":  # a learned log-scale per value, registered last
            self.log_scale = nn.Parameter(torch.full((input_dim,), -3.0))  # src/arch.rs's LOG_SCALE_INIT

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.flatten(x, 1))  # [n, C, H, W] or [n, C*H*W] -> [n, trunk]
        return self.fc_mu(h), self.fc_logvar(h)  # [n, latent] each

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # [n, C*H*W]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))


def discretized_logistic_nll(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log P(x) of 8-bit values in [0, 1] under a logistic discretized into 256 bins (the
    outer two reach to +-inf), summed over values: tch-vae's src/loss.rs, the same steps."""
    half = 0.5 / 255.0
    inv_scale = torch.exp(-log_scale)
    centred = x - mean
    plus, minus = (centred + half) * inv_scale, (centred - half) * inv_scale

    def log_sigmoid(v):
        return -F.softplus(-v)

    def log_bin_mass(hi, lo):
        log_hi = log_sigmoid(hi)
        return log_hi + torch.log(-torch.expm1(log_sigmoid(lo) - log_hi))

    middle = torch.where(centred > 0, log_bin_mass(-minus, -plus), log_bin_mass(plus, minus))
    inner = torch.where(x > 1.0 - half, log_sigmoid(-minus), middle)
    return -torch.where(x < half, log_sigmoid(plus), inner).sum(1)


def elbo_terms(model: VAE, x: torch.Tensor, likelihood: str = "bernoulli", eps: torch.Tensor | None = None):
    """Per-sample (recon, kl_mu, kl_var, logvar), each [n] but logvar [n, latent], as tch-vae's
    loss.rs computes them; `eps` ([n, latent], default fresh N(0, I) draws) sets z."""
    x = torch.flatten(x, 1)  # images [n, C, H, W] or [n, C*H*W]
    mu, logvar = model.encode(x)
    eps = torch.randn_like(mu) if eps is None else eps
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decode_logits(z)
    if likelihood == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    elif likelihood == "logistic":
        recon = discretized_logistic_nll(torch.sigmoid(logits), model.log_scale, x)
    else:  # N(sigmoid(logits), 1/2): squared error plus the density constant
        recon = (x - torch.sigmoid(logits)).pow(2).sum(1) + 0.5 * x.shape[1] * math.log(math.pi)
    kl_mu = 0.5 * mu.pow(2).sum(1)
    kl_var = 0.5 * (logvar.exp() - logvar - 1).sum(1)
    return recon, kl_mu, kl_var, logvar
