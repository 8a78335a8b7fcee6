"""The PyTorch reference (scripts/reference_vae.py) agrees with tch-vae's run folders."""
import subprocess
import sys

import torch
from safetensors.torch import load_file

from conftest import FASHION_MNIST, REPO
from tch_vae import VAE, elbo_terms, load_run, load_split, read_metrics


def test_weights_load_into_the_reference_module_by_name(tiny_run):
    weights = load_file(str(tiny_run / "weights.safetensors"))
    model = load_run(tiny_run)  # load_state_dict(strict=True) inside
    config = model.config
    assert config["model"]["hidden"] == [64, 32]
    assert set(weights) == set(model.state_dict())
    assert model.fc_mu.weight.shape == (8, 32)
    assert model.decoder[0].weight.shape == (32, 8)
    assert model.decoder[-1].weight.shape == (784, 64)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_reference_recomputes_the_runs_test_metrics(tiny_run):
    """The KL parts need no sampling, so PyTorch must reproduce tch-vae's numbers closely;
    the reconstruction term is a one-sample estimate, so it agrees within sampling error."""
    model = load_run(tiny_run)
    x, _ = load_split(FASHION_MNIST, "t10k")
    row = read_metrics(tiny_run)[-1]
    torch.manual_seed(0)
    with torch.no_grad():
        recon, kl_mu, kl_var, logvar = elbo_terms(model, x)
    assert abs(kl_mu.mean().item() - float(row["test_kl_mu"])) < 1e-3 * float(row["test_kl_mu"])
    assert abs(kl_var.mean().item() - float(row["test_kl_var"])) < 1e-3 * float(row["test_kl_var"])
    assert abs(logvar.exp().mean().item() - float(row["mean_var"])) < 1e-3 * float(row["mean_var"])
    assert abs(recon.mean().item() - float(row["test_recon"])) < 0.005 * float(row["test_recon"])


def test_reference_script_trains_and_writes_metrics(tmp_path):
    out = tmp_path / "ref"
    subprocess.run([sys.executable, str(REPO / "scripts" / "reference_vae.py"), "--epochs", "2",
                    "--limit", "2000", "--out", str(out)], check=True, capture_output=True)
    rows = read_metrics(out)
    assert len(rows) == 2
    assert float(rows[1]["test_loss"]) < float(rows[0]["test_loss"])
    model = VAE()
    model.load_state_dict(load_file(str(out / "weights.safetensors")))
