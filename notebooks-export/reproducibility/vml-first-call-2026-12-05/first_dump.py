import sys, os, torch
torch.set_num_threads(2)
g = torch.Generator().manual_seed(0)
x = (torch.rand(128, 784, generator=g) > 0.5).float()
w = (torch.rand(400, 784, generator=g) - 0.5) / 14
b = (torch.rand(400, generator=g) - 0.5) / 14
lv = torch.randn(128, 20, generator=g)
if len(sys.argv) > 1 and sys.argv[1] == "warm":
    torch.exp(torch.zeros(16))
torch.nn.functional.linear(x, w, b)
a = torch.exp(lv / 2)
for _ in range(5): torch.exp(lv / 2)
r = torch.exp(lv / 2)
if torch.equal(a, r): print("SAME", flush=True)
else:
    torch.save({"first": a, "later": r, "in": lv / 2}, f"odd-{os.getpid()}.pt"); print("DIFF", flush=True)
