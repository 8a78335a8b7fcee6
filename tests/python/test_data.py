"""tch_vae.load_run_data reads a run's data as tch-vae split it: for a NumPy file whose
test split tch-vae drew with the run's seed (and --test-fraction rounding a half), for
CIFAR-10 files and for IDX, the model's KL of the means over the Python-read test split
equals the test_kl_mu tch-vae wrote to metrics.csv (it depends on the images alone)."""
import subprocess

import numpy as np
import pytest
import torch

from conftest import BINARY, FASHION_MNIST
from tch_vae import load_run, load_run_data, read_metrics


def train(data, run, *flags):
    """A 1-epoch run: an MLP unless `flags` name an --arch (colour images would otherwise
    get the colour recipe, whose KL is against a learned prior)."""
    arch = () if "--arch" in flags else ("--arch", "mlp")
    subprocess.run([str(BINARY), "train", "--device", "cpu", "--data", str(data), "--epochs", "1",
                    *arch, "--hidden", "16", "--latent", "3", "--out", str(run), *flags],
                   check=True, capture_output=True)


def assert_test_kl_mu_matches(run):
    model = load_run(run)
    x, y = load_run_data(model.config, "test")
    with torch.no_grad():
        mu, _ = model.encode(x)
    mine = (0.5 * mu.double().pow(2).sum(1)).mean().item()
    rust = read_metrics(run)[-1]["test_kl_mu"]
    assert abs(mine - rust) <= 1e-4 * abs(rust), (mine, rust)
    return x, y


def test_a_drawn_split_of_float_channels_last_images(tmp_path):
    rng = np.random.default_rng(3)
    # 26 images at --test-fraction 0.25: 6.5 test images, which tch-vae rounds to 7.
    x = rng.random((26, 4, 5, 3), dtype=np.float32)
    labels = rng.integers(0, 5, 26)
    np.savez(tmp_path / "faces.npz", x_train=x, y_train=labels)
    run = tmp_path / "run"
    train(tmp_path / "faces.npz", run, "--test-fraction", "0.25", "--seed", "7")
    xt, yt = assert_test_kl_mu_matches(run)
    assert xt.shape == (7, 60)
    xtr, ytr = load_run_data(load_run(run).config, "train")
    assert len(xtr) == 19
    # Every image once, labels travelling with their images.
    all_x = torch.cat([xt, xtr])
    want = torch.from_numpy(np.floor(x.transpose(0, 3, 1, 2).reshape(26, -1) * 255 + 0.5) / 255).float()
    assert sorted(map(tuple, all_x.tolist())) == sorted(map(tuple, want.tolist()))


def test_cifar10_files(tmp_path):
    rng = np.random.default_rng(4)
    data = tmp_path / "cifar"
    data.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = rng.integers(0, 256, (6, 1 + 3072), dtype=np.uint8)
        records[:, 0] %= 10
        records.tofile(data / name)
    run = tmp_path / "run"
    train(data, run, "--arch", "conv")
    x, y = assert_test_kl_mu_matches(run)
    assert x.shape == (6, 3072)
    assert y.tolist() == (np.fromfile(data / "test_batch.bin", np.uint8).reshape(6, -1)[:, 0]).tolist()


def test_idx_and_what_python_cannot_read(tmp_path, tiny_run):
    assert_test_kl_mu_matches(tiny_run)
    config = load_run(tiny_run).config
    for change in ({"channels": 3}, {"image_size": [8, 8]}):
        with pytest.raises(ValueError, match="read them with tch-vae itself"):
            load_run_data({**config, "train": {**config["train"], **change}}, "test")
