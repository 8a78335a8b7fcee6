#!/usr/bin/env python3
"""Training speed and memory of tch-vae's `--arch hierarchical` against the same model in
PyTorch, in one interleaved run (issue 25).

    python scripts/benchmark_hierarchical.py                  # colour digits, w64 d2 z8, batch 32
    python scripts/benchmark_hierarchical.py --peers eager,fused --repeats 3
    python scripts/benchmark_hierarchical.py --raw runs.csv   # every epoch of every run

The PyTorch peer is the package's own `tch_vae.HierarchicalVAE` (the class `load_run`
builds, whose parity with the Rust model tests/python checks), built from the tch-vae run's
config.json and trained on the same images (`tch_vae.load_run_data`) with the same loss
(recon + KL, mean over the batch), batch size, Adam learning rate, gradient clipping
(`clip_grad_norm_` at the run's `--clip-grad`) and thread count:
eager with the default Adam, eager with `Adam(fused=True)`, the latter with the model
channels-last (PyTorch's advice for convolutions on the CPU, the top-down state kept so, as
tch-vae runs on the CPU since 2026-12-07), and `torch.compile` of the loss (its first epoch
holds the compilation and is left out of its median; Inductor picks channels-last for the
CPU's convolutions itself). Each program
runs in its own process, one after the other, `--repeats` times in turn. The table gives
the median seconds of a training epoch (the epochs after the first; tch-vae's own
`epoch_seconds`, the peers' timing of the same pass) and the peak resident memory of each
process, beside tch-vae's estimate printed before training.

tch-vae allocates through jemalloc, built in, with freed pages kept (src/main.rs). PyTorch's
own tuning guide advises the same for the CPU (jemalloc or tcmalloc, by LD_PRELOAD), so with
`--jemalloc PATH` (Debian's libjemalloc2: /usr/lib/x86_64-linux-gnu/libjemalloc.so.2) every
peer also runs a second time preloaded with it and tch-vae's options, as "... + jemalloc".
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmark import run
from tch_vae import cpu_name, load_run_data, read_metrics
from tch_vae.run import _build

REPO = Path(__file__).resolve().parent.parent
#: The options that src/main.rs gives jemalloc.
MALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
PEERS = {"eager": "PyTorch eager", "fused": "PyTorch eager, fused Adam",
         "channels_last": "PyTorch eager, fused Adam, channels-last", "compile": "torch.compile"}


def keep_channels_last() -> None:
    """The model's top-down state kept channels-last: `F.interpolate` of the 1x1 state (whose
    layout is ambiguous) would otherwise give NCHW, and every convolution after it would
    copy its input and gradient over (measured: slower than NCHW throughout)."""
    import torch.nn.functional as F

    import tch_vae.hierarchy as hierarchy

    interpolate = F.interpolate

    def channels_last_interpolate(h, *args, **kwargs):
        return interpolate(h, *args, **kwargs).contiguous(memory_format=torch.channels_last)

    hierarchy.F.interpolate = channels_last_interpolate


def worker(a) -> None:
    """One PyTorch peer's training (`--worker`): prints each epoch's seconds."""
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    config = json.loads(Path(a.config).read_text())
    model = _build(config)
    if a.worker == "channels_last":
        # PyTorch's advice for convolutions on the CPU (its performance tuning guide): the
        # weights channels-last, so oneDNN takes NHWC activations without reordering.
        model = model.to(memory_format=torch.channels_last)
        keep_channels_last()
    x, _ = load_run_data(config, "train")
    opt = torch.optim.Adam(model.parameters(), lr=config["train"]["lr"],
                           fused=a.worker in ("fused", "channels_last"))
    # The run's clipping (the hierarchical model's default since 2026-12-06), as VDVAE clips.
    clip = config["train"].get("clip_grad")

    def loss_of(batch, eps):
        recon, kl_mu, kl_var = model.elbo_terms(batch, eps)
        return (recon + kl_mu + kl_var).mean()

    loss_fn = torch.compile(loss_of) if a.worker == "compile" else loss_of
    batch = config["train"]["batch_size"]
    for epoch in range(a.epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            xb = x[order[i:i + batch]]
            eps = torch.randn(len(xb), model.latent)
            loss = loss_fn(xb, eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip, foreach=True)
            opt.step()
        print(f"epoch_seconds {time.perf_counter() - start:.4f} loss {loss.item():.2f}", flush=True)


def flags(a, out: Path) -> list[str]:
    return ["--data", a.data, "--out", str(out), "--arch", "hierarchical",
            "--likelihood", "logistic-mixture", "--width", str(a.width), "--depth", a.depth,
            "--latent", str(a.latent), "--batch-size", str(a.batch_size), "--epochs", str(a.epochs),
            "--threads", str(a.threads), "--limit", str(a.limit), "--seed", str(a.seed)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=str(REPO / "target/release/tch-vae"))
    p.add_argument("--data", default="/tmp/colour/digits.npz",
                   help="an .npz of 32x32 colour images (made by scripts/make_colour_digits.py if missing)")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", default="2")
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=500, help="training images")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--peers", default="eager,fused,channels_last,compile")
    p.add_argument("--raw", help="write every epoch of every run to this CSV")
    p.add_argument("--jemalloc", help="libjemalloc.so to preload into a second run of each peer")
    p.add_argument("--worker", choices=list(PEERS), help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a)
    if not Path(a.data).exists():
        run([sys.executable, str(REPO / "scripts/make_colour_digits.py"), a.data])
    peers = [s for s in a.peers.split(",") if s]
    tmp = Path(tempfile.mkdtemp(prefix="bench-hier-"))
    times: dict[str, list[float]] = {}
    firsts: dict[str, list[float]] = {}
    memory: dict[str, list[float]] = {}
    estimate = None
    rows = []
    print(f"{cpu_name()}, {a.threads} threads; hierarchical w{a.width} d{a.depth} z{a.latent}, "
          f"logistic mixture, batch {a.batch_size}, {a.limit} training images, {a.epochs} epochs "
          f"a run, {a.repeats} rounds", flush=True)
    for r in range(a.repeats):
        out = tmp / f"tch-vae-{r}"
        rss, _, text = run([a.binary, "train", *flags(a, out)])
        found = re.search(r"memory for training, estimated: about (\d+) MiB", text)
        estimate = int(found.group(1)) if found else estimate
        secs = [row["epoch_seconds"] for row in read_metrics(out)]
        runs = {"tch-vae": (secs, rss)}
        allocators = [("", None)]
        if a.jemalloc:
            allocators.append((" + jemalloc", {"LD_PRELOAD": a.jemalloc, "MALLOC_CONF": MALLOC_CONF}))
        for peer in peers:
            for suffix, env in allocators:
                rss, _, text = run([sys.executable, __file__, "--worker", peer, "--config",
                                    str(out / "config.json"), "--epochs", str(a.epochs),
                                    "--threads", str(a.threads), "--seed", str(a.seed)], env=env)
                runs[PEERS[peer] + suffix] = ([float(v) for v in re.findall(r"epoch_seconds (\S+)", text)], rss)
        for name, (secs, rss) in runs.items():
            times.setdefault(name, []).extend(secs[1:])
            firsts.setdefault(name, []).append(secs[0])
            memory.setdefault(name, []).append(rss)
            rows += [{"round": r + 1, "program": name, "epoch": e + 1, "seconds": s, "peak_rss_mib": round(rss)}
                     for e, s in enumerate(secs)]
            print(f"round {r + 1}: {name}: epochs {', '.join(f'{s:.2f}' for s in secs)} s; "
                  f"peak {rss:.0f} MiB", flush=True)
    best_peer = min((n for n in times if n != "tch-vae"), key=lambda n: statistics.median(times[n]), default=None)
    print(f"\n| program | median epoch (s) | first epoch (s) | against tch-vae | peak memory (MiB) |")
    print("|---|---|---|---|---|")
    ours = statistics.median(times["tch-vae"])
    for name in times:
        med = statistics.median(times[name])
        print(f"| {name} | {med:.2f} | {statistics.median(firsts[name]):.2f} | "
              f"{med / ours:.2f}x | {max(memory[name]):.0f} |")
    if best_peer:
        print(f"\ntch-vae's epoch is {ours / statistics.median(times[best_peer]):.2f}x the best "
              f"peer's ({best_peer}); its memory estimate before training: about {estimate} MiB")
    if a.raw:
        with open(a.raw, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
