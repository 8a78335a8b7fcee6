"""TensorBoard event files of a run, read back with TensorBoard's own reader: every
metrics.csv column at each epoch (tags, steps, values), the running loss, the images and
the configuration; a resumed run that redoes an epoch leaves no duplicate step."""
import json
import math
import shutil
import subprocess

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import BINARY, FASHION_MNIST
from tch_vae import read_metrics

COLUMN_TAGS = {
    "train_loss": "train/loss", "train_recon": "train/recon", "train_kl": "train/kl",
    "train_kl_mu": "train/kl_mu", "train_kl_var": "train/kl_var", "test_loss": "test/loss",
    "test_recon": "test/recon", "test_kl": "test/kl", "test_kl_mu": "test/kl_mu",
    "test_kl_var": "test/kl_var", "mean_var": "mean_var", "epoch_seconds": "epoch_seconds",
    "beta": "beta",
}


def read_board(run):
    ea = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    ea.Reload()
    return ea


def train(*args):
    subprocess.run([str(BINARY), "train", "--device", "cpu", *args], check=True, capture_output=True)


def test_every_column_every_epoch_images_and_config(tmp_path):
    run = tmp_path / "run"
    train("--data", str(FASHION_MNIST), "--limit", "1000", "--batch-size", "50", "--epochs", "3",
          "--hidden", "32", "--latent", "2", "--out", str(run))
    board = read_board(run)
    rows = read_metrics(run)
    batches = 1000 // 50
    for column, tag in COLUMN_TAGS.items():
        events = board.Scalars(tag)
        assert [e.step for e in events] == [r["epoch"] * batches for r in rows], tag
        for e, r in zip(events, rows):
            assert math.isclose(e.value, r[column], rel_tol=1e-6, abs_tol=1e-6), (tag, e.value, r[column])
    running = board.Scalars("train/running_loss")
    assert [e.step for e in running][-1] == 3 * batches
    assert math.isclose(running[-1].value, rows[-1]["train_loss"], rel_tol=1e-6)
    for tag in ("samples", "reconstructions"):
        assert [i.step for i in board.Images(tag)] == [batches, 2 * batches, 3 * batches]
    config = board.Tensors("config")[0].tensor_proto.string_val[0].decode()
    assert json.loads(config.strip("`\n")) == json.loads((run / "config.json").read_text())


def test_a_redone_epoch_leaves_one_value_per_step(tmp_path):
    """A run killed after writing epoch 2's events but before its checkpoint (played here
    by restoring epoch 1's checkpoint) redoes epoch 2 on --resume: TensorBoard shows each
    step once, with the values of the final metrics.csv."""
    run = tmp_path / "run"
    train("--data", str(FASHION_MNIST), "--limit", "600", "--batch-size", "50", "--epochs", "1",
          "--hidden", "16", "--latent", "2", "--out", str(run))
    saved = {name: (run / name).read_bytes() for name in ("checkpoint.safetensors", "metrics.csv")}
    train("--resume", str(run), "--epochs", "2")
    for name, data in saved.items():  # back to the end of epoch 1
        (run / name).write_bytes(data)
    train("--resume", str(run), "--epochs", "2")
    assert len(list(run.glob("events.out.tfevents.*"))) == 3
    board = read_board(run)
    rows = read_metrics(run)
    events = board.Scalars("test/loss")
    assert [e.step for e in events] == [12, 24]
    assert [round(e.value, 3) for e in events] == [round(r["test_loss"], 3) for r in rows]
    steps = [e.step for e in board.Scalars("train/running_loss")]
    assert len(steps) == len(set(steps)), steps
