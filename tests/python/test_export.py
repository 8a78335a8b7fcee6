"""vae.pt from Python: torch.jit.load alone, real named parameters, parity with the PyTorch
reference module and with the Rust run's own metrics, further training."""
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import FASHION_MNIST
from tch_vae import elbo_terms, load_run, load_split, read_metrics


def jit(run):
    return torch.jit.load(str(run / "vae.pt"), map_location="cpu")


def test_methods_parameters_and_configuration(tiny_run):
    m = jit(tiny_run)
    x = torch.rand(5, 784)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 8)
    probs = m.decode(torch.randn(5, 8))
    assert probs.shape == (5, 784) and 0 <= probs.min() and probs.max() <= 1
    recon, mu2, logvar2 = m(x)
    assert recon.shape == (5, 784) and torch.equal(mu2, mu) and torch.equal(logvar2, logvar)
    assert m.sample(64).shape == (64, 784)
    weights = load_file(str(tiny_run / "weights.safetensors"))
    params = dict(m.named_parameters())
    assert list(params) == ["encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                            "fc_mu.weight", "fc_mu.bias", "fc_logvar.weight", "fc_logvar.bias",
                            "decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias",
                            "decoder.4.weight", "decoder.4.bias"]
    assert set(params) == set(weights)
    for name, p in params.items():
        assert torch.equal(p.detach(), weights[name]), name
        assert p.device.type == "cpu"
    assert (m.latent, list(m.hidden), m.likelihood, m.image_height, m.image_width) == (8, [64, 32], "bernoulli", 28, 28)
    assert json.loads(m.config()) == json.loads((tiny_run / "config.json").read_text())


@pytest.mark.parametrize("fixture", ["tiny_run", "tiny_conv_run", "tiny_colour_conv_run"])
def test_parity_with_the_pytorch_reference_module(fixture, request):
    run = request.getfixturevalue(fixture)
    m = jit(run)
    ref = load_run(run)
    config = ref.config
    model = config["model"]
    latent, likelihood = model["latent"], model["likelihood"]
    assert list(dict(m.named_parameters())) == list(ref.state_dict())
    torch.manual_seed(0)
    # Images as [n, C, H, W] (both accept the flattened form too).
    shape = (64, model.get("channels", 1), model["image_height"], model["image_width"])
    x, eps = torch.rand(shape), torch.randn(64, latent)
    with torch.no_grad():
        for a, b in zip(m.encode(x), ref.encode(x)):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        z = torch.randn(64, latent)
        torch.testing.assert_close(m.decode(z), ref.decode(z), rtol=1e-5, atol=1e-5)
        ts = m.elbo_terms(x, eps)
        rs = elbo_terms(ref, x, likelihood, eps=eps)[:3]
        for a, b in zip(ts, rs):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_parity_with_the_rust_runs_test_metrics(tiny_run):
    """The KL parts are deterministic given the weights: vae.pt reproduces the numbers
    tch-vae wrote to metrics.csv for the same test set."""
    m = jit(tiny_run)
    x, _ = load_split(FASHION_MNIST, "t10k")
    row = read_metrics(tiny_run)[-1]
    with torch.no_grad():
        _, kl_mu, kl_var = m.elbo_terms(x, torch.zeros(len(x), 8))
    for value, column in ((kl_mu.mean(), "test_kl_mu"), (kl_var.mean(), "test_kl_var")):
        assert abs(value.item() - float(row[column])) <= 1e-4 * float(row[column]), column


def test_training_continues_in_python(tiny_run):
    m = jit(tiny_run)
    m.train()
    params = list(m.parameters())
    assert all(p.requires_grad for p in params)
    before = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(params, lr=1e-3)
    x = load_split(FASHION_MNIST, "train", 256)[0]
    recon, kl_mu, kl_var = m.elbo_terms(x, torch.randn(len(x), m.latent))
    (recon + kl_mu + kl_var).mean().backward()
    opt.step()
    assert all(not torch.equal(b, p.detach()) for b, p in zip(before, params))
