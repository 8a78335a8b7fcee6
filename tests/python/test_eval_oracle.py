"""`tch-vae eval`'s numbers recomputed independently: in float64, from the run's
weights.safetensors loaded into the PyTorch module, with torch.distributions' densities
and numpy's covariance and log-determinant instead of tch-vae's own formulas."""
import json
import math
import subprocess

import numpy as np
import torch
from torch.distributions import Normal, kl_divergence

from conftest import BINARY, FASHION_MNIST
from tch_vae import load_run, load_split

IMAGES, K = 300, 64


def _iw_estimates(model, x, k, generator):
    """Per image: the k-sample importance-weighted -log p(x) and the negative ELBO (recon
    averaged over the same k samples + the analytic KL), Burda et al. 2015, eq. 8."""
    mu, logvar = model.encode(x)
    q = Normal(mu, torch.exp(0.5 * logvar))
    eps = torch.randn((k, *mu.shape), dtype=mu.dtype, generator=generator)
    z = mu + q.scale * eps  # [k, n, latent]
    logits = model.decode_logits(z.reshape(-1, z.shape[-1])).reshape(k, len(x), -1)
    # log p(x|z) of (grey-level) Bernoulli pixels, written with log-sigmoids.
    log_px = (x * F_logsigmoid(logits) + (1 - x) * F_logsigmoid(-logits)).sum(-1)  # [k, n]
    log_w = log_px + Normal(0.0, 1.0).log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    nll = -(torch.logsumexp(log_w, 0) - math.log(k))
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1)
    return nll, -log_px.mean(0) + kl


def F_logsigmoid(t):
    return -torch.nn.functional.softplus(-t)


def _moments(mu, logvar):
    """Mean, covariance diagonal and KL(N(m, S) || N(0, I)) of the aggregate posterior,
    with numpy's covariance and slogdet."""
    mu, var = mu.numpy(), np.exp(logvar.numpy())
    cov = np.cov(mu.T, bias=True) + np.diag(var.mean(0))
    mean = mu.mean(0)
    _, logdet = np.linalg.slogdet(cov)
    kl = 0.5 * (np.trace(cov) + mean @ mean - len(mean) - logdet)
    return mean, np.diag(cov), kl


def test_eval_json_matches_an_independent_float64_computation(tiny_run, tmp_path):
    out = tmp_path / "eval.json"
    subprocess.run([str(BINARY), "eval", "--run", str(tiny_run), "--iw-samples", str(K), "--limit",
                    str(IMAGES), "--device", "cpu", "--output", str(out)], check=True, capture_output=True)
    report = json.loads(out.read_text())
    model = load_run(tiny_run)
    config = model.config
    model = model.double()
    x = load_split(FASHION_MNIST, "t10k")[0][:IMAGES].double()
    x_train = load_split(FASHION_MNIST, "train", config["train"]["limit"])[0].double()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        kl_dims = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
        g = torch.Generator().manual_seed(0)
        nll_a, elbo_a = _iw_estimates(model, x, K, g)
        nll_b, elbo_b = _iw_estimates(model, x, K, g)
        train_mu, train_logvar = model.encode(x_train)

    assert report["test_images"] == IMAGES and report["iw_samples"] == K
    # Deterministic given the weights: the KL per dimension, unit activity, moments.
    np.testing.assert_allclose(report["kl_per_dim"], sorted(kl_dims.tolist(), reverse=True), rtol=1e-4, atol=1e-5)
    assert abs(report["kl"] - kl_dims.sum().item()) < 1e-4 * max(1.0, report["kl"])
    activity = np.var(mu.numpy(), axis=0)
    np.testing.assert_allclose(report["unit_activity"], activity, rtol=1e-4, atol=1e-6)
    assert report["active_units"] == int((activity > 0.01).sum())
    for key, (m, s) in {"aggregate_posterior_test": (mu, logvar),
                        "aggregate_posterior_train": (train_mu, train_logvar)}.items():
        mean, cov_diag, kl = _moments(m, s)
        agg = report[key]
        assert agg["images"] == len(m)
        np.testing.assert_allclose(agg["mean"], mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(agg["cov_diag"], cov_diag, rtol=1e-4, atol=1e-6)
        assert abs(agg["kl_moment_matched_to_prior"] - kl) < 1e-4 * max(1.0, kl), key

    # Monte Carlo estimates: tch-vae's draws differ from ours, so they must agree within
    # the sampling error, which two independent draws of ours measure image by image.
    for name, a, b in (("nll", nll_a, nll_b), ("neg_elbo", elbo_a, elbo_b)):
        sd_mean = (a - b).std().item() / math.sqrt(2) / math.sqrt(IMAGES)
        gap = abs(report[name] - a.mean().item())
        assert gap < 5 * math.sqrt(2) * sd_mean + 1e-3, (name, report[name], a.mean().item(), sd_mean)
    assert report["nll"] < report["neg_elbo"]
    bpd = nll_a.mean().item() / (x.shape[1] * math.log(2))
    assert abs(report["bits_per_dim"] - bpd) < 5 * math.sqrt(2) * (nll_a - nll_b).std().item() / x.shape[1] + 1e-4
