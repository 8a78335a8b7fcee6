"""`tch-vae fit-prior` read from Python (tch_vae.fitted): the mixture's density by
torch.distributions (written apart from the binary's triangular solves) gives the
log-likelihoods fitted-prior.json reports for the codes the package's own model computes,
and a seed draws the binary's samples-fitted.png."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import BINARY
from tch_vae import load_fitted_prior, load_run, load_run_data, sample_fitted

PAD, SCALE = 2, 2  # src/figures/images.rs


def fit(run, tmp_path, *flags):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    subprocess.run([str(BINARY), "fit-prior", "--run", str(copy), *flags], check=True, capture_output=True)
    return copy, json.loads((copy / "fitted-prior.json").read_text())


def tiles(png, n, shape):
    """The n tiles of a tch-vae grid (8 columns), [n, C*H*W] in bytes."""
    c, h, w = shape
    grid = np.asarray(Image.open(png)).reshape(*np.asarray(Image.open(png)).shape[:2], -1)
    out = []
    for k in range(n):
        top, left = (k // 8) * (h * SCALE + PAD) + PAD, (k % 8) * (w * SCALE + PAD) + PAD
        tile = grid[top:top + h * SCALE:SCALE, left:left + w * SCALE:SCALE, :c]
        out.append(torch.tensor(tile).permute(2, 0, 1).reshape(-1))
    return torch.stack(out).int()


@pytest.mark.parametrize("name,flags", [
    ("tiny_hierarchical_run", ["--components", "3", "--dims", "16"]),
    ("tiny_conv_run", ["--components", "4"]),
])
def test_the_density_and_the_draws_agree_with_the_binary(name, flags, request, tmp_path):
    run, report = fit(request.getfixturevalue(name), tmp_path, *flags)
    model, prior = load_run(run), load_fitted_prior(run)
    assert prior.code_values == report["code_values"]
    with torch.no_grad():
        for split in ("train", "test"):
            x, _ = load_run_data(model.config, split)
            codes = model.encode(x)[0][:, :report["code_values"]]
            got = prior.log_prob(codes).mean().item()
            want = report[f"{split}_log_likelihood"]
            assert got == pytest.approx(want, rel=1e-4, abs=1e-3), split
    # The binary drew samples-fitted.png with libtorch's generator seeded 0; the package
    # draws the same codes in the same order.
    torch.manual_seed(0)
    images = sample_fitted(model, prior, 64)
    m = model.config["model"]
    shape = (m.get("channels", 1), m["image_height"], m["image_width"])
    ours = (images.clamp(0, 1) * 255).round().int()
    theirs = tiles(run / "samples-fitted.png", 64, shape)
    close = ((ours - theirs).abs() <= 1).float().mean().item()
    assert close >= 0.99, f"{close:.4f} of the values within 1 of 255"
    with pytest.raises(ValueError, match="temperature must be from 0 to 10"):
        sample_fitted(model, prior, 4, temperature=float("nan"))


def test_a_missing_or_foreign_prior_is_refused(tiny_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="tch-vae fit-prior"):
        load_fitted_prior(tiny_run)
    bad = tmp_path / "run"
    shutil.copytree(tiny_run, bad)
    from safetensors.torch import save_file
    save_file({"mean": torch.zeros(3)}, str(bad / "fitted-prior.safetensors"))
    with pytest.raises(ValueError, match="not a fitted prior"):
        load_fitted_prior(bad)
