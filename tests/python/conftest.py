"""Shared fixtures: the release binary and one small tch-vae run made with it."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
BINARY = REPO / "target" / "release" / "tch-vae"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 1-epoch run on 2,000 Fashion-MNIST images (scripts/test.sh builds the binary)."""
    assert BINARY.exists(), f"{BINARY} is missing: run scripts/setup.sh"
    assert FASHION_MNIST.is_dir(), "Fashion-MNIST is missing: run scripts/setup.sh"
    run = tmp_path_factory.mktemp("runs") / "tiny"
    subprocess.run([str(BINARY), "train", "--device", "cpu", "--limit", "2000", "--epochs", "1",
                    "--latent", "8", "--hidden", "64,32", "--out", str(run)],
                   check=True, capture_output=True)
    return run


@pytest.fixture(scope="session")
def tiny_run_2d(tmp_path_factory) -> Path:
    """A 1-epoch run with a 2-D latent space (for the manifold figure and the notebook)."""
    run = tmp_path_factory.mktemp("runs") / "tiny2d"
    subprocess.run([str(BINARY), "train", "--device", "cpu", "--limit", "1000", "--epochs", "1",
                    "--latent", "2", "--hidden", "64", "--out", str(run)],
                   check=True, capture_output=True)
    return run


@pytest.fixture(scope="session")
def tiny_conv_run(tmp_path_factory) -> Path:
    """A 1-epoch --arch conv run with the Gaussian likelihood."""
    run = tmp_path_factory.mktemp("runs") / "tinyconv"
    subprocess.run([str(BINARY), "train", "--device", "cpu", "--limit", "500", "--epochs", "1",
                    "--arch", "conv", "--hidden", "32", "--latent", "3", "--likelihood", "gaussian",
                    "--out", str(run)], check=True, capture_output=True)
    return run
