"""The analysis script and the notebook run on real run folders and draw every figure."""
import json
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

from conftest import REPO


def analyze(run, out, *extra):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "analyze_run.py"), str(run), "--out", str(out), *extra],
                          check=True, capture_output=True, text=True).stdout


def test_script_draws_every_figure_for_a_pca_latent(tiny_run, tmp_path):
    stdout = analyze(tiny_run, tmp_path)
    for name in ("curves.png", "latent.png", "aggregate.png", "interpolation.png"):
        assert (tmp_path / name).stat().st_size > 5000, name
    assert not (tmp_path / "manifold.png").exists()  # latent = 8
    stats = json.loads((tmp_path / "aggregate_posterior.json").read_text())
    assert len(stats["mean"]) == len(stats["cov_diag"]) == 8
    assert stats["kl_moment_matched_to_prior"] >= 0
    assert "KL(moment-matched || N(0, I))" in stdout


def test_script_draws_the_manifold_for_a_2d_latent(tiny_run_2d, tmp_path):
    analyze(tiny_run_2d, tmp_path, "--only", "manifold")
    assert (tmp_path / "manifold.png").stat().st_size > 5000


def test_notebook_executes_against_a_run(tiny_run_2d, monkeypatch):
    monkeypatch.setenv("TCH_VAE_RUN", str(tiny_run_2d))
    monkeypatch.setenv("TCH_VAE_REPO", str(REPO))
    nb = nbformat.read(REPO / "notebooks-export" / "analysis.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks-export")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6, f"{len(images)} figures"  # curves, latent, aggregate, samples, manifold, interpolation


def test_colour_numpy_and_conditional_runs_are_analysed(tiny_colour_conv_run, variant_runs, tmp_path):
    """Data read through tch_vae.load_run_data (an .npz of 8x8 RGB images), and a
    conditional model encoding with the test labels."""
    for run, name in ((tiny_colour_conv_run, "colour"), (variant_runs["conditional-tanh"], "conditional")):
        out = tmp_path / name
        analyze(run, out)
        for figure in ("curves.png", "latent.png", "aggregate.png", "interpolation.png"):
            assert (out / figure).stat().st_size > 3000, (name, figure)
