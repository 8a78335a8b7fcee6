# The odd first exp of first_dump.py (odd-first-exp.pt) against its later calls and float64:
# which values differ, by how many float32 ulps, and how far each is from exp in float64.
import numpy as np, torch
d = torch.load("odd-first-exp.pt")
a, r, x = d["first"].flatten(), d["later"].flatten(), d["in"].flatten()
idx = (a != r).nonzero().flatten()
print(f"{len(idx)} of {a.numel()} values differ; first {idx[0].item()}, last {idx[-1].item()}"
      f" (the first thread's share is values 0 to {a.numel() // 2 - 1})")
ulps = (a.view(torch.int32)[idx] - r.view(torch.int32)[idx]).abs()
print(f"ulps apart: median {ulps.median().item()}, max {ulps.max().item()}")
ref = np.exp(x.double().numpy())
rel = lambda t: np.abs(t.double().numpy() - ref) / ref
print(f"largest relative error against float64 exp: first call {rel(a).max():.2e}, later call {rel(r).max():.2e}")
