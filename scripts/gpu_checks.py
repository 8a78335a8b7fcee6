#!/usr/bin/env python3
"""The comparisons of scripts/gpu_check.sh, each a subcommand that exits non-zero when its
check fails:

    python scripts/gpu_checks.py same-loss RUN_A RUN_B        # final test losses within 1%
    python scripts/gpu_checks.py graph-vs-eager RUN_A RUN_B   # every metric equal to rounding
    python scripts/gpu_checks.py identical RUN_A RUN_B        # every metric equal in every digit
    python scripts/gpu_checks.py differences RUN_A RUN_B      # the differences, not judged
    python scripts/gpu_checks.py load-in-python RUN DEVICE    # vae.pt on the CPU and DEVICE
"""
from __future__ import annotations

import argparse
import math
import sys

import torch
from safetensors.torch import load_file

from tch_vae import load_run, read_metrics
from tch_vae.run import TORCHSCRIPT, WEIGHTS


def same_loss(a: str, b: str) -> None:
    """The CUDA run's test loss against the CPU run's, same seed and epochs: within 1%."""
    cuda, cpu = (read_metrics(r)[-1]["test_loss"] for r in (a, b))
    print(f"test loss: {a} {cuda:.3f}, {b} {cpu:.3f}, difference {100 * (cuda / cpu - 1):+.3f}%")
    assert abs(cuda / cpu - 1) < 0.01, "the test losses differ by more than 1%"


def graph_vs_eager(a: str, b: str, exact: bool = False, report_only: bool = False) -> None:
    """Steps replayed from a CUDA graph against the same steps launched one by one: same
    kernels, same random numbers, so the metrics should agree to rounding (`exact`: in
    every digit, as two runs of deterministic kernels must)."""
    graph, eager = read_metrics(a), read_metrics(b)
    cols = [c for c in graph[0] if c not in ("epoch", "epoch_seconds")]
    pairs = [(g[c], e[c]) for g, e in zip(graph, eager) for c in cols]
    # NaN where a column does not apply (the VampPrior's KL split): equal when both are.
    assert all(math.isnan(g) == math.isnan(e) for g, e in pairs), "NaN in one run only"
    pairs = [(g, e) for g, e in pairs if not math.isnan(e)]
    worst = max(abs(g / e - 1) for g, e in pairs if e)
    same = all(g == e for g, e in pairs)
    print(f"CUDA graph vs eager steps, {len(graph)} epochs: every metric "
          f"{'identical' if same else 'equal within'} (largest relative difference {worst:.2e}); "
          f"epoch seconds graph {[round(r['epoch_seconds'], 3) for r in graph]} "
          f"vs eager {[round(r['epoch_seconds'], 3) for r in eager]}")
    losses = max(abs(g[c] / e[c] - 1) for g, e in zip(graph, eager) for c in ("train_loss", "test_loss"))
    print(f"largest relative difference of the losses: {losses:.2e}")
    if report_only:  # runs whose kernels are not deterministic: shown, not judged
        return
    assert losses < 1e-3, f"losses differ by {losses:.2e}"
    assert same or not exact, "the runs differ, and they must be identical"


def load_in_python(run: str, device: str) -> None:
    """vae.pt in Python, on each device: parameters equal to weights.safetensors, outputs
    equal to the package's nn.Module's (with labels for a conditional model, and log p(z)
    and prior samples for every prior)."""
    w = load_file(f"{run}/{WEIGHTS}")
    reference = load_run(run)
    config = reference.config
    model = config["model"]
    pixels = model.get("channels", 1) * model["image_height"] * model["image_width"]
    classes = model.get("classes")
    for dev in sorted({"cpu", device}):
        m = torch.jit.load(f"{run}/{TORCHSCRIPT}", map_location=dev)
        params = dict(m.named_parameters())
        assert set(params) == set(w), (sorted(params), sorted(w))
        for k, v in w.items():
            assert torch.equal(params[k].detach().cpu(), v), k
        ref = reference.to(dev)
        x = torch.rand(64, pixels, device=dev)
        y = None if classes is None else torch.arange(64, device=dev) % classes
        ys = () if y is None else (y,)
        with torch.no_grad():
            mu, logvar = m.encode(x, *ys)
            rmu, rlogvar = ref.encode(x, y)
            pairs = [(mu, rmu), (logvar, rlogvar), (m.decode(mu, *ys), ref.decode(rmu, y)),
                     (m.log_prior(mu), ref.log_prior(rmu))]
            assert m.sample(64, *ys).shape == x.shape
        err = max((a - b).abs().max().item() for a, b in pairs)
        assert err < 1e-5, (dev, err)
        print(f"vae.pt on {dev}: {len(params)} parameters equal to weights.safetensors; "
              f"encode and decode agree with the reference module (max error {err:.1e})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="check", required=True)
    for name in ("same-loss", "graph-vs-eager", "identical", "differences"):
        s = sub.add_parser(name)
        s.add_argument("a")
        s.add_argument("b")
    s = sub.add_parser("load-in-python")
    s.add_argument("run")
    s.add_argument("device")
    a = p.parse_args()
    if a.check == "same-loss":
        same_loss(a.a, a.b)
    elif a.check in ("graph-vs-eager", "identical", "differences"):
        graph_vs_eager(a.a, a.b, exact=a.check == "identical", report_only=a.check == "differences")
    else:
        load_in_python(a.run, a.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
