"""The VAE of tch-vae in PyTorch: the same layers, parameter names and loss terms as the
Rust crate (src/model/arch.rs, src/model/loss.rs). tests/python checks the parity."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .mixture import log_bin_mass, mixture_image, mixture_nll, params_per_pixel


LOG_2PI = math.log(2.0 * math.pi)
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


def check_temperature(temperature: float) -> float:
    """A sampling temperature, checked as `tch-vae sample --temperature` checks it: a number
    from 0 to 10 (NaN is refused, not drawn as NaN images)."""
    t = float(temperature)
    if not 0.0 <= t <= 10.0:
        raise ValueError(f"temperature must be from 0 to 10 (got {temperature})")
    return t


def _mlp(widths: list[int], act: type[nn.Module] = nn.ReLU) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), act()]
    return layers


def _widen_first_linear(layers: list[nn.Module], by: int) -> int:
    """Widens the first nn.Linear of `layers` by `by` inputs (the one-hot label joins there);
    returns its position (len(layers) when there is none: the label joins the output)."""
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Linear):
            if by:
                layers[i] = nn.Linear(layer.in_features + by, layer.out_features)
            return i
    return len(layers)


class VAE(nn.Module):
    """The VAE of tch-vae's src/model/arch.rs: encoder trunk + heads mu (f1) and log sigma^2 (f2),
    mirrored decoder; arch "mlp" (linear layers) or "conv" (stride-2 4x4 convolutions, one
    per entry of conv_channels, before the hidden layers, transposed convolutions after
    them); `activation` "relu" or "tanh" after every hidden layer.

    `classes`: a conditional VAE (Sohn et al. 2015): the one-hot label y joins the input of
    the first nn.Linear of the encoder (the heads' when there is none) and of the decoder;
    `encode(x, y)`, `decode(z, y)`, `sample(n, y)`. `prior` "vamp": the VampPrior
    (Tomczak & Welling 2018) over `pseudo_inputs` learned inputs (clamped to [0, 1]).

    Parameter names match tch-vae's VarStore: log_scale, pseudo_inputs, encoder.N, fc_mu,
    fc_logvar, decoder.N, with N the position in the nn.Sequential. `decode_logits`
    returns pre-sigmoid outputs (for likelihood "logistic-mixture", the `mixtures`
    components' parameters, tch_vae.mixture); `decode` returns pixel probabilities
    (Bernoulli) or means.
    """

    def __init__(self, input_dim: int = 784, hidden: list[int] | None = None, latent: int = 20,
                 arch: str = "mlp", image_shape: tuple[int, int] = (28, 28), channels: int = 1,
                 conv_channels: list[int] | None = None, likelihood: str = "bernoulli",
                 activation: str = "relu", prior: str = "normal", pseudo_inputs: int = 0,
                 classes: int | None = None, mixtures: int = 0):
        super().__init__()
        hidden = [400] if hidden is None else list(hidden)
        act = ACTIVATIONS[activation]
        self.latent, self.classes, self.prior, self.likelihood = latent, classes, prior, likelihood
        self.mixtures, self.channels = mixtures, channels
        # The decoder's outputs per pixel: a logit per channel, or the mixture's parameters.
        per_pixel = params_per_pixel(mixtures, channels) if likelihood == "logistic-mixture" else channels
        out_dim = per_pixel * (input_dim // channels)
        if arch == "mlp":
            enc = _mlp([input_dim] + hidden, act)
            dec = _mlp([latent] + hidden[::-1] + [out_dim], act)[:-1]
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
                enc += [nn.Conv2d(a, b, 4, 2, 1), act()]
            enc += [nn.Flatten()] + _mlp([flat] + hidden, act)
            dec = _mlp([latent] + hidden[::-1] + [flat], act) + [nn.Unflatten(1, (last, fh, fw))]
            back = stages[::-1] + [per_pixel]
            for a, b in zip(back[:-1], back[1:]):
                dec += [nn.ConvTranspose2d(a, b, 4, 2, 1), act()]
            dec = dec[:-1] + [nn.Flatten()]  # logits: no activation after the last layer
            trunk = hidden[-1] if hidden else flat
        else:
            raise ValueError(f"unknown arch {arch!r}")
        label = classes or 0
        self._enc_join = _widen_first_linear(enc, label)
        self._dec_join = _widen_first_linear(dec, label)
        heads_in = trunk + (label if self._enc_join == len(enc) else 0)
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(heads_in, latent)
        self.fc_logvar = nn.Linear(heads_in, latent)
        self.decoder = nn.Sequential(*dec)
        # Module parameters, registered last but listed first by state_dict, in this order.
        if likelihood == "logistic":  # a learned log-scale per value
            self.log_scale = nn.Parameter(torch.full((input_dim,), -3.0))  # src/model/vae.rs's LOG_SCALE_INIT
        if prior == "vamp":  # src/model/vae.rs's PSEUDO_INPUTS_INIT: N(0.05, 0.01^2)
            self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(pseudo_inputs, input_dim))

    def _trunk(self, seq: nn.Sequential, join: int, h: torch.Tensor, y: torch.Tensor | None):
        """`seq` applied to h, the one-hot label joining before layer `join`."""
        if self.classes is None:
            if y is not None:
                raise ValueError("labels given to a model that is not conditional")
            return seq(h)
        if y is None:
            raise ValueError("a conditional model needs labels y ([n] int64)")
        # A scatter, as the Rust model's: F.one_hot checks the labels' range on the host,
        # which torch.export cannot trace.
        one_hot = torch.zeros(y.shape[0], self.classes, dtype=h.dtype, device=h.device)
        one_hot = one_hot.scatter(1, y.unsqueeze(1), 1.0)
        layers = list(seq)
        for layer in layers[:join]:
            h = layer(h)
        h = torch.cat([h, one_hot], 1)
        for layer in layers[join:]:
            h = layer(h)
        return h

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._trunk(self.encoder, self._enc_join, torch.flatten(x, 1), y)  # -> [n, trunk]
        return self.fc_mu(h), self.fc_logvar(h)  # [n, latent] each

    def decode_logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self._trunk(self.decoder, self._dec_join, z, y)  # [n, C*H*W]

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, picture: str = "mode") -> torch.Tensor:
        """Pixel probabilities (Bernoulli) or means; the logistic mixture's picture as
        `picture` says (its likeliest component's means, or its mean:
        tch_vae.mixture.mixture_image)."""
        out = self.decode_logits(z, y)
        if self.likelihood == "logistic-mixture":
            return mixture_image(out, self.mixtures, self.channels, picture)
        return torch.sigmoid(out)

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The VampPrior's components: encode(clamp(pseudo_inputs, 0, 1)), labels k mod classes."""
        u = torch.clamp(self.pseudo_inputs, 0.0, 1.0)
        y = None if self.classes is None else torch.arange(len(u), device=u.device) % self.classes
        return self.encode(u, y)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), [n, latent] -> [n]: N(0, I), or the VampPrior's mixture."""
        if self.prior != "vamp":
            return -0.5 * (z * z + LOG_2PI).sum(1)
        mu, logvar = self.prior_components()
        d = z.unsqueeze(1) - mu.unsqueeze(0)  # [n, K, latent]
        log_n = -0.5 * (d * d * torch.exp(-logvar) + logvar + LOG_2PI).sum(2)
        return torch.logsumexp(log_n, 1) - math.log(mu.shape[0])

    def prior_sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """n draws z ~ p(z), [n, latent]; N(0, I)'s times `temperature` (`tch-vae sample
        --temperature`); the VampPrior, a mixture, has none."""
        temperature = check_temperature(temperature)
        w = self.fc_mu.weight
        eps = torch.randn(n, self.latent, dtype=w.dtype, device=w.device)
        if self.prior != "vamp":
            return eps * temperature
        if temperature != 1.0:
            raise ValueError("temperature: the VampPrior is a mixture; it has no temperature "
                             "(leave it at 1)")
        mu, logvar = self.prior_components()
        which = torch.randint(0, mu.shape[0], (n,), device=w.device)
        return mu[which] + torch.exp(0.5 * logvar[which]) * eps

    def sample(self, n: int, y: torch.Tensor | None = None, picture: str = "mode",
               temperature: float = 1.0) -> torch.Tensor:
        """n images decoded from z ~ p(z) (with labels y [n] for a conditional model), N(0, I)'s
        draws times `temperature`."""
        return self.decode(self.prior_sample(n, temperature), y, picture)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """(decode(z), mu, logvar) with z drawn from q(z|x)."""
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z, y), mu, logvar

    def elbo_terms(self, x: torch.Tensor, eps: torch.Tensor, y: torch.Tensor | None = None,
                   likelihood: str | None = None):
        """vae.pt's elbo_terms: (recon, kl_mu, kl_var) against N(0, I); against the
        VampPrior (recon, kl), the one-sample estimate log q(z|x) - log p(z) at z.
        `likelihood`: the model's own unless given."""
        likelihood = likelihood or self.likelihood
        if self.prior != "vamp":
            recon, kl_mu, kl_var, _ = elbo_terms(self, x, likelihood, eps, y)
            return recon, kl_mu, kl_var
        x = torch.flatten(x, 1)
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * eps
        recon = _recon(self, self.decode_logits(z, y), x, likelihood)
        log_q = -0.5 * (eps * eps + logvar + LOG_2PI).sum(1)
        return recon, log_q - self.log_prior(z)


def discretized_logistic_nll(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log P(x) of 8-bit values in [0, 1] under a logistic discretized into 256 bins (the
    outer two reach to +-inf), summed over values: tch-vae's src/model/logistic.rs, the same steps."""
    half = 0.5 / 255.0
    return -log_bin_mass(x - mean, torch.exp(-log_scale), half, x < half, x > 1.0 - half).sum(1)


def _recon(model: VAE, logits: torch.Tensor, x: torch.Tensor, likelihood: str) -> torch.Tensor:
    """-log p(x|z) summed over values, [n] (src/model/loss.rs's reconstruction_nll)."""
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    if likelihood == "logistic":
        return discretized_logistic_nll(torch.sigmoid(logits), model.log_scale, x)
    if likelihood == "logistic-mixture":
        return mixture_nll(logits, x, model.mixtures, model.channels)
    # N(sigmoid(logits), 1/2): squared error plus the density constant
    return (x - torch.sigmoid(logits)).pow(2).sum(1) + 0.5 * x.shape[1] * math.log(math.pi)


def elbo_terms(model: VAE, x: torch.Tensor, likelihood: str = "bernoulli",
               eps: torch.Tensor | None = None, y: torch.Tensor | None = None):
    """Per-sample (recon, kl_mu, kl_var, logvar), each [n] but logvar [n, latent], as tch-vae's
    loss.rs computes them against N(0, I); `eps` ([n, latent], default fresh N(0, I) draws)
    sets z; `y`: the labels of a conditional model. (A VampPrior model: `model.elbo_terms`.)"""
    x = torch.flatten(x, 1)  # images [n, C, H, W] or [n, C*H*W]
    mu, logvar = model.encode(x, y)
    eps = torch.randn_like(mu) if eps is None else eps
    z = mu + torch.exp(0.5 * logvar) * eps
    recon = _recon(model, model.decode_logits(z, y), x, likelihood)
    kl_mu = 0.5 * mu.pow(2).sum(1)
    kl_var = 0.5 * (logvar.exp() - logvar - 1).sum(1)
    return recon, kl_mu, kl_var, logvar
