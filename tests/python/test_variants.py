"""Conditional and VampPrior runs from Python: the package's module and vae.pt agree on
every method, the mixture's log-density matches a float64 sum written out here, and the
module trains on."""
import math

import pytest
import torch

from tch_vae import load_run

VARIANTS = ["conditional-tanh", "vamp-iwae", "conditional-vamp-conv"]


def inputs(model, config, n=12):
    m = config["model"]
    x = torch.rand(n, m.get("channels", 1) * m["image_height"] * m["image_width"]).bernoulli()
    y = None if m.get("classes") is None else torch.arange(n) % m["classes"]
    return x, y


def with_y(first, y):
    return (first,) if y is None else (first, y)


@pytest.mark.parametrize("name", VARIANTS)
def test_the_package_module_and_vae_pt_agree(name, variant_runs):
    run = variant_runs[name]
    model = load_run(run)
    config = model.config
    ts = torch.jit.load(str(run / "vae.pt"), map_location="cpu")
    assert list(dict(ts.named_parameters())) == list(model.state_dict())
    torch.manual_seed(0)
    x, y = inputs(model, config)
    eps = torch.randn(len(x), model.latent)
    with torch.no_grad():
        for a, b in zip(ts.encode(*with_y(x, y)), model.encode(x, y)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        z = torch.randn(len(x), model.latent)
        torch.testing.assert_close(ts.decode(*with_y(z, y)), model.decode(z, y), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ts.log_prior(z), model.log_prior(z), rtol=1e-5, atol=1e-4)
        terms_ts = ts.elbo_terms(*with_y(x, y), eps)
        terms_py = model.elbo_terms(x, eps, y)
        assert len(terms_ts) == len(terms_py) == (2 if config["model"]["prior"] == "vamp" else 3)
        for a, b in zip(terms_ts, terms_py):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
        assert ts.sample(*with_y(len(x), y)).shape == x.shape
        assert model.sample(len(x), y).shape == x.shape
    if y is not None:
        with pytest.raises(ValueError, match="needs labels"):
            model.encode(x)


@pytest.mark.parametrize("name", ["vamp-iwae", "conditional-vamp-conv"])
def test_the_vamp_log_density_is_the_mixture_written_out(name, variant_runs):
    model = load_run(variant_runs[name])
    model = model.double()
    z = torch.randn(5, model.latent, dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.prior_components()
        got = model.log_prior(z)
    for i in range(len(z)):
        total = 0.0
        for k in range(len(mu)):
            log_density = 0.0
            for j in range(model.latent):
                var = math.exp(logvar[k, j].item())
                log_density += -0.5 * ((z[i, j].item() - mu[k, j].item()) ** 2 / var
                                       + math.log(2 * math.pi * var))
            total += math.exp(log_density)
        assert abs(got[i].item() - math.log(total / len(mu))) < 1e-8


@pytest.mark.parametrize("name", VARIANTS)
def test_an_optimiser_step_in_python_changes_every_parameter(name, variant_runs):
    model = load_run(variant_runs[name])
    config = model.config
    model.train()
    x, y = inputs(model, config, 64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    terms = model.elbo_terms(x, torch.randn(len(x), model.latent), y)
    sum(t for t in terms).mean().backward()
    opt.step()
    for k, v in model.named_parameters():
        assert not torch.equal(before[k], v.detach()), k


@pytest.mark.parametrize("name", VARIANTS)
def test_a_flat_model_samples_at_a_temperature_as_the_binary_does(name, variant_runs):
    """N(0, I)'s draws times the temperature (`tch-vae sample --temperature`), in the package
    and in vae.pt alike; the VampPrior, a mixture, refuses any temperature but 1."""
    run = variant_runs[name]
    model = load_run(run)
    ts = torch.jit.load(str(run / "vae.pt"), map_location="cpu")
    y = None if model.config["model"].get("classes") is None else torch.arange(3) % 2
    with torch.no_grad():
        if model.config["model"]["prior"] == "vamp":
            with pytest.raises(ValueError, match="VampPrior is a mixture"):
                model.sample(3, y, temperature=0.5)
            with pytest.raises(torch.jit.Error, match="VampPrior is a mixture"):
                ts.sample(*with_y(3, y), temperature=0.5)
            return
        torch.manual_seed(7)
        z = torch.randn(3, model.latent)
        # The oracle: the images of half a standard normal draw, by decode.
        want = model.decode(0.5 * z, y)
        torch.manual_seed(7)
        torch.testing.assert_close(model.sample(3, y, temperature=0.5), want)
        torch.manual_seed(7)
        torch.testing.assert_close(ts.sample(*with_y(3, y), temperature=0.5), want,
                                   rtol=1e-5, atol=1e-5)
        torch.manual_seed(7)
        assert (model.sample(3, y) - want).abs().max() > 1e-3  # t = 1 is another picture
        # At temperature 0 every draw is the prior's mean, whatever the seed.
        torch.testing.assert_close(model.sample(3, y, temperature=0.0),
                                   model.decode(torch.zeros(3, model.latent), y))
        # The binary's rule (0 to 10): NaN, a negative and 11 are refused in both.
        for bad in (float("nan"), -0.5, 11.0):
            with pytest.raises(ValueError, match="temperature must be from 0 to 10"):
                model.sample(3, y, temperature=bad)
            with pytest.raises(torch.jit.Error, match="temperature must be from 0 to 10"):
                ts.sample(*with_y(3, y), temperature=bad)
