"""The installable package (`pip install ./scripts`): load_run as a plain nn.Module,
export_pt2's torch.export program, torch.compile, read_metrics. Parity: for the same
input and eps, the package's module, the torch.export program and vae.pt agree to 1e-5; tests/fast/export.rs holds vae.pt to the
Rust model, which closes the chain."""
import math
import shutil
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import REPO
from tch_vae import COLUMNS, HierarchicalVAE, export_pt2, load_run, read_metrics

RUNS = ["tiny_run", "tiny_conv_run", "tiny_colour_conv_run", "tiny_mixture_run"]
VARIANTS = ["conditional-tanh", "vamp-iwae", "conditional-vamp-conv"]


def run_of(request, name):
    if name in VARIANTS:
        return request.getfixturevalue("variant_runs")[name]
    return request.getfixturevalue(name)


def m_likelihood(model) -> str:
    return model.config["model"]["likelihood"]


def example(model, n=9):
    m = model.config["model"]
    x = torch.rand(n, m.get("channels", 1), m["image_height"], m["image_width"])
    if m["likelihood"].startswith("logistic"):  # 8-bit values, as the likelihoods read them
        x = (x * 255).round() / 255
    elif m["likelihood"] == "bernoulli":
        x = x.bernoulli()
    y = None if m.get("classes") is None else torch.arange(n) % m["classes"]
    return x, torch.randn(n, model.latent), y


@pytest.mark.parametrize("name", RUNS + VARIANTS)
def test_load_run_export_pt2_and_vae_pt_agree(name, request, tmp_path):
    run = run_of(request, name)
    model = load_run(run)
    assert isinstance(model, nn.Module) and not model.training
    assert model.config["model"]["latent"] == model.latent
    path = export_pt2(run, tmp_path / "vae.pt2")
    assert [p.name for p in tmp_path.iterdir()] == ["vae.pt2"], "no temporary file is left"
    program = torch.export.load(str(path)).module()
    torch.manual_seed(1)
    for n in (9, 1):  # the batch size is free
        x, eps, y = example(model, n)
        ys = () if y is None else (y,)
        with torch.no_grad():
            mu, logvar = model.encode(x, y)
            z = mu + torch.exp(0.5 * logvar) * eps
            mine = (mu, logvar, model.decode(z, y), *model.elbo_terms(x, eps, y))
            exported = program(x, eps, *ys)
            assert len(exported) == len(mine)
            for a, b in zip(exported, mine):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            # vae.pt: deprecated, and still loaded by every PyTorch this suite runs on (2.11
            # and the newest on PyPI, see scripts/requirements-next.txt): the day it is not,
            # this fails in CI before a user meets it.
            ts = torch.jit.load(str(run / "vae.pt"))
            ts_pieces = (*ts.encode(x, *ys), ts.decode(z, *ys), *ts.elbo_terms(x, *ys, eps))
            for a, b in zip(ts_pieces, mine):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            # `picture`: a mixture's mean, the others' means whatever it says.
            torch.testing.assert_close(ts.decode(z, *ys, "mean"), model.decode(z, y, picture="mean"),
                                       rtol=1e-5, atol=1e-5)
            if m_likelihood(model) == "logistic-mixture":
                assert (ts.decode(z, *ys, "mean") - ts.decode(z, *ys)).abs().max() > 1e-3


def test_a_hierarchical_run_loads_exports_and_matches_vae_pt(tiny_hierarchical_run, tmp_path):
    # The Python class (tch_vae/hierarchy.py) is written apart from the TorchScript that the
    # Rust layout generates (src/export/hierarchy_source.rs); they must agree on every piece.
    run = tiny_hierarchical_run
    model = load_run(run)
    assert isinstance(model, HierarchicalVAE) and not model.training
    assert model.latent == 2 * (1 + 2 * 16 + 2 * 64)  # groups 1, 2, 2 at 1, 4, 8; 2 channels
    ts = torch.jit.load(str(run / "vae.pt"))
    assert [n for n, _ in ts.named_parameters()] == list(model.state_dict())
    program = torch.export.load(str(export_pt2(run, tmp_path / "h.pt2"))).module()
    torch.manual_seed(2)
    for n in (5, 1):
        x = (torch.rand(n, 3, 8, 8) * 255).round() / 255
        eps = torch.randn(n, model.latent)
        with torch.no_grad():
            mine = model.exported_terms(x, eps)
            for a, b in zip(program(x, eps), mine):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            mu, logvar = model.encode(x)
            pairs = [(ts.encode(x), (mu, logvar)), ((ts.decode(mu),), (model.decode(mu),)),
                     (ts.elbo_terms(x, eps), model.elbo_terms(x, eps)),
                     (ts.log_ratio(x, eps), model.log_ratio(x, eps))]
            for theirs, ours in pairs:
                for a, b in zip(theirs, ours):
                    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
            # The ELBO's pieces from export_pt2 are vae.pt's too.
            torch.testing.assert_close(mine[3], ts.elbo_terms(x, eps)[0], rtol=1e-5, atol=1e-4)
    # At temperature 0 a draw is the prior's means: the same images whatever the seed.
    torch.manual_seed(3)
    a = model.sample(4, 0.0)
    torch.manual_seed(4)
    torch.testing.assert_close(a, model.sample(4, 0.0))
    torch.testing.assert_close(a, ts.sample(4, 0.0), rtol=1e-5, atol=1e-5)
    assert a.shape == (4, 3 * 8 * 8) and 0.0 <= a.min() and a.max() <= 1.0
    # The mixture's mean as the picture: vae.pt's (generated from the Rust layout) against
    # the package's (tch_vae.mixture); it is not the mode's picture.
    with torch.no_grad():
        mean = model.sample(4, 0.0, picture="mean")
        torch.testing.assert_close(mean, ts.sample(4, 0.0, "mean"), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.decode(mu, picture="mean"), ts.decode(mu, "mean"),
                                   rtol=1e-5, atol=1e-5)
    assert (mean - a).abs().max() > 1e-3
    with pytest.raises(torch.jit.Error, match="picture must be 'mode' or 'mean'"):
        ts.sample(4, 0.0, "median")
    for bad in (float("nan"), -1.0, 10.5):  # `--temperature`'s rule, in both
        with pytest.raises(ValueError, match="temperature must be from 0 to 10"):
            model.sample(4, bad)
        with pytest.raises(torch.jit.Error, match="temperature must be from 0 to 10"):
            ts.sample(4, bad)


def test_torch_compile_runs_the_module(tiny_run):
    model = load_run(tiny_run)
    compiled = torch.compile(model)
    x = torch.rand(16, 784)
    with torch.no_grad():
        _, mu, logvar = compiled(x)
        want_mu, want_logvar = model.encode(x)
    torch.testing.assert_close(mu, want_mu, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logvar, want_logvar, rtol=1e-5, atol=1e-5)


def test_read_metrics_gives_every_column(tiny_run, variant_runs):
    rows = read_metrics(tiny_run)
    assert list(rows[0]) == COLUMNS and rows[0]["epoch"] == 1 and rows.columns == COLUMNS
    # By column too: the same numbers as the rows'.
    assert rows["test_loss"] == [r["test_loss"] for r in rows] and len(rows["epoch"]) == len(rows)
    with pytest.raises(KeyError, match="columns are"):
        rows["no_such_column"]
    vamp = read_metrics(variant_runs["vamp-iwae"])[0]
    assert math.isnan(vamp["test_kl_mu"]) and math.isfinite(vamp["test_kl"])


def test_pip_installs_the_package(tmp_path):
    """`pip install ./scripts` (into a target folder, no network): the package imports
    from there alone, without the source tree on the path. (A copy of scripts/ is built:
    setuptools writes its build folders beside the sources.)"""
    source = tmp_path / "scripts"
    shutil.copytree(REPO / "scripts", source, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(tmp_path / "site"), str(source)],
                   check=True)
    code = "import tch_vae, sys; print(tch_vae.__file__); assert 'scripts' not in tch_vae.__file__"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}"],
                         check=True, capture_output=True, text=True)
    assert str(tmp_path / "site") in out.stdout
