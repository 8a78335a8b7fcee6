#!/usr/bin/env python3
"""The hierarchical model's PyTorch twin (the package's HierarchicalVAE, the benchmark's
peer) in three memory layouts, eager with fused Adam, 2 threads: four passes over 320
images (batches of 32), seconds a pass.

    python twin_layouts.py CONFIG MODE   # MODE: nchw, channels_last, channels_last_kept

- nchw: as written;
- channels_last: the weights channels-last, PyTorch's advice for CPU convolutions;
- channels_last_kept: that, with the top-down state made channels-last after each
  upsampling (interpolating the 1x1 state gives NCHW, and every convolution after it then
  copies its input and its gradient over: `aten::copy_` under `convolution` and
  `convolution_backward` in PyTorch's profiler)."""
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae import load_run_data  # noqa: E402
from tch_vae.run import _build  # noqa: E402
import tch_vae.hierarchy as hierarchy  # noqa: E402

config_path, mode = sys.argv[1], sys.argv[2]
if mode == "channels_last_kept":
    interpolate = F.interpolate
    hierarchy.F.interpolate = lambda h, *a, **k: interpolate(h, *a, **k).contiguous(
        memory_format=torch.channels_last)
torch.set_num_threads(2)
config = json.loads(Path(config_path).read_text())
torch.manual_seed(0)
model = _build(config)
if mode != "nchw":
    model = model.to(memory_format=torch.channels_last)
x = load_run_data(config, "train")[0][:320]
opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
seconds = []
for _ in range(4):
    start = time.perf_counter()
    for i in range(0, 320, 32):
        xb = x[i:i + 32]
        recon, kl_mu, kl_var = model.elbo_terms(xb, torch.randn(len(xb), model.latent))
        loss = (recon + kl_mu + kl_var).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds.append(time.perf_counter() - start)
print(f"{mode:19s}", " ".join(f"{s:.3f}" for s in seconds), "loss", round(loss.item(), 2), flush=True)
