#!/usr/bin/env python3
"""Two ideas for the hierarchical model's convolutions, tried on its PyTorch twin (the
package's HierarchicalVAE, which benchmark_hierarchical.py's peers train) before any Rust:
four passes over 320 images (batches of 32, fused Adam, 2 threads), seconds a pass.

    python layouts.py CONFIG MODE     # MODE: conv (as written), channels_last, mm1x1

- channels_last: the model's weights in channels-last memory format (oneDNN's NHWC path);
- mm1x1: every 1x1 convolution as a matrix product, weight [out, in] @ x [n, in, h*w]."""
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
config_path, mode = sys.argv[1], sys.argv[2]
if mode == "mm1x1":
    conv_forward = nn.Conv2d.forward

    def forward(self, x):
        if self.kernel_size != (1, 1):
            return conv_forward(self, x)
        n, c, h, w = x.shape
        y = torch.matmul(self.weight.view(self.out_channels, c), x.reshape(n, c, h * w))
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1)
        return y.view(n, self.out_channels, h, w)

    nn.Conv2d.forward = forward
from tch_vae import load_run_data  # noqa: E402
from tch_vae.run import _build  # noqa: E402

torch.set_num_threads(2)
config = json.loads(Path(config_path).read_text())
torch.manual_seed(0)
model = _build(config)
if mode == "channels_last":
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
print(f"{mode:14s}", " ".join(f"{s:.3f}" for s in seconds), "loss", round(loss.item(), 2), flush=True)
