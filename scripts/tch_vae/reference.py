"""PyTorch eager reference for tch-vae: the same model, loss and training procedure.

It is the baseline that tch-vae's quality and speed are measured against
(notebooks-export/RESULTS.md). The model is `tch_vae.VAE`, the plain `nn.Module` whose
`state_dict` keys are exactly the names in a run's `weights.safetensors`.

Training it (the defaults are tch-vae train's, which tests/python checks):

    python -m tch_vae.reference --epochs 10 --out /tmp/reference-run   # installed package
    python scripts/reference_vae.py --epochs 10 --out /tmp/reference-run  # from the clone

writes `metrics.csv` with tch-vae's columns, so both runs are read the same way.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .data import DEFAULT_DATA, load_split
from .model import VAE, elbo_terms
from .run import write_metrics

#: The defaults of `tch-vae train` (src/config/defaults.rs), which this script shares.
DEFAULTS = {"epochs": 10, "batch_size": 128, "lr": 1e-3, "latent": 20, "hidden": "400",
            "beta": 1.0, "seed": 42}


#: `--compile` modes: torch.compile of the whole training step (forward, backward, Adam).
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead")


def make_step(model, optimizer, beta: float, likelihood: str, compile_mode: str | None):
    """One training step on a batch: its [loss, recon, kl, kl_mu, kl_var] sums and the sum
    of sigma^2, left on the device. With `compile_mode`, the whole step is compiled
    (`reduce-overhead` replays it from PyTorch's own CUDA graphs on a GPU)."""
    def step(xb):
        optimizer.zero_grad(set_to_none=True)
        recon, kl_mu, kl_var, logvar = elbo_terms(model, xb, likelihood)
        kl = kl_mu + kl_var
        loss = recon + beta * kl
        loss.mean().backward()
        optimizer.step()
        with torch.no_grad():
            sums = torch.stack([t.sum() for t in (loss, recon, kl, kl_mu, kl_var)])
            return sums, logvar.exp().sum()

    if compile_mode is None:
        return step
    compiled = torch.compile(step, mode=None if compile_mode == "default" else compile_mode)
    if compile_mode != "reduce-overhead":
        return compiled

    def graphed(xb):
        torch.compiler.cudagraph_mark_step_begin()  # each call is a new step
        sums, var = compiled(xb)
        return sums.clone(), var.clone()  # outputs of a graph are overwritten by the next replay
    return graphed


def run_pass(model, x, batch_size, beta, likelihood, step=None, order=None):
    """Sums [loss, recon, kl, kl_mu, kl_var] over one pass, and the sum of sigma^2; trains
    with `step` (see make_step) when given."""
    sums = torch.zeros(5, dtype=torch.float64, device=x.device)
    var_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    n = len(x)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size] if order is not None else slice(start, start + batch_size)
        xb = x[idx]
        if step is not None:
            batch_sums, batch_var = step(xb)
        else:
            recon, kl_mu, kl_var, logvar = elbo_terms(model, xb, likelihood)
            kl = kl_mu + kl_var
            batch_sums = torch.stack([t.sum() for t in (recon + beta * kl, recon, kl, kl_mu, kl_var)])
            batch_var = logvar.exp().sum()
        sums += batch_sums.double()
        var_sum += batch_var.double()
    return (sums / n).tolist(), float(var_sum)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--out", help="folder for metrics.csv and weights.safetensors")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--latent", type=int, default=DEFAULTS["latent"])
    p.add_argument("--hidden", default=DEFAULTS["hidden"], help="comma-separated widths")
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian"], default="bernoulli")
    p.add_argument("--beta", type=float, default=DEFAULTS["beta"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--limit", type=int)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (the data live on it, as in tch-vae)")
    p.add_argument("--fused-adam", action="store_true", help="torch.optim.Adam(fused=True)")
    p.add_argument("--compile", choices=COMPILE_MODES,
                   help="torch.compile the whole training step in this mode (the first epoch holds the compilation)")
    a = p.parse_args()

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = Path(a.data)
    device = torch.device(a.device)
    x_train, _ = load_split(data, "train", a.limit)
    x_test, _ = load_split(data, "t10k")
    x_train, x_test = x_train.to(device), x_test.to(device)
    hidden = [int(h) for h in a.hidden.split(",") if h]
    model = VAE(x_train.shape[1], hidden, a.latent).to(device)
    # A step replayed from CUDA graphs needs Adam's step count on the device (capturable).
    capturable = a.compile == "reduce-overhead" and device.type == "cuda"
    optimizer = torch.optim.Adam(model.parameters(), lr=a.lr, fused=a.fused_adam or None,
                                 capturable=capturable)
    step = make_step(model, optimizer, a.beta, a.likelihood, a.compile)
    print(f"reference: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(x_train)} train / {len(x_test)} test images, Adam fused={a.fused_adam}, "
          f"compile={a.compile}")
    rows = []
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = torch.randperm(len(x_train), device=device)
        t0 = time.perf_counter()
        train, _ = run_pass(model, x_train, a.batch_size, a.beta, a.likelihood, step, order)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            test, var_sum = run_pass(model, x_test, 1024, a.beta, a.likelihood)
        mean_var = var_sum / (len(x_test) * a.latent)
        rows.append([epoch, *train, *test, mean_var, seconds, a.beta])
        print(f"epoch {epoch}/{a.epochs} | train {train[0]:.2f} | test {test[0]:.2f} "
              f"(recon {test[1]:.2f} + KL {test[2]:.2f}) | mean var {mean_var:.4f} | {seconds:.2f} s",
              flush=True)
    if a.out:
        from safetensors.torch import save_file

        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        write_metrics(out / "metrics.csv", rows)
        save_file({k: v.contiguous().cpu() for k, v in model.state_dict().items()},
                  str(out / "weights.safetensors"))


if __name__ == "__main__":
    main()
