#!/usr/bin/env python3
"""Train tch-vae and the PyTorch eager reference the same way, in one run, and compare.

    python scripts/compare_reference.py --epochs 10            # full Fashion-MNIST
    python scripts/compare_reference.py --epochs 2 --limit 5000

Both use the same libtorch (this virtual environment's torch 2.11.0), model, optimiser,
batch size, data, seed and thread count. It prints a Markdown table: final test loss
(negative ELBO, nats per image), the median training-epoch time, and their ratios.
Timings come from each program's own `epoch_seconds` (the training pass alone).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tch_vae import cpu_name, read_metrics

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--binary", default=str(REPO / "target/release/tch-vae"))
    a = p.parse_args()

    common = ["--epochs", str(a.epochs), "--seed", str(a.seed), "--threads", str(a.threads)]
    if a.limit:
        common += ["--limit", str(a.limit)]
    with tempfile.TemporaryDirectory() as tmp:
        rust_out, ref_out = Path(tmp, "tch-vae"), Path(tmp, "reference")
        subprocess.run([a.binary, "train", "--device", "cpu", "--out", str(rust_out), *common], check=True)
        subprocess.run([sys.executable, str(REPO / "scripts/reference_vae.py"), "--out", str(ref_out), *common],
                       check=True)
        rust, ref = read_metrics(rust_out / "metrics.csv"), read_metrics(ref_out / "metrics.csv")

    def median_epoch(rows):
        return statistics.median(r["epoch_seconds"] for r in rows)

    rl, pl = rust[-1]["test_loss"], ref[-1]["test_loss"]
    rs, ps = median_epoch(rust), median_epoch(ref)
    print()
    print(f"{a.epochs} epochs, batch 128, Adam 1e-3, seed {a.seed}, {a.threads} threads, "
          f"{'first %d' % a.limit if a.limit else 'all'} training images; {cpu_name()}")
    print()
    print("| | test loss (nats) | median epoch (s) |")
    print("|---|---|---|")
    print(f"| tch-vae | {rl:.2f} | {rs:.2f} |")
    print(f"| PyTorch eager | {pl:.2f} | {ps:.2f} |")
    print(f"| tch-vae / PyTorch | {rl / pl:.4f} ({100 * (rl / pl - 1):+.2f}%) | {rs / ps:.2f}x |")


if __name__ == "__main__":
    main()
