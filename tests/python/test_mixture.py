"""PixelCNN++'s mixture of discretized logistics (tch_vae.mixture, the mirror of
src/model/mixture.rs) against oracles that share none of its code: the probabilities of
every value of a pixel sum to 1 in float64, and the log-likelihood matches the paper's
definition written with torch.distributions' logistic CDF (a sigmoid of the standardised
value) and plain differences."""
import itertools
import math

import pytest
import torch

from tch_vae.mixture import mixture_image, mixture_nll, params_per_pixel


def random_pixel(k, c, seed):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(1, params_per_pixel(k, c), generator=g, dtype=torch.float64)
    p[:, k + c * k:k + 2 * c * k] = p[:, k + c * k:k + 2 * c * k] * 0.8 - 0.2  # scales e^-2.5 +- 0.8
    return p


def oracle_log_p(p, vals, k):
    """log p(x) of one pixel's byte values from the definition, with a logistic
    distribution built from torch.distributions (Uniform pushed through the logit)."""
    c = len(vals)
    p = p[0].tolist()
    v = [u / 127.5 - 1.0 for u in vals]
    weights = torch.softmax(torch.tensor(p[:k], dtype=torch.float64), 0).tolist()
    total = 0.0
    for comp in range(k):
        prob = weights[comp]
        for ch in range(c):
            m = p[k + ch * k + comp] + sum(
                math.tanh(p[k + 2 * c * k + (ch * (ch - 1) // 2 + j) * k + comp]) * v[j] for j in range(ch))
            s = math.exp(max(p[k + c * k + ch * k + comp] - 2.3, -7.0))  # the shift, the floor
            base = torch.distributions.Uniform(torch.tensor(0.0, dtype=torch.float64),
                                               torch.tensor(1.0, dtype=torch.float64))
            logistic = torch.distributions.TransformedDistribution(
                base, [torch.distributions.transforms.SigmoidTransform().inv,
                       torch.distributions.transforms.AffineTransform(m, s)])
            at = lambda t: logistic.cdf(torch.tensor(t, dtype=torch.float64)).item()  # noqa: E731
            upper = 1.0 if vals[ch] == 255 else at(v[ch] + 1 / 255.0)
            lower = 0.0 if vals[ch] == 0 else at(v[ch] - 1 / 255.0)
            prob *= upper - lower
        total += prob
    return math.log(total)


@pytest.mark.parametrize("k,c,seed", [(1, 1, 1), (5, 1, 2), (10, 3, 3), (2, 3, 4)])
def test_log_likelihood_matches_the_definition(k, c, seed):
    p = random_pixel(k, c, seed)
    for vals in [(60, 128, 200), (1, 2, 3), (128, 127, 129), (0, 255, 0), (255, 0, 254)]:
        vals = vals[:c]
        x = torch.tensor([vals], dtype=torch.float64) / 255.0
        got = -mixture_nll(p, x, k, c).item()
        want = oracle_log_p(p, vals, k)
        assert got == pytest.approx(want, rel=1e-7, abs=1e-9), (k, c, vals)


def test_every_value_of_a_colour_pixel_sums_to_one():
    k, c = 2, 3
    p = random_pixel(k, c, 7)
    gb = torch.tensor(list(itertools.product(range(256), repeat=2)), dtype=torch.float64)
    total = 0.0
    for red in range(256):
        x = torch.cat([torch.full((len(gb), 1), float(red), dtype=torch.float64), gb], 1) / 255.0
        total += torch.exp(-mixture_nll(p.expand(len(gb), -1), x, k, c)).sum().item()
    assert total == pytest.approx(1.0, abs=1e-9)


def test_a_grey_pixel_sums_to_one_and_its_pictures_are_the_likeliest_component_and_the_mean():
    k = 10
    p = random_pixel(k, 1, 9)
    x = torch.arange(256, dtype=torch.float64).unsqueeze(1) / 255.0
    assert torch.exp(-mixture_nll(p.expand(256, -1), x, k, 1)).sum().item() == pytest.approx(1.0, abs=1e-9)
    # The picture: the likeliest component's (clamped) mean.
    best = int(torch.argmax(p[0, :k]))
    want = (p[0, k + best].clamp(-1, 1) + 1) / 2
    assert mixture_image(p, k, 1).item() == pytest.approx(want.item(), rel=1e-12)
    # The mean: the weights times the (clamped) means, summed one component at a time.
    logits = [float(v) for v in p[0, :k]]
    total = sum(math.exp(v) for v in logits)
    mean = sum(math.exp(w) / total * min(max(float(p[0, k + j]), -1.0), 1.0)
               for j, w in enumerate(logits))
    assert mixture_image(p, k, 1, "mean").item() == pytest.approx((mean + 1) / 2, rel=1e-12)
    with pytest.raises(ValueError, match="picture must be"):
        mixture_image(p, k, 1, "median")
