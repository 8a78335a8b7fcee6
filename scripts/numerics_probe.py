"""Which of libtorch's CPU operations give other bits at another thread count?

Each operation (forward and, where it has one, backward with a fixed upstream gradient)
runs on the same inputs at 1 thread and at 2..8 threads, for several sizes whose split
between threads falls on and off the vector width; any bit that differs is reported.
This is how src/native/numerics.rs's list was found: run it with and without MKL_CBWR.

    MKL_CBWR=AUTO,STRICT python scripts/numerics_probe.py > notebooks-export/reproducibility/probe.log
"""
from __future__ import annotations

import os
import platform
import sys

import torch
import torch.nn.functional as F


def invariant_bce(x, t):
    # src/model/invariant.rs's binary cross-entropy from logits.
    return x * (1 - t) - F.logsigmoid(x)


def invariant_log_sigmoid(x):
    return F.logsigmoid(x)


def invariant_sigmoid(x):
    return F.logsigmoid(x).exp()


def mixture_op(k: int, c: int):
    """tch_vae.mixture's -log p(x) (src/model/mixture.rs's steps) with parameters drawn
    from x and 8-bit data from t, trimmed to whole pixels."""
    from tch_vae.mixture import mixture_image, mixture_nll, params_per_pixel

    def op(x, t):
        p = params_per_pixel(k, c)
        hw = x.shape[1] // p
        data = (t[:, : c * hw] * 0.7 + 0.15).mul(255).round().div(255)
        return mixture_nll(x[:, : p * hw], data, k, c) + mixture_image(x[:, : p * hw], k, c).sum(1)

    return op


def main() -> int:
    torch.manual_seed(0)
    sizes = [(128, 784), (100, 3072), (20, 784), (777, 333), (32, 30720)]
    w = torch.randn(784, 400)
    ops = {
        "sigmoid": lambda x, t: x.sigmoid(),
        "softplus": lambda x, t: F.softplus(x),
        "log_sigmoid": lambda x, t: F.logsigmoid(x),
        "bce_with_logits": lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
        "tanh": lambda x, t: x.tanh(),
        "exp": lambda x, t: x.exp(),
        "expm1": lambda x, t: x.expm1(),
        "log1p": lambda x, t: x.abs().log1p(),
        "log": lambda x, t: x.abs().add(1e-3).log(),
        "relu": lambda x, t: x.relu(),
        "square": lambda x, t: x.square(),
        "mul_add": lambda x, t: x * t + x,
        "where": lambda x, t: torch.where(x > 0, x, t),
        "sum_dim1": lambda x, t: x.sum(1),
        "sum_dim0": lambda x, t: x.sum(0),
        "sum_all": lambda x, t: x.sum(),
        "logsumexp_dim1": lambda x, t: x.logsumexp(1),
        "vector_norm": lambda x, t: torch.linalg.vector_norm(x),
        "matmul": lambda x, t: x[:, :784] @ w if x.shape[1] >= 784 else x @ w[: x.shape[1]],
        "invariant_bce": invariant_bce,
        "invariant_log_sigmoid": lambda x, t: invariant_log_sigmoid(x),
        "invariant_sigmoid": lambda x, t: invariant_sigmoid(x),
        "logsumexp_mid_dim": lambda x, t: x.reshape(x.shape[0], 3, -1).logsumexp(1) if x.shape[1] % 3 == 0
        else x.reshape(x.shape[0], 4, -1).logsumexp(1),
        "softmax_mid_dim": lambda x, t: x.reshape(x.shape[0], 3, -1).softmax(1) if x.shape[1] % 3 == 0
        else x.reshape(x.shape[0], 4, -1).softmax(1),
        "clamp_min": lambda x, t: x.clamp_min(-1.0),
        "sum_mid_dim": lambda x, t: x.reshape(x.shape[0], 3, -1).sum(1) if x.shape[1] % 3 == 0
        else x.reshape(x.shape[0], 4, -1).sum(1),
        "mixture_nll_grey": mixture_op(2, 1),
        "mixture_nll_rgb": mixture_op(3, 3),
    }
    print(f"# {platform.processor() or platform.machine()}; torch {torch.__version__}; "
          f"ATen {torch.backends.cpu.get_cpu_capability()}; MKL_CBWR={os.environ.get('MKL_CBWR')}")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# CPU: {cpu}")
    counts = range(2, 9)
    differs_any = set()
    for name, op in ops.items():
        bad = []
        for shape in sizes:
            x0 = torch.randn(shape) * 4
            t = (torch.rand(shape) > 0.5).float()
            results = {}
            for threads in [1, *counts]:
                torch.set_num_threads(threads)
                x = x0.clone().requires_grad_()
                y = op(x, t)
                g = torch.ones_like(y) * 0.37
                y.backward(g)
                results[threads] = (y.detach(), x.grad)
            for threads in counts:
                same = all(torch.equal(a, b) for a, b in zip(results[1], results[threads]))
                if not same:
                    bad.append(f"{shape[0]}x{shape[1]}@{threads}")
        if bad:
            differs_any.add(name)
        print(f"{name:24s} {'DIFFERS ' + ' '.join(bad[:6]) if bad else 'same at 1-8 threads'}")
    print(f"# differ: {sorted(differs_any)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
