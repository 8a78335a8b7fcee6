#!/usr/bin/env python3
"""Training speed of tch-vae against the PyTorch eager reference, in one run.

    python scripts/benchmark.py                       # 784-400-20, batch 128, 3 timed epochs
    python scripts/benchmark.py --scaling             # also hidden 400/1024/2048 and batch 64/128/512
    python scripts/benchmark.py --device cuda --batch-size 1024
    python scripts/benchmark.py --baseline-binary /tmp/old/tch-vae   # this build against an earlier one

Both programs train the same model (same initialisation, loss, Adam 1e-3, data, seed and
thread count) on the same libtorch (this virtual environment's torch 2.11.0), one after
the other, each in its own process. The table gives the median seconds per training
epoch (each program's own `epoch_seconds`: the training pass alone), images per second,
achieved GFLOP/s against the sgemm peak measured here with a large matrix product on the
same threads, the peak resident memory of each process, and the test loss after the
timed epochs (speed must not be bought with a worse model). It also times every matrix
product of the training step in isolation: their sum is the floor that no training loop
built on these kernels can beat, and the time above it is what a framework can still win.
"""
from __future__ import annotations

import argparse
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


def run(cmd: list[str], cuda: bool = False) -> tuple[float, float | None, str]:
    """Runs `cmd`, returns (peak RSS in MiB, peak GPU memory in MiB or None, stdout)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    gpu = GpuMemoryPeak(proc.pid) if cuda else None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    gpu_mib = gpu.stop() if gpu else None
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{out}")
    return usage.ru_maxrss / 1024, gpu_mib, out


def measure_once(a, hidden: str, batch: int, tmp: Path) -> dict:
    common = ["--data", a.data, "--epochs", str(a.epochs), "--batch-size", str(batch),
              "--hidden", hidden, "--seed", str(a.seed), "--threads", str(a.threads)]
    if a.limit:
        common += ["--limit", str(a.limit)]
    tmp = Path(tempfile.mkdtemp(dir=tmp))  # one folder per measurement
    cuda = a.device.startswith("cuda")
    programs = {"tch-vae": [a.binary, "train"]}
    if a.baseline_binary:  # an earlier build, to show that a change costs no speed
        programs["tch-vae (baseline build)"] = [a.baseline_binary, "train"]
    if cuda:  # the same program with its steps launched one kernel at a time
        programs["tch-vae, no CUDA graphs"] = [a.binary, "train", "--no-cuda-graphs"]
    reference = [sys.executable, str(REPO / "scripts/reference_vae.py")]
    for peer in a.peers.split(","):
        name, flags = PEERS[peer]
        programs[name] = reference + flags
    rows = {}
    for i, (name, cmd) in enumerate(programs.items()):
        out_dir = tmp / str(i)
        rss, gpu, out = run([*cmd, "--device", a.device, "--out", str(out_dir), *common], cuda)
        m = re.search(r"data loaded in ([0-9.]+) s", out)  # tch-vae prints it
        rows[name] = (rss, read_metrics(out_dir / "metrics.csv"), float(m.group(1)) if m else None, gpu)
    return rows


#: The PyTorch programs a run can time (`--peers`): the reference in each of its modes.
PEERS = {
    "eager": ("PyTorch eager", []),
    "fused": ("PyTorch eager, fused Adam", ["--fused-adam"]),
    "compile": ("torch.compile", ["--compile", "default"]),
    "autotune": ("torch.compile max-autotune", ["--compile", "max-autotune-no-cudagraphs"]),
    "graphs": ("torch.compile reduce-overhead", ["--compile", "reduce-overhead"]),
}


def median_epoch(rows: list[dict[str, float]]) -> float:
    return statistics.median(r["epoch_seconds"] for r in rows)


def measure(a, hidden: str, batch: int, tmp: Path) -> tuple[dict, float, dict]:
    """`a.repeats` alternating runs; per program, the run with the fastest median epoch,
    and every run's median epoch (to show the spread). The matrix-product floor is
    measured after each pair too, and its fastest kept."""
    best: dict = {}
    every: dict = {}
    floor = float("inf")
    images = a.limit or 60000
    widths = [int(h) for h in hidden.split(",")]
    for _ in range(a.repeats):
        for name, row in measure_once(a, hidden, batch, tmp).items():
            every.setdefault(name, []).append(median_epoch(row[1]))
            if name not in best or median_epoch(row[1]) < median_epoch(best[name][1]):
                best[name] = row
        floor = min(floor, matmul_floor(widths, 20, batch, images, a.device))
    return best, floor, every


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of IDX files")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per program")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", default="400")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cpu")
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeats", type=int, default=3,
                   help="alternate the two programs this many times and keep each one's fastest "
                        "median epoch: a shared machine's slow spells then hit neither")
    p.add_argument("--scaling", action="store_true", help="also sweep hidden width and batch size (2 epochs each)")
    p.add_argument("--binary", default=str(REPO / "target/release/tch-vae"))
    p.add_argument("--baseline-binary", help="an earlier tch-vae build, timed in the same rotation")
    p.add_argument("--peers", help="PyTorch programs to time, from " + ", ".join(PEERS)
                   + " [default: eager,fused,compile on the CPU; eager,fused,graphs on CUDA]")
    a = p.parse_args()
    if a.peers is None:
        a.peers = "eager,fused,graphs" if a.device.startswith("cuda") else "eager,fused,compile"
    unknown = set(a.peers.split(",")) - set(PEERS)
    if unknown:
        p.error(f"--peers: unknown {sorted(unknown)}; choose from {', '.join(PEERS)}")

    peak = sgemm_peak(a.threads, a.device)
    device_name = torch.cuda.get_device_name() if a.device.startswith("cuda") else cpu_name()
    images = a.limit or 60000
    print(f"# {device_name}, {a.threads} threads, torch {torch.__version__}; "
          f"sgemm peak {peak:.0f} GFLOP/s (4096^3, best of 10); best of {a.repeats} alternating runs\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        hidden = [int(h) for h in a.hidden.split(",")]
        flop = flops_per_image(hidden, 20) * images
        rows, floor, every = measure(a, a.hidden, a.batch_size, tmp)
        print(f"784-{a.hidden.replace(',', '-')}-20, batch {a.batch_size}, Adam 1e-3, {images} training images, "
              f"{a.epochs} timed epochs ({flop / 1e9:.0f} GFLOP per epoch)\n")
        cuda = a.device.startswith("cuda")
        print("| program | median epoch (s) | first epoch (s) | images/s | GFLOP/s | of sgemm peak | peak RSS (MiB) "
              + ("| peak GPU memory (MiB) " if cuda else "") + "| test loss | every run's median epoch (s) |")
        print("|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else ""))
        med = {}
        for name, (rss, ms, _, gpu) in rows.items():
            med[name] = median_epoch(ms)
            gpu_cell = (f"| {gpu:.0f} " if gpu is not None else "| n/a ") if cuda else ""
            print(f"| {name} | {med[name]:.3f} | {ms[0]['epoch_seconds']:.3f} | {images / med[name]:,.0f} "
                  f"| {flop / med[name] / 1e9:.1f} "
                  f"| {flop / med[name] / 1e9 / peak:.0%} | {rss:.0f} {gpu_cell}| {ms[-1]['test_loss']:.2f} "
                  f"| {', '.join(f'{t:.2f}' for t in every[name])} |")
        print(f"\nMatrix products alone (each timed in isolation, summed, best of {a.repeats}): "
              f"{floor:.3f} s per epoch, "
              f"{flop / floor / 1e9:.0f} GFLOP/s ({flop / floor / 1e9 / peak:.0%} of peak). Above that floor: "
              + ", ".join(f"{n} +{t - floor:.3f} s" for n, t in med.items()))
        peers = [PEERS[p][0] for p in a.peers.split(",")]
        for peer in peers:
            losses = [rows[n][1][-1]["test_loss"] for n in ("tch-vae", peer)]
            print(f"\ntch-vae / {peer}: {med['tch-vae'] / med[peer]:.2f}x the epoch time; "
                  f"test loss {100 * (losses[0] / losses[1] - 1):+.2f}%", end="")
        best = min(peers, key=lambda n: med[n])
        print(f"\nthe best peer: {best}; the first epoch of a compiled peer holds its compilation")
        if a.baseline_binary:
            base = "tch-vae (baseline build)"
            same = rows["tch-vae"][1][-1]["test_loss"] == rows[base][1][-1]["test_loss"]
            print(f"tch-vae / baseline build: {med['tch-vae'] / med[base]:.3f}x the epoch time; "
                  f"test loss {'identical' if same else 'different'}")
        if rows["tch-vae"][2] is not None:
            print(f"tch-vae dataset load and decode (60,000 + 10,000 gz images): {rows['tch-vae'][2]:.3f} s")

        if a.scaling:
            a.epochs, a.repeats = 2, max(1, a.repeats - 1)
            print(f"\nScaling (2 epochs each, best of {a.repeats} alternating runs, median epoch seconds):\n")
            print("| hidden | batch | tch-vae (s) | PyTorch eager (s) | ratio | tch-vae GFLOP/s "
                  "| matrix products alone (s) |")
            print("|---|---|---|---|---|---|---|")
            for hidden_s, batch in [("400", 64), ("400", 128), ("400", 512), ("1024", 128), ("2048", 128)]:
                r, fl, _ = measure(a, hidden_s, batch, tmp)
                t = {n: median_epoch(r[n][1]) for n in r}
                f = flops_per_image([int(hidden_s)], 20) * images
                print(f"| {hidden_s} | {batch} | {t['tch-vae']:.2f} | {t['PyTorch eager']:.2f} "
                      f"| {t['tch-vae'] / t['PyTorch eager']:.2f}x | {f / t['tch-vae'] / 1e9:.0f} | {fl:.2f} |")


if __name__ == "__main__":
    main()
