"""tch-vae's `--arch hierarchical` in PyTorch: a top-down hierarchical VAE in the VDVAE style
(src/model/hierarchy/), with the same parameter names, operations and loss terms.
tests/python checks the parity with the Rust model's vae.pt."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .mixture import mixture_image, params_per_pixel
from .model import _recon, check_temperature


def sides(h: int, w: int) -> list[tuple[int, int]]:
    """The resolutions of an h x w image, top-down: halved while both sides are even and the
    smaller is above 4, then 1x1 (layout.rs's `sides`)."""
    out = [(h, w)]
    while out[-1][0] % 2 == 0 and out[-1][1] % 2 == 0 and min(out[-1]) > 4:
        out.append((out[-1][0] // 2, out[-1][1] // 2))
    if out[-1] != (1, 1):
        out.append((1, 1))
    return out[::-1]


class Block(nn.Module):
    """gelu then conv, four times (1x1, k x k, k x k, 1x1; k = 3 unless the side is 2 or
    less); the input added when residual."""

    def __init__(self, inputs: int, mid: int, outputs: int, side: tuple[int, int], residual: bool):
        super().__init__()
        k = 3 if min(side) > 2 else 1
        self.c1 = nn.Conv2d(inputs, mid, 1)
        self.c2 = nn.Conv2d(mid, mid, k, padding=k // 2)
        self.c3 = nn.Conv2d(mid, mid, k, padding=k // 2)
        self.c4 = nn.Conv2d(mid, outputs, 1)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activated(F.gelu(x))
        return x + h if self.residual else h

    def activated(self, gx: torch.Tensor) -> torch.Tensor:
        """The block without its residual, from its input's gelu (computed once where two
        blocks read the same input, as tch-vae does)."""
        h = self.c1(gx)
        for c in (self.c2, self.c3, self.c4):
            h = c(F.gelu(h))
        return h


class Group(nn.Module):
    """One latent group: posterior block q, prior block p, z projection, residual block."""

    def __init__(self, width: int, mid: int, latent: int, side: tuple[int, int], level: int):
        super().__init__()
        self.q = Block(2 * width, mid, 2 * latent, side, False)
        self.p = Block(width, mid, 2 * latent + width, side, False)
        self.z_proj = nn.Conv2d(latent, width, 1)
        self.res = Block(width, mid, width, side, True)
        self.side, self.level = side, level


class Encoder(nn.Module):
    def __init__(self, channels: int, width: int, mid: int, depths: list[int], all_sides):
        super().__init__()
        self.in_conv = nn.Conv2d(channels, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            Block(width, mid, width, side, True)
            for side, depth in list(zip(all_sides, depths))[::-1] for _ in range(depth))


class Decoder(nn.Module):
    def __init__(self, width: int, mid: int, latent: int, depths: list[int], all_sides, outputs: int):
        super().__init__()
        self.h_top = nn.Parameter(torch.zeros(1, width, 1, 1))
        self.groups = nn.ModuleList(
            Group(width, mid, latent, side, level)
            for level, side in enumerate(all_sides) for _ in range(depths[level]))
        self.out = nn.Conv2d(width, outputs, 1)


class HierarchicalVAE(nn.Module):
    """The model of a tch-vae `--arch hierarchical` run. z is the stack of its groups; the
    flat interface of the other models holds: `encode(x) -> (mu, logvar)`, every group's
    posterior at the means of the groups above, `[n, latent_dim]` each (top-down, each group
    `[latent, h, w]` flattened); `decode(z)`; `sample(n, temperature=1.0)`;
    `elbo_terms(x, eps) -> (recon, kl_mu, kl_var)` with z = mu + sigma * eps group by group;
    `log_ratio(x, eps) -> (recon, log p(z) - log q(z|x))`."""

    def __init__(self, image_shape: tuple[int, int], channels: int, width: int,
                 depth: int | list[int], latent: int, likelihood: str, mixtures: int = 0):
        super().__init__()
        self.image_shape, self.channels, self.width = tuple(image_shape), channels, width
        self.likelihood, self.mixtures, self.latent_channels = likelihood, mixtures, latent
        mid = max(width // 4, 1)
        self.sides = sides(*image_shape)
        # Groups at each resolution, top-down: one number for all, or one each.
        depth = [depth] if isinstance(depth, int) else list(depth)
        self.depths = depth * len(self.sides) if len(depth) == 1 else depth
        if len(self.depths) != len(self.sides):
            raise ValueError(f"depth {depth}: give one number or one per resolution {self.sides}")
        outputs = params_per_pixel(mixtures, channels) if likelihood == "logistic-mixture" else channels
        self.encoder = Encoder(channels, width, mid, self.depths, self.sides)
        self.decoder = Decoder(width, mid, latent, self.depths, self.sides, outputs)
        self.classes = None
        self.latent = sum(latent * g.side[0] * g.side[1] for g in self.decoder.groups)
        if likelihood == "logistic":
            self.log_scale = nn.Parameter(torch.full((channels * image_shape[0] * image_shape[1],), -3.0))

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[n, C*H*W] in [0, 1] -> one [n, width, h, w] per resolution, top-down."""
        h, w = self.image_shape
        a = self.encoder.in_conv(x.reshape(-1, self.channels, h, w) * 2.0 - 1.0)
        acts = []
        blocks = iter(self.encoder.blocks)
        for level in reversed(range(len(self.sides))):
            for _ in range(self.depths[level]):
                a = next(blocks)(a)
            acts.insert(0, a)
            if level > 0:
                nxt = self.sides[level - 1]
                a = a.mean((2, 3), keepdim=True) if nxt == (1, 1) else F.avg_pool2d(a, 2)
        return acts

    def top_down(self, acts, n: int, mode: str, given: torch.Tensor | None = None,
                 temperature: float = 1.0):
        """mode: "noise" (z = q's mean + sigma * given), "mean", "given" (z = given),
        "prior" (z ~ p at temperature) or "prefix" (the top groups' z given, a whole number
        of groups, the rest ~ p at temperature: tch_vae.fitted's draws). Returns (out, kl_mu, kl_var, log_ratio, q_mu, q_logvar)."""
        temperature = check_temperature(temperature)
        z_dim = self.latent_channels
        h = self.decoder.h_top.expand(n, -1, -1, -1)
        zero = torch.zeros(n, dtype=h.dtype, device=h.device)
        kl_mu, kl_var, log_ratio = zero, zero, zero
        q_mus, q_logvars, offset, level = [], [], 0, 0
        gelu_acts = None
        for group in self.decoder.groups:
            sh, sw = group.side
            if group.level != level:
                h = F.interpolate(h, size=(sh, sw), mode="nearest")
                level = group.level
            gh = F.gelu(h)
            # Split, not sliced: a split's gradient is one concatenation, slices' are
            # zero-filled copies and their sums.
            p_mu, p_logvar, p_state = torch.split(group.p.activated(gh), [z_dim, z_dim, self.width], 1)
            size = z_dim * sh * sw
            covered = given is not None and offset + size <= given.shape[1]
            part = given[:, offset:offset + size].reshape(n, z_dim, sh, sw) if covered else None
            if mode == "prefix" and covered:
                z = part
            elif mode in ("prior", "prefix"):
                z = p_mu + torch.exp(0.5 * p_logvar) * torch.randn_like(p_mu) * temperature
            elif mode == "given":
                z = part
            else:
                if gelu_acts is None:  # each resolution's gelu once, for all its groups
                    gelu_acts = [F.gelu(a) for a in acts]
                q = group.q.activated(torch.cat([gh, gelu_acts[group.level]], 1))
                q_mu, q_logvar = torch.split(q, [z_dim, z_dim], 1)
                z = q_mu if mode == "mean" else q_mu + torch.exp(0.5 * q_logvar) * part
                # KL(N(q) || N(p)) in closed form, as the means' and the variances' parts.
                ratio = q_logvar - p_logvar
                kl_mu = kl_mu + (0.5 * (q_mu - p_mu) ** 2 / torch.exp(p_logvar)).sum((1, 2, 3))
                kl_var = kl_var + (0.5 * (torch.exp(ratio) - 1.0 - ratio)).sum((1, 2, 3))
                log_p = (-0.5 * ((z - p_mu) ** 2 / torch.exp(p_logvar) + p_logvar)).sum((1, 2, 3))
                log_q = (-0.5 * ((z - q_mu) ** 2 / torch.exp(q_logvar) + q_logvar)).sum((1, 2, 3))
                log_ratio = log_ratio + log_p - log_q
                q_mus.append(q_mu.flatten(1))
                q_logvars.append(q_logvar.flatten(1))
            offset += size
            h = h + p_state
            h = h + group.z_proj(z)
            h = group.res(h)
        out = self.decoder.out(h).flatten(1)
        cat = (lambda t: torch.cat(t, 1)) if q_mus else (lambda t: None)
        return out, kl_mu, kl_var, log_ratio, cat(q_mus), cat(q_logvars)

    def picture(self, out: torch.Tensor, picture: str = "mode") -> torch.Tensor:
        """The pixels' means; a mixture's drawn as `picture` says (tch_vae.mixture.mixture_image)."""
        if self.likelihood == "logistic-mixture":
            return mixture_image(out, self.mixtures, self.channels, picture)
        return torch.sigmoid(out)

    def recon(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _recon(self, out, x, self.likelihood)

    def encode(self, x: torch.Tensor):
        x = torch.flatten(x, 1)
        r = self.top_down(self.bottom_up(x), x.shape[0], "mean")
        return r[4], r[5]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.top_down(None, z.shape[0], "given", z)[0]

    def decode(self, z: torch.Tensor, picture: str = "mode") -> torch.Tensor:
        return self.picture(self.decode_logits(z), picture)

    def sample(self, n: int, temperature: float = 1.0, picture: str = "mode") -> torch.Tensor:
        return self.picture(self.top_down(None, n, "prior", temperature=temperature)[0], picture)

    def forward(self, x: torch.Tensor):
        x = torch.flatten(x, 1)
        eps = torch.randn(x.shape[0], self.latent, dtype=x.dtype, device=x.device)
        r = self.top_down(self.bottom_up(x), x.shape[0], "noise", eps)
        return self.picture(r[0]), r[4], r[5]

    def elbo_terms(self, x: torch.Tensor, eps: torch.Tensor):
        x = torch.flatten(x, 1)
        r = self.top_down(self.bottom_up(x), x.shape[0], "noise", eps)
        return self.recon(r[0], x), r[1], r[2]

    def exported_terms(self, x: torch.Tensor, eps: torch.Tensor):
        """export_pt2's outputs: (mu, logvar, decode(z), recon, kl_mu, kl_var) of one
        posterior pass with z = mu + sigma * eps group by group (mu and logvar: every
        group's posterior on that pass)."""
        x = torch.flatten(x, 1)
        out, kl_mu, kl_var, _, mu, logvar = self.top_down(self.bottom_up(x), x.shape[0], "noise", eps)
        return mu, logvar, self.picture(out), self.recon(out, x), kl_mu, kl_var

    def log_ratio(self, x: torch.Tensor, eps: torch.Tensor):
        x = torch.flatten(x, 1)
        r = self.top_down(self.bottom_up(x), x.shape[0], "noise", eps)
        return self.recon(r[0], x), r[3]
