# Fresh process: does the first call of an op give the same bits as later calls?
import sys, hashlib, torch
torch.set_num_threads(int(sys.argv[1]))
g = torch.Generator().manual_seed(0)
x = (torch.rand(128, 784, generator=g) > 0.5).float()
w = (torch.rand(400, 784, generator=g) - 0.5) / 14
b = (torch.rand(400, generator=g) - 0.5) / 14
lv = torch.randn(128, 20, generator=g)
def h(t): return hashlib.sha256(t.numpy().tobytes()).hexdigest()[:12]
first = [h(torch.nn.functional.linear(x, w, b)), h(torch.exp(lv / 2)), h(torch.tanh(x @ w.t()))]
for _ in range(20):
    torch.nn.functional.linear(x, w, b); torch.exp(lv/2)
later = [h(torch.nn.functional.linear(x, w, b)), h(torch.exp(lv / 2)), h(torch.tanh(x @ w.t()))]
print(" ".join(first), "|", " ".join(later), "SAME" if first == later else "DIFF", flush=True)
