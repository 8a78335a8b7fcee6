"""scripts/ddp_train.py under torchrun with two CPU processes (gloo): two processes at
batch 32 step exactly like one at batch 64, and tch-vae reads the run back."""
import shutil
import subprocess
import sys

import torch
from safetensors.torch import load_file

from conftest import BINARY, FASHION_MNIST, REPO
from tch_vae import read_metrics


def ddp(run, processes, batch):
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={processes}", str(REPO / "scripts" / "ddp_train.py"),
                           str(run), "--epochs", "1", "--batch-size", str(batch)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_two_processes_step_like_one_and_tch_vae_reads_the_run(tmp_path):
    run = tmp_path / "run"
    subprocess.run([str(BINARY), "train", "--device", "cpu", "--data", str(FASHION_MNIST), "--limit", "256",
                    "--epochs", "1", "--hidden", "32", "--latent", "4", "--out", str(run)],
                   check=True, capture_output=True)
    two, one = tmp_path / "two", tmp_path / "one"
    shutil.copytree(run, two)
    shutil.copytree(run, one)
    ddp(two, 2, 32)
    ddp(one, 1, 64)
    before = load_file(str(run / "weights.safetensors"))
    w2, w1 = (load_file(str(r / "weights.safetensors")) for r in (two, one))
    assert set(w2) == set(before)
    for k in before:
        assert not torch.equal(w2[k], before[k]), f"{k} did not train"
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5)
    rows2, rows1 = read_metrics(two), read_metrics(one)
    assert [r["epoch"] for r in rows2] == [1, 2]
    for column in ("train_loss", "test_loss"):
        assert abs(rows2[1][column] - rows1[1][column]) < 1e-3 * abs(rows1[1][column]), column
    for command in (["eval", "--run", str(two), "--iw-samples", "5", "--device", "cpu"],
                    ["export", "--run", str(two)], ["plot", "--run", str(two)]):
        subprocess.run([str(BINARY), *command], check=True, capture_output=True)
