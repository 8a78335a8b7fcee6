"""`tch-vae train` itself on several processes over libtorch's c10d (Gloo), launched by
torchrun: P processes at --batch-size B step like one process at batch P*B (the oracle is
the single-process run of the same binary), only rank 0 writes, a resumed run may use
another process count, and a process that dies, hangs or was given other flags ends the
run with a message naming it."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import BINARY, FASHION_MNIST
from tch_vae import read_config, read_metrics

CPU = ["--device", "cpu", "--threads", "1"]
SMALL = [*CPU, "--hidden", "64", "--latent", "8"]


def torchrun(processes: int, *args: str, cwd=None, env=None, timeout=300, program=None):
    """`torchrun --standalone --nproc-per-node P --no-python tch-vae ARGS`, its result."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", "--no-python", *(program or [str(BINARY)]), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def alone(*args: str):
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, check=True)


def max_weight_difference(a: Path, b: Path) -> float:
    wa, wb = (load_file(str(r / "weights.safetensors")) for r in (a, b))
    assert set(wa) == set(wb)
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def test_two_processes_at_64_step_like_one_at_128_and_only_rank_0_writes(tmp_path):
    data = ["--data", str(FASHION_MNIST), "--limit", "3000", "--epochs", "2", *SMALL]
    work = tmp_path / "work"
    work.mkdir()
    # No --out: both processes compute the default folder's name; only rank 0 makes it.
    two = torchrun(2, "train", *data, "--batch-size", "64", cwd=work)
    assert two.returncode == 0, two.stdout + two.stderr
    folders = list((work / "models").iterdir())
    assert len(folders) == 1, folders
    run2 = folders[0]
    assert len(list(run2.glob("events.out.tfevents.*"))) == 1
    assert "2 processes (c10d, Gloo): 128 images a step in all" in two.stdout
    assert two.stdout.count("epoch 2/2") == 1, "rank 1 says nothing"
    config = read_config(run2)
    assert (config["train"]["batch_size"], config["train"]["processes"]) == (128, 2)
    run1 = tmp_path / "one"
    alone("train", *data, "--batch-size", "128", "--out", str(run1))
    assert max_weight_difference(run1, run2) < 1e-4
    last2, last1 = read_metrics(run2)[-1], read_metrics(run1)[-1]
    assert abs(last2["test_loss"] - last1["test_loss"]) < 1e-3 * abs(last1["test_loss"])
    # An ordinary run for the other commands and the Python package.
    for command in (["eval", "--run", str(run2), "--iw-samples", "5", "--device", "cpu"],
                    ["export", "--run", str(run2)]):
        alone(*command)


def colour_npz(path: Path, dark_every_other: bool = False) -> Path:
    """150 training and 40 test 8x8 colour images of noise; with `dark_every_other`, every
    other training image is nearly black, so that the KL of small shares of a batch differs
    much from the batch's."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (150, 8, 8, 3), dtype=np.uint8)
    if dark_every_other:
        x[::2] //= 64
    np.savez(path, x_train=x,
             y_train=rng.integers(0, 4, 150), x_test=rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8),
             y_test=rng.integers(0, 4, 40))
    return path


@pytest.mark.parametrize("name, processes, batch, flags", [
    ("iwae", 2, 32, ["--objective", "iwae", "--k", "3", "--limit", "1001"]),
    ("vamp", 2, 32, ["--prior", "vamp", "--pseudo-inputs", "20", "--limit", "1001"]),
    ("conditional", 3, 16, ["--conditional", "--binarize", "dynamic", "--limit", "1001"]),
    # 129 images at 2 x 64: the last batch has one image, and rank 1 none.
    ("last-batch-of-one", 2, 64, ["--limit", "129", "--epochs", "2"]),
    ("hierarchical", 2, 16, ["colour", "--arch", "hierarchical", "--likelihood", "logistic-mixture",
                             "--width", "8", "--depth", "1", "--latent", "2", "--mixtures", "2"]),
    ("conv-logistic", 2, 16, ["colour", "--arch", "conv", "--likelihood", "logistic"]),
    # Free bits floor each unit by the global batch's mean KL, not a share's: lambda sits
    # among the units' KLs, where a floor by each share's mean moved the weights by 2.7e-3
    # (the MLP) and 1.7e-4 (4 shares of 2 images). The last batch of one image leaves rank 1
    # without rows.
    ("free-bits", 2, 64, ["--free-bits", "0.05", "--limit", "1025"]),
    ("hierarchical-free-bits", 4, 2, ["colour-mixed", "--arch", "hierarchical", "--likelihood",
                                      "logistic-mixture", "--width", "8", "--depth", "1", "--latent", "2",
                                      "--mixtures", "2", "--free-bits", "0.5"]),
])
def test_every_model_splits_its_batch_exactly(tmp_path, name, processes, batch, flags):
    if flags[0].startswith("colour"):
        data = colour_npz(tmp_path / "c.npz", dark_every_other=flags[0] == "colour-mixed")
        flags = [*CPU, "--data", str(data), *flags[1:]]
    else:
        flags = [*SMALL, "--data", str(FASHION_MNIST), *flags]
    common = flags + ([] if "--epochs" in flags else ["--epochs", "1"])
    many, one = tmp_path / "many", tmp_path / "one"
    result = torchrun(processes, "train", *common, "--batch-size", str(batch), "--out", str(many))
    assert result.returncode == 0, result.stdout + result.stderr
    alone("train", *common, "--batch-size", str(processes * batch), "--out", str(one))
    assert max_weight_difference(many, one) < 1e-5
    assert read_metrics(many)[-1]["train_loss"] == pytest.approx(read_metrics(one)[-1]["train_loss"], rel=1e-5)


def test_a_run_resumes_on_another_process_count(tmp_path):
    common = [*SMALL, "--data", str(FASHION_MNIST), "--limit", "1000"]
    run, reference = tmp_path / "run", tmp_path / "reference"
    result = torchrun(2, "train", *common, "--epochs", "1", "--batch-size", "33", "--out", str(run))
    assert result.returncode == 0, result.stderr
    result = torchrun(3, "train", "--resume", str(run), "--epochs", "2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert read_config(run)["train"]["processes"] == 3
    alone("train", *common, "--epochs", "2", "--batch-size", "66", "--out", str(reference))
    assert max_weight_difference(run, reference) < 1e-5


def ranks_of(launcher: subprocess.Popen) -> dict[int, int]:
    """The pids of torchrun's worker processes by RANK."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if ppid == launcher.pid:
            for var in environ:
                if var.startswith(b"RANK="):
                    ranks[int(var[5:])] = int(entry.name)
    return ranks


def start_long_run(tmp_path, processes: int, env=None):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={processes}", "--no-python", str(BINARY), "train", *SMALL,
               "--data", str(FASHION_MNIST), "--epochs", "1000", "--batch-size", "32", "--out", str(run)]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.safetensors").exists():
        assert time.monotonic() < deadline and launcher.poll() is None, "no first epoch"
        time.sleep(0.2)
    ranks = ranks_of(launcher)
    assert sorted(ranks) == list(range(processes)), ranks
    return run, launcher, ranks


def test_a_killed_process_ends_the_run_and_torchrun_names_it(tmp_path):
    run, launcher, ranks = start_long_run(tmp_path, 2)
    start = time.monotonic()
    os.kill(ranks[1], signal.SIGKILL)
    output, _ = launcher.communicate(timeout=120)
    assert time.monotonic() - start < 120
    assert launcher.returncode != 0
    assert "rank      : 1" in output and "Signal 9 (SIGKILL)" in output, output
    # The last checkpoint is whole: the run goes on from it alone.
    alone("train", "--resume", str(run), "--epochs", str(len(read_metrics(run)) + 1), "--threads", "1")


def test_a_hung_process_is_named_by_the_others_within_the_timeout(tmp_path):
    run, launcher, ranks = start_long_run(tmp_path, 3, env={"TCH_VAE_TIMEOUT": "5"})
    start = time.monotonic()
    os.kill(ranks[2], signal.SIGSTOP)
    try:
        output, _ = launcher.communicate(timeout=120)
    finally:
        # torchrun kills it after its grace period; make sure, whatever happened.
        for kill in (lambda: os.kill(ranks[2], signal.SIGKILL), launcher.kill):
            try:
                kill()
            except ProcessLookupError:
                pass
        launcher.wait()
    assert time.monotonic() - start < 120
    assert launcher.returncode != 0
    # Whichever collective the stop caught (a step's all-reduce, or the end of an epoch's).
    for rank in (0, 1):
        assert re.search(rf"rank {rank} of 3: [a-z ]+ failed: rank 2 stopped, hung or was killed", output), output


def test_processes_given_other_flags_are_refused_at_the_start(tmp_path):
    script = (f'exec "{BINARY}" train --device cpu --threads 1 --data "{FASHION_MNIST}" --limit 200 '
              f'--epochs 1 --out "{tmp_path / "run"}" --lr $([ "$RANK" = 0 ] && echo 0.001 || echo 0.002)')
    result = torchrun(2, "-c", script, program=["bash"], timeout=120)
    assert result.returncode != 0
    assert "rank 1: flags or data differ from rank 0's" in result.stderr, result.stderr
    assert "rank 0: another process's flags or data differ from rank 0's" in result.stderr


def test_a_world_size_without_torchrun_is_explained(tmp_path):
    result = subprocess.run([str(BINARY), "train", "--data", str(FASHION_MNIST), "--limit", "10",
                             "--out", str(tmp_path / "r")], capture_output=True, text=True,
                            env={**os.environ, "WORLD_SIZE": "2", "RANK": "0"})
    assert result.returncode != 0
    assert "MASTER_ADDR is not set: start the processes with torchrun" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_a_batch_smaller_than_the_processes_is_refused_before_any_file(tmp_path):
    run = tmp_path / "r"
    alone("train", *SMALL, "--data", str(FASHION_MNIST), "--limit", "10", "--epochs", "1",
          "--batch-size", "2", "--out", str(run))
    # Every file but the run's lock, which holds the pid of the last process to open the run.
    files = lambda: {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != ".tch-vae.lock"}  # noqa: E731
    before = files()
    env = {**os.environ, "WORLD_SIZE": "3", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "9"}
    result = subprocess.run([str(BINARY), "train", "--resume", str(run), "--epochs", "2"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0
    assert "the run's batch of 2 images cannot be shared by 3 processes: resume it on at most 2 processes" \
        in result.stderr, result.stderr
    assert files() == before


def test_the_version_says_what_was_built():
    version = alone("--version").stdout
    assert "several processes: c10d's Gloo group (torchrun)" in version, version
