"""PixelCNN++'s mixture of discretized logistics (Salimans et al. 2017), as tch-vae's
src/model/mixture.rs computes it: the same layout of the decoder's output, the same steps.

Per pixel, params_per_pixel(k, c) values: k weights, then the means [c, k], the log-scales
[c, k] (plus LOG_SCALE_SHIFT, floored at -7) and the coefficients [c(c-1)/2, k] (tanh; pair (ch, j) at
ch(ch-1)/2 + j), read from [n, P*H*W] as [n, P, H, W]. Values x in [0, 1] are stretched to
[-1, 1]; bins are 2/255 wide, the outer two (values 0 and 255) open."""
from __future__ import annotations

import torch
import torch.nn.functional as F


# Added to the decoder's log-scale outputs (mixture.rs's LOG_SCALE_SHIFT): a fresh decoder
# starts at a scale of 0.1 of the [-1, 1] range, not the whole range.
LOG_SCALE_SHIFT = -2.3


def params_per_pixel(k: int, c: int) -> int:
    return k * (1 + 2 * c + c * (c - 1) // 2)


def _parts(params: torch.Tensor, k: int, c: int):
    n = params.shape[0]
    p = params.reshape(n, params_per_pixel(k, c), -1)  # [n, P, HW]
    hw = p.shape[2]
    pairs = c * (c - 1) // 2
    # Contiguous copies, as mixture.rs (the thread count then leaves the bits alone).
    logits = p[:, :k].contiguous()  # [n, K, HW]
    means = p[:, k:k + c * k].contiguous().reshape(n, c, k, hw)
    log_scales = (p[:, k + c * k:k + 2 * c * k].contiguous().reshape(n, c, k, hw) + LOG_SCALE_SHIFT).clamp_min(-7.0)
    coeffs = torch.tanh(p[:, k + 2 * c * k:].contiguous().reshape(n, pairs, k, hw))
    return logits, means, log_scales, coeffs


def _coupled(means: torch.Tensor, coeffs: torch.Tensor, values: list[torch.Tensor], clamp: bool):
    """Each channel's mean plus its coefficients times the earlier channels' `values`."""
    out: list[torch.Tensor] = []
    for ch in range(means.shape[1]):
        m = means[:, ch:ch + 1]
        for j in range(ch):
            a = ch * (ch - 1) // 2 + j
            m = m + coeffs[:, a:a + 1] * (out[j] if clamp else values[j])
        out.append(m.clamp(-1.0, 1.0) if clamp else m)
    return out


def log_bin_mass(centred: torch.Tensor, inv_scale: torch.Tensor, half: float,
                 lowest: torch.Tensor, highest: torch.Tensor) -> torch.Tensor:
    """log P(bin) of a discretized logistic (src/model/logistic.rs's log_bin_mass): the bin
    [centred - half, centred + half] in scale units (inv_scale = 1 / scale), open below
    where `lowest` and above where `highest`; taken from the tail it lies in, or, for a bin
    narrower than 0.01 scale units, from the density at its middle."""
    plus, minus = (centred + half) * inv_scale, (centred - half) * inv_scale

    def mass(hi, lo):
        log_hi = F.logsigmoid(hi)
        return log_hi + torch.log(-torch.expm1(F.logsigmoid(lo) - log_hi))

    upper = centred > 0  # the side chosen first: the other side's formula reaches log(0)
    width = inv_scale * (2.0 * half)
    wide = width >= 0.01
    t = centred * inv_scale
    narrow = F.logsigmoid(t) + F.logsigmoid(-t) + torch.log(width)
    hi = torch.where(wide, torch.where(upper, -minus, plus), 0.5)
    lo = torch.where(wide, torch.where(upper, -plus, minus), -0.5)
    middle = torch.where(wide, mass(hi, lo), narrow)
    return torch.where(lowest, F.logsigmoid(plus), torch.where(highest, F.logsigmoid(-minus), middle))


def mixture_nll(params: torch.Tensor, x: torch.Tensor, k: int, c: int) -> torch.Tensor:
    """-log p(x) of 8-bit images x ([n, C*H*W] in [0, 1]) summed over pixels, [n], in nats."""
    logits, means, log_scales, coeffs = _parts(params, k, c)
    x = x.reshape(x.shape[0], c, 1, -1)
    v = x * 2.0 - 1.0
    centred = v - torch.cat(_coupled(means, coeffs, [v[:, j:j + 1] for j in range(c)], False), 1)
    log_mass = log_bin_mass(centred, torch.exp(-log_scales), 1.0 / 255.0,
                            x < 0.5 / 255.0, x > 1.0 - 0.5 / 255.0)  # [n, C, K, HW]
    log_weights = logits - torch.logsumexp(logits, 1, keepdim=True)
    return -torch.logsumexp(log_weights + log_mass.sum(1), 1).sum(1)


def mixture_image(params: torch.Tensor, k: int, c: int, picture: str = "mode") -> torch.Tensor:
    """The mixture's picture, [n, C*H*W] in [0, 1] (`tch-vae sample --picture`): "mode", at
    each pixel the most probable component's means; "mean", the weights times the
    components' means; each component's means coupled through the earlier channels'
    (clamped) means."""
    if picture not in ("mode", "mean"):
        raise ValueError(f"picture must be 'mode' or 'mean' (got {picture!r})")
    logits, means, _, coeffs = _parts(params, k, c)
    means = torch.cat(_coupled(means, coeffs, [], True), 1)  # [n, C, K, HW]
    if picture == "mean":
        v = (torch.softmax(logits, 1).unsqueeze(1) * means).sum(2)  # [n, C, HW]
    else:
        best = torch.argmax(logits, 1, keepdim=True).unsqueeze(1)  # [n, 1, 1, HW]
        best = best.expand(means.shape[0], means.shape[1], 1, means.shape[3])
        v = torch.gather(means, 2, best).squeeze(2)
    return ((v + 1.0) * 0.5).reshape(params.shape[0], -1)
