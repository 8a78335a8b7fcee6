#!/usr/bin/env python3
"""Training on several processes (torchrun, c10d's Gloo) against one, on the same cores, in
one interleaved run (issue 26).

    python scripts/benchmark_processes.py OUT_DIR [--repeats 3] [--epochs 3] [--cores 2]

Each workload trains the same run (same global batch) three ways, one after the other,
--repeats times in turn: one process with --cores threads, --cores processes with one thread
each (`torchrun --nproc-per-node`), and one process with one thread. Per run: the median
seconds of a training pass (metrics.csv's epoch_seconds, the epochs after the first) and,
on several processes, the median share of it that rank 0 spent in the step's all-reduce
(waiting for the slowest process included; the line train prints after each epoch).
Writes OUT_DIR/runs.csv and prints the table.

Workloads: the default MLP on MNIST (784-400-20, batch 128: steps of about a millisecond,
where a step's fixed costs weigh most), and the hierarchical model on 32x32 colour digits
(width 32, one group a resolution, batch 32: steps of a third of a second).
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BINARY = REPO / "target" / "release" / "tch-vae"
SHARE = re.compile(r"epoch (\d+): ([0-9.]+) s of rank 0's ([0-9.]+) s training pass in the all-reduce")


def workloads(tmp: Path) -> dict[str, list[str]]:
    digits = tmp / "digits.npz"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_colour_digits.py"), str(digits),
                    "--train", "512", "--test", "64"], check=True, capture_output=True)
    return {
        "mlp-mnist": ["--data", str(REPO.parent / "shared" / "data" / "mnist"), "--batch-size", "128"],
        "hierarchical-digits": ["--data", str(digits), "--arch", "hierarchical", "--likelihood",
                                "logistic-mixture", "--width", "32", "--depth", "1", "--batch-size", "32"],
    }


def one_run(name: str, flags: list[str], mode: str, cores: int, epochs: int, out: Path) -> dict:
    processes, threads = {"one-process": (1, cores), "processes": (cores, 1), "one-thread": (1, 1)}[mode]
    batch = int(flags[flags.index("--batch-size") + 1])
    flags = [f if i == 0 or flags[i - 1] != "--batch-size" else str(batch // processes)
             for i, f in enumerate(flags)]
    args = ["train", "--device", "cpu", "--threads", str(threads), "--epochs", str(epochs),
            "--out", str(out), *flags]
    command = [str(BINARY), *args] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={processes}", "--no-python", str(BINARY), *args]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    if done.returncode != 0:
        raise SystemExit(f"{name} {mode} failed:\n{done.stdout}\n{done.stderr}")
    with open(out / "metrics.csv") as f:
        seconds = [float(r["epoch_seconds"]) for r in csv.DictReader(f)][1:]
    shares = [float(m[2]) / float(m[3]) for m in SHARE.finditer(done.stdout)][1:]
    return {"workload": name, "mode": mode, "processes": processes, "threads": threads,
            "median_epoch_s": statistics.median(seconds),
            "allreduce_share": statistics.median(shares) if shares else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, flags in workloads(tmp).items():
            for repeat in range(a.repeats):
                for mode in ("one-process", "processes", "one-thread"):
                    row = one_run(name, flags, mode, a.cores, a.epochs, tmp / f"{name}-{mode}-{repeat}")
                    rows.append({**row, "repeat": repeat})
                    print(row, flush=True)
    with open(a.out / "runs.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"\n| workload | one process, {a.cores} threads | {a.cores} processes, 1 thread each "
          "(all-reduce share) | one process, 1 thread |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(r["workload"] for r in rows):
        med = {m: statistics.median(r["median_epoch_s"] for r in rows if r["workload"] == name and r["mode"] == m)
               for m in ("one-process", "processes", "one-thread")}
        share = statistics.median(r["allreduce_share"] for r in rows
                                  if r["workload"] == name and r["mode"] == "processes")
        print(f"| {name} | {med['one-process']:.2f} s | {med['processes']:.2f} s ({share:.0%}) | "
              f"{med['one-thread']:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
