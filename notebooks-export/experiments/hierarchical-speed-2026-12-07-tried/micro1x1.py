#!/usr/bin/env python3
"""A 1x1 convolution's forward and backward (input and weight gradients) against the same
as matrix products, at the hierarchical model's shapes (batch 32, 32x32; in -> out
channels), 2 threads; the least of five means of 40 calls, in ms.

    python micro1x1.py"""
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)


def ms(f, reps=40):
    for _ in range(5):
        f()
    means = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            f()
        means.append((time.perf_counter() - start) / reps * 1e3)
    return min(means)


for n, cin, cout, side in [(32, 64, 16, 32), (32, 128, 16, 32), (32, 16, 64, 32), (32, 16, 80, 32)]:
    x, w = torch.randn(n, cin, side, side), torch.randn(cout, cin, 1, 1)
    g = torch.randn(n, cout, side, side)
    w2, x3, g3 = w.view(cout, cin), x.view(n, cin, -1), g.view(n, cout, -1)
    r = {
        "conv fwd": ms(lambda: F.conv2d(x, w)),
        "conv bwd": ms(lambda: torch.ops.aten.convolution_backward(
            g, x, w, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, True, False])),
        "mm fwd": ms(lambda: torch.matmul(w2, x3)),
        "mm bwd": ms(lambda: (torch.matmul(w2.t(), g3), torch.matmul(g3, x3.transpose(1, 2)).sum(0))),
    }
    print(f"{cin:4d} -> {cout:3d}:", "  ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
