#!/usr/bin/env python3
"""Where do a hierarchical run's samples break? Row 0: eight held-out images; row 1 + k
(k = 0 .. groups): the top k latent groups from the posterior (q's mean given the image),
the groups below drawn from the prior at TEMPERATURE (0: the prior's mean). Reading down,
the first row that looks like the images names the group whose prior fails.

    python groups.py RUN_FOLDER DATA.npz OUT.png [TEMPERATURE]

Uses the package's own PyTorch model of the run (`tch_vae.load_run`), whose parity with the
Rust model tests/python checks."""
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae import load_run  # noqa: E402

run, data, out = sys.argv[1:4]
t = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
m = load_run(run).eval()
x = torch.tensor(np.load(data)["x_test"][:8]).float().div(255).permute(0, 3, 1, 2).flatten(1)
torch.manual_seed(0)


def mixed(k: int) -> torch.Tensor:
    """The picture with the top k groups from q, the rest from p at temperature t."""
    n, z_dim = x.shape[0], m.latent_channels
    acts = m.bottom_up(x)
    h, level = m.decoder.h_top.expand(n, -1, -1, -1), 0
    for g, group in enumerate(m.decoder.groups):
        if group.level != level:
            h, level = F.interpolate(h, size=group.side, mode="nearest"), group.level
        p = group.p(h)
        if g < k:
            z = group.q(torch.cat([h, acts[group.level]], 1))[:, :z_dim]
        else:
            mu, logvar = p[:, :z_dim], p[:, z_dim:2 * z_dim]
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) * t
        h = group.res(h + p[:, 2 * z_dim:] + group.z_proj(z))
    return m.picture(m.decoder.out(h).flatten(1))


with torch.no_grad():
    rows = [x] + [mixed(k) for k in range(len(m.decoder.groups) + 1)]
side = m.image_shape
rows = [r.reshape(-1, 3, *side) for r in rows]
grid = torch.cat([torch.cat(list(r), 2) for r in rows], 1).permute(1, 2, 0).clamp(0, 1)
img = Image.fromarray((grid.numpy() * 255).round().astype(np.uint8))
img.resize((img.width * 2, img.height * 2), Image.NEAREST).save(out)
print(f"wrote {out}: rows = images, then 0 .. {len(m.decoder.groups)} groups from q")
