#!/usr/bin/env python3
"""Training speed of tch-vae against PyTorch's programs for the same model, in one run.

    python scripts/benchmark.py                       # 784-400-20, batch 128, 3 timed epochs
    python scripts/benchmark.py --busy                # also each program beside a busy process
    python scripts/benchmark.py --scaling --figure scaling.svg   # widths and batch sizes
    python scripts/benchmark.py --hidden 200,200 --latent 50 --batch-size 20 --limit 6000
    python scripts/benchmark.py --device cuda --batch-size 1024
    python scripts/benchmark.py --baseline-binary /tmp/old/tch-vae   # this build against an earlier one
    python scripts/benchmark.py --portable   # also the cost of --reproducible portable
    python scripts/benchmark.py --raw runs.csv        # every epoch of every run, as CSV

Every program trains the same model (same initialisation, loss, Adam 1e-3, data, seed and
thread count) on the same libtorch (this virtual environment's torch 2.11.0), one after
the other, each in its own process, alternating `--repeats` times. The PyTorch peers
(`--peers`) are the reference trainer in its modes: eager with the default Adam, eager
with `Adam(fused=True)` (the kernel tch-vae uses), and `torch.compile` of the whole
training step (default, `max-autotune-no-cudagraphs`, and `reduce-overhead`, PyTorch's own
CUDA graphs, on a GPU); a compiled peer's first epoch holds its compilation, which the
table shows apart. Without `--threads` every program takes its default: libtorch's (the
physical cores), and for tch-vae also its adaptation to a busy machine.

The table gives the median seconds per training epoch (each program's own
`epoch_seconds`: the training pass alone) and per step, images per second, achieved
GFLOP/s against the sgemm peak measured here with a large matrix product on the same
threads, the peak resident memory of each process, and the test loss after the timed
epochs (speed must not be bought with a worse model). It also times every matrix
product of the training step in isolation: their sum is the floor that no training loop
built on these kernels can beat, and the time above it is what a framework can still win.
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
import threading
import time
from pathlib import Path

import torch

from tch_vae import DEFAULT_DATA, cpu_name, read_metrics

REPO = Path(__file__).resolve().parent.parent


def flops_per_image(hidden: list[int], latent: int, pixels: int = 784) -> float:
    """Multiply-adds of the MLP VAE per training image, times 2: forward through every
    layer (the two heads share the trunk), backward for weights and inputs except the
    first layer's input gradient."""
    enc = [pixels] + hidden
    macs_layers = [a * b for a, b in zip(enc[:-1], enc[1:])]
    macs_layers += [2 * enc[-1] * latent]
    dec = [latent] + hidden[::-1] + [pixels]
    macs_layers += [a * b for a, b in zip(dec[:-1], dec[1:])]
    forward = sum(macs_layers)
    backward = 2 * forward - macs_layers[0]  # no gradient w.r.t. the pixels
    return 2.0 * (forward + backward)


def sgemm_peak(threads: int, device: str, n: int = 4096, repeats: int = 10) -> float:
    """GFLOP/s of a large float32 matrix product on `threads` threads."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    return 2 * n ** 3 / best_seconds(lambda: a @ b, device, reps=1, blocks=repeats, warmup=2) / 1e9


def best_seconds(fn, device: str, reps: int = 50, blocks: int = 5, warmup: int = 5) -> float:
    """Fastest mean time of `fn` over `blocks` blocks of `reps` calls, after `warmup` calls."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        sync()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def matmul_floor(hidden: list[int], latent: int, batch: int, images: int, device: str,
                 pixels: int = 784) -> float:
    """Seconds per epoch that the training step's matrix products alone take, each timed in
    isolation (warm caches) at this batch size and summed: per layer the forward addmm, the
    weight gradient, and the input gradient (none for the first layer), as in
    `flops_per_image`. No training loop can beat it with these kernels; the gap between it
    and an epoch is everything else (element-wise kernels, optimiser, framework)."""
    enc = [pixels] + hidden
    layers = list(zip(enc[:-1], enc[1:])) + [(enc[-1], latent)] * 2
    dec = [latent] + hidden[::-1] + [pixels]
    layers += list(zip(dec[:-1], dec[1:]))
    dev = torch.device(device)
    per_batch = 0.0
    for i, (n_in, n_out) in enumerate(layers):
        x, g = torch.randn(batch, n_in, device=dev), torch.randn(batch, n_out, device=dev)
        w, b = torch.randn(n_out, n_in, device=dev), torch.randn(n_out, device=dev)
        per_batch += best_seconds(lambda: torch.addmm(b, x, w.t()), device)  # forward
        per_batch += best_seconds(lambda: g.t().mm(x), device)  # weight gradient
        if i > 0:
            per_batch += best_seconds(lambda: g.mm(w), device)  # input gradient
    return per_batch * images / batch


class GpuMemoryPeak:
    """The peak GPU memory of one process (CUDA context included), read through NVML
    every 5 ms while it runs, so that both programs are measured the same way. `mib`
    stays None where NVML is missing or does not list the process."""

    def __init__(self, pid: int):
        self.pid, self.mib, self._stop = pid, None, threading.Event()
        try:
            import pynvml  # nvidia-ml-py; only needed on CUDA

            pynvml.nvmlInit()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception as e:  # no NVML: report the column as unavailable, keep timing
            print(f"(GPU memory not measured: {e})", file=sys.stderr)
            return
        self._thread = threading.Thread(target=self._poll, args=(pynvml, handles), daemon=True)
        self._thread.start()

    def _poll(self, pynvml, handles) -> None:
        while not self._stop.wait(0.005):
            for h in handles:
                try:
                    procs = pynvml.nvmlDeviceGetComputeRunningProcesses(h)
                except Exception:
                    continue
                for p in procs:
                    if p.pid == self.pid and p.usedGpuMemory is not None:
                        self.mib = max(self.mib or 0.0, p.usedGpuMemory / 2 ** 20)

    def stop(self) -> float | None:
        self._stop.set()
        if hasattr(self, "_thread"):
            self._thread.join()
        return self.mib



def run(cmd: list[str], cuda: bool = False, env: dict | None = None) -> tuple[float, float | None, str]:
    """Runs `cmd` (with `env` added to the environment), returns (peak RSS in MiB, peak GPU
    memory in MiB or None, stdout)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **env} if env else None)
    gpu = GpuMemoryPeak(proc.pid) if cuda else None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    gpu_mib = gpu.stop() if gpu else None
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{out}")
    return usage.ru_maxrss / 1024, gpu_mib, out


#: The PyTorch programs a run can time (`--peers`): the reference in each of its modes.
PEERS = {
    "eager": ("PyTorch eager", []),
    "fused": ("PyTorch eager, fused Adam", ["--fused-adam"]),
    "compile": ("torch.compile", ["--compile", "default"]),
    "autotune": ("torch.compile max-autotune", ["--compile", "max-autotune-no-cudagraphs"]),
    "graphs": ("torch.compile reduce-overhead", ["--compile", "reduce-overhead"]),
}
DEFAULT_PEERS = {"cpu": "eager,fused,compile,autotune", "cuda": "eager,fused,graphs"}


class Busy:
    """One busy process beside the timed program (`yes > /dev/null`, one core's worth of
    work that never sleeps), as a browser tab or a second job would be."""

    def __enter__(self):
        self.proc = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
        time.sleep(0.5)  # let it settle on a core
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


class Config:
    """One model and batch size: the flags every program gets, and its work per epoch."""

    def __init__(self, a, hidden: str, batch: int, epochs: int):
        self.hidden, self.batch, self.epochs, self.latent = hidden, batch, epochs, a.latent
        self.widths = [int(h) for h in hidden.split(",")]
        self.images = a.limit or 60000
        self.flop = flops_per_image(self.widths, a.latent) * self.images
        self.flags = ["--data", a.data, "--epochs", str(epochs), "--batch-size", str(batch),
                      "--hidden", hidden, "--latent", str(a.latent), "--seed", str(a.seed)]
        if a.threads:
            self.flags += ["--threads", str(a.threads)]
        if a.limit:
            self.flags += ["--limit", str(a.limit)]

    @property
    def name(self) -> str:
        return f"784-{self.hidden.replace(',', '-')}-{self.latent}, batch {self.batch}"

    @property
    def steps(self) -> int:
        return -(-self.images // self.batch)


def programs(a, peers: list[str]) -> dict[str, list[str]]:
    """The command of each timed program (without the per-config flags)."""
    out = {"tch-vae": [a.binary, "train"]}
    if a.baseline_binary:  # an earlier build, to show that a change costs no speed
        out["tch-vae (baseline build)"] = [a.baseline_binary, "train"]
    if a.portable:  # the same binary in the mode that gives the same bits on any AVX2 CPU
        out["tch-vae, portable"] = [a.binary, "train", "--reproducible", "portable"]
    if a.device.startswith("cuda"):  # the same program with its steps launched one kernel at a time
        out["tch-vae, no CUDA graphs"] = [a.binary, "train", "--no-cuda-graphs"]
    reference = [sys.executable, str(REPO / "scripts/reference_vae.py")]
    for peer in peers:
        name, flags = PEERS[peer]
        out[name] = reference + flags
    return out


class Run:
    """One program's run: its metrics rows, peak memory and dataset load time. A compiled
    program's first epoch holds its compilation: its median is over the epochs after it
    (the table shows the first epoch apart)."""

    def __init__(self, rss, rows, load, gpu, compiled: bool, out: str):
        self.rss, self.rows, self.load, self.gpu = rss, rows, load, gpu
        self.timed = rows[1:] if compiled and len(rows) > 1 else rows
        # tch-vae's notes of epochs run partly on fewer threads (a busy machine).
        self.thread_notes = [line for line in out.splitlines() if "batches on" in line]

    @property
    def median(self) -> float:
        return statistics.median(r["epoch_seconds"] for r in self.timed)


def measure(a, cfg: Config, names: list[str], tmp: Path, conditions=("quiet",)):
    """`a.repeats` rounds; in each, every program runs once per condition ("quiet", and
    "busy" beside a `Busy` process), one after the other, round i starting with program
    i (mod their number). Returns every run by (program,
    condition), and the matrix-product floor (measured after each round, fastest kept)."""
    cuda = a.device.startswith("cuda")
    cmds = {n: c for n, c in programs(a, a.peer_list).items() if n in names}
    runs: dict[tuple[str, str], list[Run]] = {}
    floor = float("inf")
    for i in range(a.repeats):
        # Each round starts with another program: whatever follows the floor measurement
        # (or a slow spell's start) does not always hit the same one.
        order = list(cmds.items())
        order = order[i % len(order):] + order[:i % len(order)]
        for name, cmd in order:
            for condition in conditions:
                out_dir = Path(tempfile.mkdtemp(dir=tmp))
                full = [*cmd, "--device", a.device, "--out", str(out_dir), *cfg.flags]
                if condition == "busy":
                    with Busy():
                        rss, gpu, out = run(full, cuda)
                else:
                    rss, gpu, out = run(full, cuda)
                m = re.search(r"data loaded in ([0-9.]+) s", out)  # tch-vae prints it
                rows = read_metrics(out_dir / "metrics.csv")
                runs.setdefault((name, condition), []).append(
                    Run(rss, rows, float(m.group(1)) if m else None, gpu, "--compile" in cmd, out))
        floor = min(floor, matmul_floor(cfg.widths, cfg.latent, cfg.batch, cfg.images, a.device))
    if a.raw:
        with open(a.raw, "a", newline="") as f:
            w = csv.writer(f)
            for (name, condition), rs in runs.items():
                for i, r in enumerate(rs):
                    for row in r.rows:
                        w.writerow([cfg.name, name, condition, i + 1, int(row["epoch"]),
                                    f"{row['epoch_seconds']:.4f}", f"{row['test_loss']:.4f}", f"{r.rss:.0f}"])
    return runs, floor


def fastest(rs: list[Run]) -> Run:
    return min(rs, key=lambda r: r.median)


def table(a, cfg: Config, runs, floor: float, peak: float) -> dict[str, float]:
    """Prints the main table of one config; returns each program's fastest median epoch."""
    cuda = a.device.startswith("cuda")
    names = [n for (n, c) in runs if c == "quiet"]
    print(f"{cfg.name}, Adam 1e-3, {cfg.images} training images ({cfg.steps} steps), "
          f"{cfg.epochs} timed epochs ({cfg.flop / 1e9:.0f} GFLOP per epoch), "
          f"best of {a.repeats} alternating runs\n")
    print("| program | median epoch (s) | ms per step | first epoch (s) | images/s | GFLOP/s | of sgemm peak "
          "| peak RSS (MiB) " + ("| peak GPU memory (MiB) " if cuda else "")
          + "| test loss | every run's median epoch (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else ""))
    med = {}
    for name in names:
        rs = runs[(name, "quiet")]
        best = fastest(rs)
        med[name] = best.median
        gpu_cell = (f"| {best.gpu:.0f} " if best.gpu is not None else "| n/a ") if cuda else ""
        print(f"| {name} | {best.median:.3f} | {1000 * best.median / cfg.steps:.2f} "
              f"| {best.rows[0]['epoch_seconds']:.3f} | {cfg.images / best.median:,.0f} "
              f"| {cfg.flop / best.median / 1e9:.1f} | {cfg.flop / best.median / 1e9 / peak:.0%} "
              f"| {best.rss:.0f} {gpu_cell}| {best.rows[-1]['test_loss']:.2f} "
              f"| {', '.join(f'{r.median:.3f}' for r in rs)} |")
    print(f"\nMatrix products alone (each timed in isolation, summed, best of {a.repeats}): "
          f"{floor:.3f} s per epoch ({1000 * floor / cfg.steps:.2f} ms per step), "
          f"{cfg.flop / floor / 1e9:.0f} GFLOP/s ({cfg.flop / floor / 1e9 / peak:.0%} of peak). Above that floor: "
          + ", ".join(f"{n} +{t - floor:.3f} s" for n, t in med.items()))
    peers = [PEERS[p][0] for p in a.peer_list]
    print()
    for peer in peers:
        losses = [fastest(runs[(n, "quiet")]).rows[-1]["test_loss"] for n in ("tch-vae", peer)]
        first = fastest(runs[(peer, "quiet")]).rows[0]["epoch_seconds"]
        compiled = f"; its first epoch, with compilation, {first:.1f} s" if "compile" in peer else ""
        # Each round's own ratio: a slow spell that lasts a round cancels out of it.
        paired = [t.median / p.median for t, p in zip(runs[("tch-vae", "quiet")], runs[(peer, "quiet")])]
        print(f"tch-vae / {peer}: {med['tch-vae'] / med[peer]:.2f}x the epoch time (fastest runs); "
              f"per round {', '.join(f'{r:.2f}' for r in paired)}, median {statistics.median(paired):.2f}x; "
              f"test loss {100 * (losses[0] / losses[1] - 1):+.2f}%{compiled}")
    best_peer = min(peers, key=lambda n: med[n])
    print(f"the best peer: {best_peer} (tch-vae {med['tch-vae'] / med[best_peer]:.2f}x its epoch time)")
    if a.baseline_binary:
        base = "tch-vae (baseline build)"
        same = fastest(runs[("tch-vae", "quiet")]).rows[-1]["test_loss"] == fastest(runs[(base, "quiet")]).rows[-1]["test_loss"]
        print(f"tch-vae / baseline build: {med['tch-vae'] / med[base]:.3f}x the epoch time; "
              f"test loss {'identical' if same else 'different'}")
    if a.portable:
        port = "tch-vae, portable"
        paired = [p.median / t.median for t, p in zip(runs[("tch-vae", "quiet")], runs[(port, "quiet")])]
        print(f"tch-vae --reproducible portable / the default mode: {med[port] / med['tch-vae']:.3f}x "
              f"the epoch time (fastest runs); per round {', '.join(f'{r:.2f}' for r in paired)}")
    for i, r in enumerate(runs[("tch-vae", "quiet")]):
        for note in r.thread_notes:
            print(f"tch-vae, quiet run {i + 1}: {note}")
    load = fastest(runs[("tch-vae", "quiet")]).load
    if load is not None:
        print(f"tch-vae dataset load and decode: {load:.3f} s")
    return med


def busy_table(runs) -> None:
    """Each program's epoch beside one busy process against its quiet epoch, both the
    median over the rounds (a round ran each program quiet, then busy)."""
    print("\nBeside one busy process (`yes > /dev/null`), median over the rounds of each run's median epoch:\n")
    print("| program | quiet (s) | busy (s) | busy / quiet | every busy run's median epoch (s) |")
    print("|---|---|---|---|---|")
    for (name, condition), rs in runs.items():
        if condition != "busy":
            continue
        quiet = statistics.median(r.median for r in runs[(name, "quiet")])
        busy = statistics.median(r.median for r in rs)
        print(f"| {name} | {quiet:.3f} | {busy:.3f} | {busy / quiet:.2f}x | "
              f"{', '.join(f'{r.median:.3f}' for r in rs)} |")
    for i, r in enumerate(runs.get(("tch-vae", "busy"), [])):
        print(f"\ntch-vae, busy run {i + 1}: " + "; ".join(r.thread_notes or ["every batch on the most threads"]), end="")
    print()


#: The scaling sweep: hidden widths at batch 128, then batch sizes at width 400.
SCALING = [("400", 128), ("1024", 128), ("2048", 128), ("400", 32), ("400", 512), ("400", 1024)]


def scaling(a, best_peer: str, tmp: Path) -> list[dict]:
    """tch-vae and the best peer of the main table over `SCALING` (2 epochs each)."""
    a.repeats = max(1, a.repeats - 1)
    print(f"\nScaling against the best peer ({best_peer}); 2 epochs each, best of {a.repeats} "
          "alternating runs, median epoch seconds:\n")
    print(f"| hidden | batch | tch-vae (s) | {best_peer} (s) | ratio | tch-vae GFLOP/s | matrix products alone (s) |")
    print("|---|---|---|---|---|---|---|")
    points = []
    for hidden, batch in SCALING:
        cfg = Config(a, hidden, batch, epochs=2)
        runs, floor = measure(a, cfg, ["tch-vae", best_peer], tmp)
        t = {n: fastest(runs[(n, "quiet")]).median for n in ("tch-vae", best_peer)}
        print(f"| {hidden} | {batch} | {t['tch-vae']:.3f} | {t[best_peer]:.3f} | {t['tch-vae'] / t[best_peer]:.2f}x "
              f"| {cfg.flop / t['tch-vae'] / 1e9:.0f} | {floor:.3f} |", flush=True)
        points.append({"hidden": int(hidden), "batch": batch, "tch-vae": t["tch-vae"],
                       "peer": t[best_peer], "floor": floor})
    return points


def scaling_figure(points: list[dict], peer: str, path: Path, title: str) -> None:
    """Epoch seconds against hidden width (batch 128) and batch size (width 400), for
    tch-vae, the best peer and the matrix-product floor, as an SVG."""
    import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "tch-vae"  # the same figure gives the same file
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, fixed, other in [(axes[0], "hidden", ("batch", 128), "hidden width (batch 128)"),
                                  (axes[1], "batch", ("hidden", 400), "batch size (hidden 400)")]:
        pts = sorted((p for p in points if p[fixed[0]] == fixed[1]), key=lambda p: p[key])
        xs = [p[key] for p in pts]
        for series, label, style in [("tch-vae", "tch-vae", "o-"), ("peer", peer, "s-"),
                                     ("floor", "matrix products alone", "k--")]:
            ax.plot(xs, [p[series] for p in pts], style, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(other)
        ax.set_ylabel("seconds per epoch")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.svg")
    fig.savefig(tmp, metadata={"Date": None})
    tmp.replace(path)  # never a half-written figure


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of IDX files")
    p.add_argument("--epochs", type=int, default=3,
                   help="epochs per program (a compiled peer's first is not timed)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", default="400")
    p.add_argument("--latent", type=int, default=20)
    p.add_argument("--threads", type=int,
                   help="threads for every program [default: each program's own default]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeats", type=int, default=3,
                   help="alternate the programs this many times and keep each one's fastest "
                        "median epoch: a shared machine's slow spells then hit none of them")
    p.add_argument("--busy", action="store_true",
                   help="also run each program beside one busy process, in the same rounds")
    p.add_argument("--scaling", action="store_true",
                   help="also sweep hidden width and batch size against the best peer (2 epochs each)")
    p.add_argument("--figure", type=Path, help="with --scaling: the sweep as an SVG figure")
    p.add_argument("--raw", type=Path, help="append every epoch of every run to this CSV file")
    p.add_argument("--binary", default=str(REPO / "target/release/tch-vae"))
    p.add_argument("--baseline-binary", help="an earlier tch-vae build, timed in the same rotation")
    p.add_argument("--portable", action="store_true",
                   help="also time tch-vae --reproducible portable in the same rotation")
    p.add_argument("--peers", help="PyTorch programs to time, from " + ", ".join(PEERS)
                   + f" [default: {DEFAULT_PEERS['cpu']} on the CPU; {DEFAULT_PEERS['cuda']} on CUDA]")
    a = p.parse_args()
    cuda = a.device.startswith("cuda")
    a.peers = a.peers or DEFAULT_PEERS["cuda" if cuda else "cpu"]
    a.peer_list = a.peers.split(",")
    unknown = set(a.peer_list) - set(PEERS)
    if unknown:
        p.error(f"--peers: unknown {sorted(unknown)}; choose from {', '.join(PEERS)}")
    if a.figure and not a.scaling:
        p.error("--figure draws the --scaling sweep; give both")
    if a.raw:
        with open(a.raw, "w", newline="") as f:
            csv.writer(f).writerow(["config", "program", "condition", "round", "epoch",
                                    "epoch_seconds", "test_loss", "peak_rss_mib"])

    threads = a.threads or torch.get_num_threads()
    peak = sgemm_peak(threads, a.device)
    device_name = torch.cuda.get_device_name() if cuda else cpu_name()
    print(f"# {device_name}, {threads} threads{'' if a.threads else ' (each program default)'}, "
          f"torch {torch.__version__}; sgemm peak {peak:.0f} GFLOP/s (4096^3, best of 10); "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("$ python scripts/benchmark.py " + " ".join(sys.argv[1:]) + "\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = Config(a, a.hidden, a.batch_size, a.epochs)
        names = list(programs(a, a.peer_list))
        runs, floor = measure(a, cfg, names, tmp, ("quiet", "busy") if a.busy else ("quiet",))
        med = table(a, cfg, runs, floor, peak)
        if a.busy:
            busy_table(runs)
        if a.scaling:
            peers = [PEERS[x][0] for x in a.peer_list]
            best_peer = min(peers, key=lambda n: med[n])
            points = scaling(a, best_peer, tmp)
            if a.figure:
                scaling_figure(points, best_peer, a.figure,
                               f"{device_name}, {threads} threads: training epoch (60,000 images, latent {a.latent})")
                print(f"\nwrote {a.figure}")


if __name__ == "__main__":
    main()
