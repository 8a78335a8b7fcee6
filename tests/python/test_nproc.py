"""`tch-vae train --nproc N`: the binary starts N - 1 copies of itself as torchrun would and
is rank 0 of one run (rank 0 hosts the rendezvous store, the path torchrun's static
rendezvous takes). Oracle: the same binary on one process at the whole batch."""
import os
import signal
import subprocess
import time

from conftest import BINARY, FASHION_MNIST
from tch_vae import read_config, read_metrics
from test_c10d import SMALL, alone, max_weight_difference

DATA = [*SMALL, "--data", str(FASHION_MNIST), "--limit", "1000"]


def children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def test_nproc_steps_like_one_process_and_resumes_on_another_count(tmp_path):
    many, one = tmp_path / "many", tmp_path / "one"
    result = alone("train", *DATA, "--epochs", "1", "--batch-size", "32", "--nproc", "2", "--out", str(many))
    assert "2 processes (c10d, Gloo): 64 images a step in all" in result.stdout, result.stdout
    assert result.stdout.count("epoch 1/1") == 1, "rank 1 says nothing"
    config = read_config(many)
    assert (config["train"]["batch_size"], config["train"]["processes"]) == (64, 2)
    alone("train", "--resume", str(many), "--epochs", "2", "--nproc", "3")
    assert read_config(many)["train"]["processes"] == 3
    alone("train", *DATA, "--epochs", "2", "--batch-size", "64", "--out", str(one))
    assert max_weight_difference(many, one) < 1e-5
    assert [r["epoch"] for r in read_metrics(many)] == [1, 2]


def test_nproc_under_torchrun_is_refused(tmp_path):
    # torchrun's own parser would take --nproc for its --nproc-per-node: its environment here.
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "9"}
    result = subprocess.run([str(BINARY), "train", *DATA, "--epochs", "1", "--nproc", "2",
                             "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "--nproc 2 under torchrun (WORLD_SIZE is set)" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_a_killed_rank_ends_the_run_with_its_name(tmp_path):
    run = tmp_path / "run"
    parent = subprocess.Popen([str(BINARY), "train", *DATA, "--epochs", "1000", "--batch-size", "32",
                               "--nproc", "2", "--out", str(run)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "TCH_VAE_TIMEOUT": "10"})
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoint.safetensors").exists():
            assert time.monotonic() < deadline and parent.poll() is None, "no first epoch"
            time.sleep(0.2)
        (child,) = children_of(parent.pid)
        start = time.monotonic()
        os.kill(child, signal.SIGKILL)
        output, _ = parent.communicate(timeout=120)
    finally:
        parent.kill()
        parent.wait()
    assert time.monotonic() - start < 120
    assert parent.returncode != 0
    assert "rank 1 stopped, hung or was killed" in output, output
    assert "--nproc: rank 1 was killed by signal: 9 (SIGKILL)" in output, output
    # The last checkpoint is whole: the run goes on from it alone.
    alone("train", "--resume", str(run), "--epochs", str(len(read_metrics(run)) + 1), "--threads", "1")
