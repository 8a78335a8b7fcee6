"""The MNIST protocol of Burda et al. (2015, "Importance Weighted Autoencoders", section 5
and Table 1) with tch-vae, one command, rows beside the paper's numbers.

Protocol: MNIST binarised dynamically, 784-200-200-50 with tanh, batch 20, Adam, the
learning-rate schedule `--lr-schedule burda` (passes i = 0..7 of 3^i epochs at 1e-3 *
10^(-i/7), 3,280 epochs), test -log p(x) estimated with k = 5000 importance samples.
`--epochs N` shortens the schedule to its first N epochs (say so when reporting).

Each row trains in stages that end where the schedule's passes end (epochs 1, 4, 13, 40,
121, ... and the last epoch), resuming the same run folder (tch-vae resumes bit for bit),
and evaluates after each stage (a call interrupted midway, run again, picks up where it
stopped): with `--curve-k` samples at the inner stages, with `--k`
at the last. Writes, under --out: one run folder per row, `log.txt` (every command and
its output), `curve.csv` (row, epoch, k, test -log p(x), its standard error, seconds),
`table.md` and `curve.png` (test -log p(x) against epochs, the paper's numbers as lines).

    python scripts/burda_mnist.py --epochs 13 --out notebooks-export/experiments/burda-cpu
    python scripts/burda_mnist.py --epochs 13 --out DIR --table-only   # redraw from curve.csv
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from tch_vae.machine import cpu_name  # noqa: E402

#: Burda et al. 2015, Table 1 (one stochastic layer, k = 5000), and their Appendix D /
#: Tomczak & Welling (2018) for the statically binarised rows.
PUBLISHED = {
    "vae": 86.76, "iwae5": 85.54, "iwae50": 84.78, "vae-static": 88.71, "vamp-static": 85.57,
    "vae-static-relu": 88.71, "vamp-static-relu": 85.57,
}
SOURCES = {"vae": "Burda et al.", "iwae5": "Burda et al.", "iwae50": "Burda et al.",
           "vae-static": "Burda et al., App. D", "vamp-static": "Tomczak & Welling",
           "vae-static-relu": "Burda et al., App. D", "vamp-static-relu": "Tomczak & Welling"}
TANH = ["--activation", "tanh"]
VAMP = ["--prior", "vamp", "--pseudo-inputs", "500"]
ROWS = {
    "vae": ["--objective", "elbo", "--binarize", "dynamic", *TANH],
    "iwae5": ["--objective", "iwae", "--k", "5", "--binarize", "dynamic", *TANH],
    "iwae50": ["--objective", "iwae", "--k", "50", "--binarize", "dynamic", *TANH],
    "vae-static": ["--objective", "elbo", "--binarize", "static", *TANH],
    "vamp-static": ["--objective", "elbo", "--binarize", "static", *VAMP, *TANH],
    # With tanh at batch 20 the VampPrior collapses (KL -> 0, about 207 nats, measured):
    # these two rows use ReLU, the VampPrior's paper's choice of a rectifier-like unit.
    "vae-static-relu": ["--objective", "elbo", "--binarize", "static", "--activation", "relu"],
    "vamp-static-relu": ["--objective", "elbo", "--binarize", "static", *VAMP, "--activation", "relu"],
}
MODEL = ["--hidden", "200,200", "--latent", "50", "--batch-size", "20", "--lr", "1e-3",
         "--lr-schedule", "burda"]
FULL_EPOCHS = 3280


def stage_ends(epochs: int) -> list[int]:
    """The epochs where the schedule's passes end, up to `epochs`, and `epochs` itself."""
    ends, end = [], 0
    for i in range(8):
        end += 3 ** i
        if end < epochs:
            ends.append(end)
    return ends + [epochs]


def epochs_done(run_dir: Path) -> int:
    """Epochs the run folder's metrics.csv holds (0 before any)."""
    metrics = run_dir / "metrics.csv"
    return max(0, len(metrics.read_text().splitlines()) - 1) if metrics.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=str(REPO / "target/release/tch-vae"))
    ap.add_argument("--data", default=str(REPO.parent / "shared/data/mnist"))
    ap.add_argument("--epochs", type=int, default=FULL_EPOCHS)
    ap.add_argument("--rows", default="vae,iwae5,iwae50", help=f"from {','.join(ROWS)}")
    ap.add_argument("--k", type=int, default=5000, help="importance samples of the last evaluation")
    ap.add_argument("--curve-k", type=int, default=5000, help="importance samples at inner stages")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--table-only", action="store_true",
                    help="only (re)draw table.md and curve.png from --out's curve.csv")
    args = ap.parse_args()
    if args.table_only:
        write_table(args.out, args.epochs)
        return 0
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"--rows: unknown {unknown}; choose from {list(ROWS)}")
    if args.epochs < 1:
        ap.error("--epochs must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "log.txt", "a")
    threads = [] if args.threads is None else ["--threads", str(args.threads)]

    def run(cmd: list[str]) -> float:
        start = time.time()
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
        return time.time() - start

    log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} on {cpu_name()} "
              f"({platform.node()}), device {args.device}\n")
    curve_path = args.out / "curve.csv"
    new_curve = not curve_path.exists()
    curve = open(curve_path, "a", newline="")
    writer = csv.writer(curve)
    if new_curve:
        writer.writerow(["row", "epoch", "k", "nll", "nll_stderr", "neg_elbo", "train_seconds",
                         "eval_seconds", "device"])
    for row in rows:
        run_dir = args.out / row
        trained = 0
        for end in stage_ends(args.epochs):
            k = args.k if end == args.epochs else args.curve_k
            report = run_dir / f"eval-epoch{end}-k{k}.json"
            if report.exists():  # a stage of an earlier, interrupted call: done
                continue
            if (run_dir / "checkpoint.safetensors").exists():
                cmd = [args.binary, "train", "--resume", str(run_dir), "--epochs", str(end)]
            else:
                cmd = [args.binary, "train", "--data", args.data, "--out", str(run_dir),
                       "--epochs", str(end), *MODEL, *ROWS[row]]
            if epochs_done(run_dir) < end:
                trained += run(cmd + ["--device", args.device, *threads])
            seconds = run([args.binary, "eval", "--run", str(run_dir), "--iw-samples", str(k),
                           "--device", args.device, "--output", str(report), *threads])
            e = json.loads(report.read_text())
            writer.writerow([row, end, k, e["nll"], e["nll_stderr"], e["neg_elbo"],
                             round(trained, 1), round(seconds, 1), e["device"]])
            curve.flush()
    curve.close()
    write_table(args.out, args.epochs)
    return 0


def write_table(out: Path, epochs: int) -> None:
    """table.md and curve.png from curve.csv: each row's last point beside the paper."""
    with open(out / "curve.csv") as f:
        points = list(csv.DictReader(f))
    last: dict[str, dict] = {}
    for p in points:
        if int(p["epoch"]) == epochs:
            last[p["row"]] = p
    lines = ["| row | epochs | k | test -log p(x) (nats) | published (k = 5000) | "
             "difference | training time | device |", "|---|---|---|---|---|---|---|---|"]
    for row, p in last.items():
        nll = float(p["nll"])
        lines.append(f"| {row} | {p['epoch']} of {FULL_EPOCHS} | {p['k']} | {nll:.2f} +- "
                     f"{float(p['nll_stderr']):.2f} | {PUBLISHED[row]:.2f} ({SOURCES[row]}) | "
                     f"{nll - PUBLISHED[row]:+.2f} | {float(p['train_seconds']):.0f} s | "
                     f"{p['device']} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib
    except ImportError:  # the GPU machine's Python has none: --table-only draws it later
        print("matplotlib is missing: curve.png not drawn (rerun with --table-only)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, row in enumerate(dict.fromkeys(p["row"] for p in points)):
        mine = [p for p in points if p["row"] == row]
        colour = f"C{i}"
        ax.plot([int(p["epoch"]) for p in mine], [float(p["nll"]) for p in mine], "o-",
                color=colour, label=f"{row} (tch-vae)")
        ax.axhline(PUBLISHED[row], color=colour, ls="--", lw=1,
                   label=f"{row}: {SOURCES[row]}, {PUBLISHED[row]}")
    ax.set_xscale("log")
    ax.set_xlabel("epoch (the schedule's pass ends)")
    ax.set_ylabel("test -log p(x), nats")
    ax.set_title("Binarised MNIST, 784-200-200-50 tanh, batch 20")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)


if __name__ == "__main__":
    sys.exit(main())
