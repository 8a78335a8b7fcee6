# Same op, same inputs, many calls in one process: do the bits ever change?
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
n = int(sys.argv[2])
g = torch.Generator().manual_seed(0)
x = (torch.rand(128, 784, generator=g) > 0.5).float()
w = (torch.rand(400, 784, generator=g) - 0.5) / 14
b = (torch.rand(400, generator=g) - 0.5) / 14
lv = torch.randn(128, 20, generator=g)
ops = {
    "addmm": lambda: torch.nn.functional.linear(x, w, b),
    "tanh": lambda: torch.tanh(torch.nn.functional.linear(x, w, b)),
    "mm_T": lambda: x.t() @ torch.nn.functional.linear(x, w, b),   # weight-grad shape
    "exp": lambda: torch.exp(lv / 2),
}
ref = {k: f().clone() for k, f in ops.items()}
bad = {k: 0 for k in ops}
t = time.time()
for i in range(n):
    for k, f in ops.items():
        if not torch.equal(f(), ref[k]):
            bad[k] += 1
print(sys.argv[1], "threads", n, "calls each", bad, f"{time.time()-t:.1f}s", flush=True)
