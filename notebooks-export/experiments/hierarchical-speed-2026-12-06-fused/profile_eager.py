"""Where a step of the hierarchical model goes, by operator: PyTorch's profiler on the
eager twin of tch-vae's model (`tch_vae.HierarchicalVAE`, built from a run's config.json),
6 steps of batch 32 on the colour digits, 2 threads. The mixture's operators (log_sigmoid,
where, exp, expm1, logsumexp, ...) are what tch-vae's one-pass kernel replaces.

    target/release/tch-vae train --data /tmp/colour/digits.npz --out /tmp/prof-run --arch hierarchical \\
        --likelihood logistic-mixture --width 64 --depth 2 --latent 8 --epochs 1 --limit 256 --seed 42
    PYTHONPATH=scripts python notebooks-export/experiments/hierarchical-speed-2026-12-06-fused/profile_eager.py /tmp/prof-run
"""
import json
import sys

import torch
from torch.profiler import ProfilerActivity, profile

from tch_vae import load_run_data
from tch_vae.run import _build

torch.manual_seed(0)
torch.set_num_threads(2)
config = json.load(open(f"{sys.argv[1]}/config.json"))
model = _build(config)
x, _ = load_run_data(config, "train")
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def step(xb):
    recon, kl_mu, kl_var = model.elbo_terms(xb, torch.randn(len(xb), model.latent))
    loss = (recon + kl_mu + kl_var).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


for _ in range(3):
    step(x[:32])
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for i in range(6):
        step(x[32 * i:32 * i + 32])
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
