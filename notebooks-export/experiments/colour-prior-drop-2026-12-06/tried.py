"""Does drawing the finer groups from the prior in training make the samples digits?

On the package's own PyTorch model of the colour recipe (`tch_vae.HierarchicalVAE`: width
64, two groups a resolution, 8 latent channels, the mixture of 10 logistics), Adam at 2e-3
under a cosine, batches of 32, clipping at 614,400, on the colour digits (DATA, default
/tmp/colour/digits.npz). With probability DROP an image's pass cuts the posterior at a
resolution drawn uniformly from 4, 8, 16 and 32 pixels: its groups there and below are
drawn from the prior (their KL is then 0: q = p for them), so the pass is still an ELBO,
of a smaller variational family, and the test ELBO below uses the whole posterior.

    python tried.py DROP EPOCHS OUT.png [SEED]

INIT=RUN_FOLDER starts from a tch-vae run's weights (`tch_vae.load_run`) instead of a fresh
model; LR (default 2e-3) is the cosine's starting rate. DEPTH: groups per resolution
(default 2; or one per resolution, top-down, as `--depth 4,2,2,1,1`). DENSE=1: the 1x1 level
sees the 4x4 map position by position, as a flat VAE's latent does: the encoder's 4x4 -> 1x1
mean becomes a learned linear map of the flattened 4x4 activations, the decoder's 1x1 -> 4x4
copy a learned linear map back (a try; not in tch-vae).

Prints each epoch's test KL per group (nats, top-down) and bits/dim; OUT.png: prior samples
at temperatures 1, 0.8, 0.6 (rows 1-3; seed 1), then 16 test images and their
reconstructions (the posterior's mean; each pixel's likeliest component)."""
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae import load_run  # noqa: E402
from tch_vae.hierarchy import HierarchicalVAE  # noqa: E402

drop, epochs, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
torch.manual_seed(seed)
torch.set_num_threads(int(os.environ.get("THREADS", "1")))
d = np.load(os.environ.get("DATA", "/tmp/colour/digits.npz"))
prep = lambda a: torch.tensor(a).float().div(255).permute(0, 3, 1, 2).flatten(1)  # noqa: E731
xtr, xte = prep(d["x_train"]), prep(d["x_test"])
if os.environ.get("INIT"):
    m = load_run(os.environ["INIT"]).train()
else:
    depth = [int(v) for v in os.environ.get("DEPTH", "2").split(",")]
    m = HierarchicalVAE((32, 32), 3, 64, depth, 8, "logistic-mixture", 10)
DENSE = os.environ.get("DENSE") == "1"
if DENSE:
    m.dense_down = torch.nn.Linear(64 * 16, 64)
    m.dense_up = torch.nn.Linear(64, 64 * 16)


def bottom_up(x):
    """The package's bottom-up path, with the 4x4 -> 1x1 step a learned map when DENSE."""
    if not DENSE:
        return m.bottom_up(x)
    a = m.encoder.in_conv(x.reshape(-1, 3, 32, 32) * 2.0 - 1.0)
    acts, blocks = [], iter(m.encoder.blocks)
    for level in reversed(range(len(m.sides))):
        for _ in range(m.depths[level]):
            a = next(blocks)(a)
        acts.insert(0, a)
        if level > 1:
            a = F.avg_pool2d(a, 2)
        elif level == 1:
            a = m.dense_down(a.flatten(1))[:, :, None, None]
    return acts
Z = 8


def top_down(x, mode, t=1.0, cut=None):
    """mode: "noise" (z ~ q, or ~ p at levels >= the image's cut), "mean" (q's mean),
    "prior" (z ~ p at temperature t). Returns the decoder's output, the KL per group."""
    n = x.shape[0] if x is not None else 64
    acts = bottom_up(x) if x is not None else None
    h = m.decoder.h_top.expand(n, -1, -1, -1)
    level, kls = 0, []
    for group in m.decoder.groups:
        if group.level != level:
            if DENSE and level == 0:
                h = m.dense_up(h.flatten(1)).reshape(n, 64, 4, 4)
            else:
                h = F.interpolate(h, size=group.side, mode="nearest")
            level = group.level
        p = group.p(h)
        p_mu, p_lv = p[:, :Z], p[:, Z:2 * Z]
        z_p = p_mu + torch.exp(0.5 * p_lv) * torch.randn_like(p_mu) * t
        if mode == "prior":
            z = z_p
        else:
            q = group.q(torch.cat([h, acts[group.level]], 1))
            q_mu, q_lv = q[:, :Z], q[:, Z:]
            z = q_mu + torch.exp(0.5 * q_lv) * torch.randn_like(q_mu) if mode == "noise" else q_mu
            kl = 0.5 * (q_lv.exp() / p_lv.exp() + (q_mu - p_mu) ** 2 / p_lv.exp() - 1 - q_lv + p_lv)
            kl = kl.sum((1, 2, 3))
            if cut is not None:
                from_prior = cut <= group.level  # [n]
                z = torch.where(from_prior[:, None, None, None], z_p, z)
                kl = torch.where(from_prior, torch.zeros_like(kl), kl)
            kls.append(kl)
        h = h + p[:, 2 * Z:]
        h = h + group.z_proj(z)
        h = group.res(h)
    return m.decoder.out(h).flatten(1), kls


opt = torch.optim.Adam(m.parameters(), lr=float(os.environ.get("LR", "2e-3")))
steps = epochs * math.ceil(len(xtr) / 32)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
D = 3 * 32 * 32 * math.log(2)
levels = len({g.level for g in m.decoder.groups})
for e in range(epochs):
    t0, tot = time.time(), 0.0
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), 32):
        x = xtr[perm[i:i + 32]]
        n = len(x)
        # levels (no cut) unless dropped; then 1..levels-1 (4x4 .. 32x32).
        cut = torch.where(torch.rand(n) < drop, torch.randint(1, levels, (n,)),
                          torch.full((n,), levels))
        o, kls = top_down(x, "noise", cut=cut)
        loss = (m.recon(o, x) + torch.stack(kls, 1).sum(1)).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 614400.0)
        opt.step()
        sched.step()
        tot += loss.item() * n
    with torch.no_grad():
        o, kls = top_down(xte, "noise")
        r, kl = m.recon(o, xte), torch.stack(kls, 1).sum(1)
    print("KL per group:", " ".join(f"{v:.1f}" for v in torch.stack(kls, 1).mean(0).tolist()))
    print(f"epoch {e + 1} train {tot / len(xtr):.1f} nats, test -ELBO {(r + kl).mean():.1f} nats"
          f" {(r + kl).mean() / D:.3f} bits/dim (KL {kl.mean():.1f}) {time.time() - t0:.1f}s",
          flush=True)
with torch.no_grad():
    rows = []
    for t in (1.0, 0.8, 0.6):
        torch.manual_seed(1)
        o, _ = top_down(None, "prior", t)
        rows.append(m.picture(o)[:16].reshape(-1, 3, 32, 32))
    o, _ = top_down(xte[:16], "mean")
    rows += [xte[:16].reshape(-1, 3, 32, 32), m.picture(o).reshape(-1, 3, 32, 32)]
g = torch.cat([torch.cat(list(r), 2) for r in rows], 1)
img = (g.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
Image.fromarray(img).resize((g.shape[2] * 2, g.shape[1] * 2), Image.NEAREST).save(out)
