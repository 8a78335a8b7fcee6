"""Continue a tch-vae run under PyTorch's own distributed engine: torchrun starts one
process per device, each trains a DistributedDataParallel copy of the run's model
(`tch_vae.load_run`) on its share of every batch, and the first writes the weights back to
`weights.safetensors` and the epochs to `metrics.csv`, which `tch-vae eval`, `plot` and
`export` then read as their own.

    torchrun --nproc_per_node 2 scripts/ddp_train.py models/x --epochs 3                   # CPUs (gloo)
    torchrun --nproc_per_node 8 scripts/ddp_train.py models/x --epochs 3 --backend nccl    # 8 GPUs

`--batch-size` is per process: P processes at batch B step like one at batch P*B, exactly
(the same rows, the same noise: each row's eps comes from a table drawn per epoch with the
run's seed, and gradients are averaged over equal shares), which the tests check.
What it continues: the ELBO (with the run's beta) of any architecture, likelihood, prior
or conditioning, on the data `tch_vae.load_run_data` reads (MNIST-format, CIFAR and NumPy
sources; not folders of images), with Adam started afresh (the Rust
checkpoint's moments are not carried). `--epochs` counts epochs to add. The run's
checkpoint.safetensors is left as it was: `tch-vae train --resume` would continue from the
last epoch tch-vae itself trained, not from these.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tch_vae import COLUMNS, load_run, load_run_data, read_metrics, write_metrics  # noqa: E402
from tch_vae.run import METRICS, WEIGHTS  # noqa: E402

#: src/config/mod.rs's BINARIZE_SEED: the fixed draw of a binarised test set (PyTorch's
#: generator draws other numbers than libtorch's from it, so the binary images differ).
BINARIZE_SEED = 1234


class Objective(nn.Module):
    """The model's per-image ELBO terms as forward(), so that DDP sees the whole pass:
    (recon, kl, kl_mu, kl_var), the split NaN under the VampPrior."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, x, eps, y=None):
        terms = self.vae.elbo_terms(x, eps, y)
        if len(terms) == 2:  # the VampPrior's KL estimate has no split
            recon, kl = terms
            nan = torch.full_like(kl, float("nan"))
            return recon, kl, nan, nan
        recon, kl_mu, kl_var = terms
        return recon, kl_mu + kl_var, kl_mu, kl_var


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Positional: torchrun reads a "--run" as its own --run-path.
    ap.add_argument("run", type=Path, help="a run folder of tch-vae train")
    ap.add_argument("--epochs", type=int, required=True, help="epochs to add")
    ap.add_argument("--batch-size", type=int, help="per process [default: the run's / processes]")
    ap.add_argument("--lr", type=float, help="[default: the run's]")
    ap.add_argument("--backend", choices=["gloo", "nccl"], default="gloo")
    ap.add_argument("--limit", type=int, help="train on the first N images (the run's own limit otherwise)")
    a = ap.parse_args()
    dist.init_process_group(a.backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if a.backend == "nccl" else "cpu")
    vae = load_run(a.run, map_location=device).train()
    config = vae.config
    train_cfg = config["train"]
    if train_cfg.get("objective", "elbo") != "elbo":
        sys.exit(f"{a.run}: --objective {train_cfg['objective']}; this script continues ELBO runs")
    try:
        x_train, y_train = load_run_data(config, "train", a.limit)
        x_test, y_test = load_run_data(config, "test")
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{train_cfg['data']}: cannot read the run's data in Python: {e}")
    binarize = train_cfg.get("binarize", "none")
    if binarize != "none":
        x_test = x_test.bernoulli(generator=torch.Generator().manual_seed(BINARIZE_SEED))
        if binarize == "static":
            x_train = x_train.bernoulli(generator=torch.Generator().manual_seed(BINARIZE_SEED + 1))
    conditional = vae.classes is not None
    batch = a.batch_size or max(1, train_cfg["batch_size"] // world)
    beta = float(train_cfg["beta"])
    model = DistributedDataParallel(Objective(vae))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr or train_cfg["lr"])
    seed = int(train_cfg["seed"])
    sampler = DistributedSampler(range(len(x_train)), num_replicas=world, rank=rank, shuffle=True,
                                 seed=seed, drop_last=False)
    history = read_metrics(a.run)
    first = int(history[-1]["epoch"]) + 1 if history else 1
    rows = []
    for epoch in range(first, first + a.epochs):
        sampler.set_epoch(epoch)
        # One eps per training row for the epoch, the same table in every process.
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        eps_table = torch.randn(len(x_train), vae.latent, generator=g)
        flip = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7919 * (rank + 1))
        index = torch.tensor(list(sampler))
        sums = torch.zeros(5, dtype=torch.float64)
        start = time.perf_counter()
        for i in range(0, len(index), batch):
            rows_i = index[i:i + batch]
            xb = x_train[rows_i]
            if binarize == "dynamic":
                xb = xb.bernoulli(generator=flip)
            y = y_train[rows_i].to(device) if conditional else None
            recon, kl, kl_mu, kl_var = model(xb.to(device), eps_table[rows_i].to(device), y)
            loss = recon + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.mean().backward()  # DDP averages the gradients of the processes' means
            opt.step()
            with torch.no_grad():
                sums += torch.stack([t.detach().double().sum().cpu() for t in (loss, recon, kl, kl_mu, kl_var)])
        seconds = time.perf_counter() - start
        test, var_sum = test_pass(vae, x_test, y_test if conditional else None, beta, rank, world, device, seed, epoch)
        dist.all_reduce(sums)
        train = (sums / len(x_train)).tolist()
        rows.append([epoch, *train, *test, var_sum / (len(x_test) * vae.latent), seconds, beta])
        if rank == 0:
            print(f"epoch {epoch} | train {train[0]:.2f} | test {test[0]:.2f} | {seconds:.2f} s, "
                  f"{world} processes", flush=True)
    if rank == 0:
        write_back(a.run, vae, history, rows)
    # Leave in step with the others, and while Python is whole: DDP's reducer holds the
    # process group and DDP's module graph has reference cycles, so otherwise the group may be
    # freed by the garbage collector during the interpreter's finalisation; and a process that
    # tears its Gloo pairs down while another still finishes the last collective meets a known
    # Gloo race (pytorch/gloo#155). A CI run once ended with `terminate called without an
    # active exception` in one rank after every file was written.
    dist.barrier()
    del model, opt
    gc.collect()
    dist.destroy_process_group()
    return 0


@torch.no_grad()
def test_pass(vae, x, y, beta, rank, world, device, seed, epoch):
    """The test split's per-image averages (one z per image), each process a share."""
    vae.eval()
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 104_729)
    eps = torch.randn(len(x), vae.latent, generator=g)
    mine = torch.arange(rank, len(x), world)
    sums = torch.zeros(6, dtype=torch.float64)
    objective = Objective(vae)
    for i in range(0, len(mine), 1024):
        rows = mine[i:i + 1024]
        yb = None if y is None else y[rows].to(device)
        xb = x[rows].to(device)
        recon, kl, kl_mu, kl_var = objective(xb, eps[rows].to(device), yb)
        var = vae.encode(xb, yb)[1].exp().sum()
        sums += torch.stack([t.double().sum().cpu() for t in (recon + beta * kl, recon, kl, kl_mu, kl_var, var)])
    dist.all_reduce(sums)
    vae.train()
    return (sums[:5] / len(x)).tolist(), float(sums[5])


def write_back(run: Path, vae, history, rows) -> None:
    """weights.safetensors and metrics.csv, each written to a temporary file and renamed."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}
    tmp = run / f".{WEIGHTS}.ddp-{os.getpid()}"
    save_file(state, str(tmp))
    os.replace(tmp, run / WEIGHTS)
    # By column name: the file may hold its columns in another order (tch-vae reads any
    # order), and write_metrics writes COLUMNS'. read_metrics gives floats; tch-vae reads
    # the epoch as an integer.
    missing = [c for c in COLUMNS if history and c not in history[0]]
    if missing:
        raise SystemExit(f"{run / METRICS} lacks the columns {missing}; it is not tch-vae's")
    old = [[int(r[c]) if c == "epoch" else r[c] for c in COLUMNS] for r in history]
    tmp = run / f".{METRICS}.ddp-{os.getpid()}"
    write_metrics(tmp, old + rows)
    os.replace(tmp, run / METRICS)
    print(f"wrote {run / WEIGHTS} and {run / METRICS} ({len(rows)} epochs added)")


if __name__ == "__main__":
    sys.exit(main())
