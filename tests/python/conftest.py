"""Shared fixtures: the release binary and one small tch-vae run made with it."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from tch_vae import DEFAULT_DATA  # noqa: E402

BINARY = REPO / "target" / "release" / "tch-vae"
FASHION_MNIST = Path(DEFAULT_DATA)


def _train(tmp_path_factory, name: str, *flags: str) -> Path:
    """Trains a 1-epoch run on Fashion-MNIST (CPU) with `flags`; returns its folder."""
    assert BINARY.exists(), f"{BINARY} is missing: run scripts/setup.sh"
    assert FASHION_MNIST.is_dir(), "Fashion-MNIST is missing: run scripts/setup.sh"
    run = tmp_path_factory.mktemp("runs") / name
    subprocess.run([str(BINARY), "train", "--device", "cpu", "--epochs", "1", *flags, "--out", str(run)],
                   check=True, capture_output=True)
    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run on 2,000 images, latent 8, hidden 64,32 (scripts/test.sh builds the binary)."""
    return _train(tmp_path_factory, "tiny", "--limit", "2000", "--latent", "8", "--hidden", "64,32")


@pytest.fixture(scope="session")
def tiny_run_2d(tmp_path_factory) -> Path:
    """A run with a 2-D latent space (for the manifold figure and the notebook)."""
    return _train(tmp_path_factory, "tiny2d", "--limit", "1000", "--latent", "2", "--hidden", "64")


def _colour_npz(tmp_path_factory) -> Path:
    """8x8 RGB images of random bytes in an .npz (200 training, 40 test, 4 classes)."""
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path_factory.mktemp("data") / "colour.npz"
    np.savez(data, x_train=rng.integers(0, 256, (200, 8, 8, 3), dtype=np.uint8),
             y_train=rng.integers(0, 4, 200), x_test=rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8),
             y_test=rng.integers(0, 4, 40))
    return data


@pytest.fixture(scope="session")
def tiny_colour_conv_run(tmp_path_factory) -> Path:
    """An --arch conv run with the logistic likelihood on 8x8 RGB images from an .npz."""
    return _train(tmp_path_factory, "colourconv", "--data", str(_colour_npz(tmp_path_factory)),
                  "--arch", "conv", "--hidden", "16", "--latent", "3", "--likelihood", "logistic")


@pytest.fixture(scope="session")
def tiny_mixture_run(tmp_path_factory) -> Path:
    """An --arch conv run with PixelCNN++'s mixture (3 components) on 8x8 RGB images."""
    return _train(tmp_path_factory, "mixture", "--data", str(_colour_npz(tmp_path_factory)),
                  "--arch", "conv", "--hidden", "16", "--latent", "3",
                  "--likelihood", "logistic-mixture", "--mixtures", "3")


@pytest.fixture(scope="session")
def tiny_hierarchical_run(tmp_path_factory) -> Path:
    """An --arch hierarchical run (1 group at 1x1, 2 at 4x4 and 8x8), a 2-component mixture."""
    return _train(tmp_path_factory, "hierarchical", "--data", str(_colour_npz(tmp_path_factory)),
                  "--arch", "hierarchical", "--width", "8", "--depth", "1,2,2", "--latent", "2",
                  "--likelihood", "logistic-mixture", "--mixtures", "2")


@pytest.fixture(scope="session")
def tiny_conv_run(tmp_path_factory) -> Path:
    """An --arch conv run with the Gaussian likelihood."""
    return _train(tmp_path_factory, "tinyconv", "--limit", "500", "--arch", "conv", "--hidden", "32",
                  "--latent", "3", "--likelihood", "gaussian")


@pytest.fixture(scope="session")
def variant_runs(tmp_path_factory) -> dict[str, Path]:
    """One small run of each variant family, by name: conditional with tanh, the VampPrior
    under IWAE, and a conditional conv model with the VampPrior."""
    small = ["--limit", "500", "--latent", "4"]
    return {
        "conditional-tanh": _train(tmp_path_factory, "cond", *small, "--hidden", "32",
                                   "--conditional", "--activation", "tanh"),
        "vamp-iwae": _train(tmp_path_factory, "vamp", *small, "--hidden", "32", "--prior", "vamp",
                            "--pseudo-inputs", "20", "--objective", "iwae", "--k", "3"),
        "conditional-vamp-conv": _train(tmp_path_factory, "condvampconv", *small, "--hidden", "16",
                                        "--arch", "conv", "--conditional", "--prior", "vamp",
                                        "--pseudo-inputs", "10"),
    }
