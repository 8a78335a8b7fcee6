# Usage: $TCH_VAE_PYTHON kl_micro.py > kl_micro.log (after scripts/setup.sh)
# The hierarchical benchmark's KL terms alone (10 groups of 8 channels at 32, 16, 8, 4, 1;
# batch 32), forward and backward as tch-vae's terms.rs writes them: ms a step.
import time, torch
torch.set_num_threads(2)
sides = [32, 32, 16, 16, 8, 8, 4, 4, 1, 1]
def make():
    return [[torch.randn(32, 8, s, s, requires_grad=True) for _ in range(4)] for s in sides]
def step(groups):
    means, vars_ = [], []
    for mq, lq, mp, lp in groups:
        inv = (-lp).exp()
        mean = (mq - mp).square() * inv * 0.5
        r = lq - lp
        var = (r.exp() - 1.0 - r) * 0.5
        means.append(mean.sum((1, 2, 3))); vars_.append(var.sum((1, 2, 3)))
    m, v = torch.stack(means, 1), torch.stack(vars_, 1)
    loss = (m + v).mean(0).sum() + m.sum(1).mean() * 0 + v.sum(1).mean() * 0
    loss.backward()
def reparam(groups):
    tot = 0
    for mq, lq, _, _ in groups:
        z = mq + (lq * 0.5).exp() * torch.randn_like(mq)
        tot = tot + z.sum()
    tot.backward()
g = make()
for f in (step, reparam):
    for _ in range(5): f(g)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(20): f(g)
        best = min(best, (time.perf_counter() - t) / 20)
    print(f.__name__, f"{best*1e3:.2f} ms")
