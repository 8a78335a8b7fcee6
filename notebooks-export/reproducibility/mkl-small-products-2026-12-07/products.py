"""Which float32 matrix products of libtorch's MKL give other bits at 1, 2, 3 and 4 threads
under MKL's strict reproducible mode (MKL_CBWR=AUTO,STRICT, what tch-vae's machine mode
sets on a CPU of any maker). A map per layout of a linear layer's three products
(forward x @ W^T, input gradient g @ W, weight gradient g^T @ x): rows are the product's
columns m, columns its rows n ('.': the same bits at every count, 'X': not), inner size k.

Run: MKL_CBWR=AUTO,STRICT python products.py > products.log
"""
import os
import platform

import torch

assert os.environ.get("MKL_CBWR") == "AUTO,STRICT", "run with MKL_CBWR=AUTO,STRICT"
cpu = next(
    (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
    platform.processor(),
)
print(f"torch {torch.__version__}, {torch.backends.mkl.is_available() and 'MKL'}, CPU {cpu}")
print(f"MKL_CBWR={os.environ['MKL_CBWR']}, threads compared: 1, 2, 3, 4")
g = torch.Generator().manual_seed(1)
ms = list(range(1, 65, 1)) + [96, 128, 400, 784]
ns = list(range(1, 49)) + [64, 128]


def same_at_every_count(make):
    outs = []
    for t in (1, 2, 3, 4):
        torch.set_num_threads(t)
        outs.append(make())
    return all(torch.equal(outs[0], o) for o in outs[1:])


total = bad = 0
for layout in ("NN", "NT", "TN"):
    for k in (16, 784):
        print(f"\n{layout}, k = {k}: rows m (product's columns) 1..64, 96, 128, 400, 784; "
              f"columns n (product's rows) 1..48, 64, 128")
        for m in ms:
            row = ""
            for n in ns:
                # a [n, k] @ b [k, m], each operand stored as the layout says.
                a = torch.randn(k, n, generator=g).T if layout == "TN" else torch.randn(n, k, generator=g)
                b = torch.randn(m, k, generator=g).T if layout == "NT" else torch.randn(k, m, generator=g)
                ok = same_at_every_count(lambda: a @ b)
                total += 1
                bad += not ok
                row += "." if ok else "X"
            print(f"{m:4d} {row}")
print(f"\n{bad} of {total} products differ at some count")
