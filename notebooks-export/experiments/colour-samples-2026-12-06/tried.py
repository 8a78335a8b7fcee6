"""Two tries at samples that look like digits, outside tch-vae, on the package's own PyTorch
model of the colour recipe (`tch_vae.HierarchicalVAE`: width 64, depth 2, 8 latent
channels, the mixture of 10 logistics), trained here with Adam at 2e-3 under a cosine,
batches of 32, on the colour digits (DATA, default /tmp/colour/digits.npz):

    python tried.py 8 20 max8.png        # latents only at sides <= 8 (finer groups: z = the
                                         # prior's mean, no KL), 20 epochs
    python tried.py 1000 10 bal5.png 5   # all groups; NVAE's KL balancing during a 5-epoch
                                         # KL warm-up, 10 epochs

Prints each epoch's test KL per group (nats, top-down) and bits/dim; writes prior samples
at temperatures 1, 0.8, 0.6, 0.4 (rows 1-4), then 16 test images and their reconstructions."""
import sys, math, time, torch, numpy as np
import os
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae.hierarchy import HierarchicalVAE
import torch.nn.functional as F
from PIL import Image
maxside, epochs, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
depth = 2
balance_epochs = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
torch.manual_seed(0); torch.set_num_threads(2)
d = np.load(os.environ.get("DATA", "/tmp/colour/digits.npz"))
prep = lambda a: torch.tensor(a).float().div(255).permute(0, 3, 1, 2).flatten(1)
xtr, xte = prep(d["x_train"]), prep(d["x_test"])
m = HierarchicalVAE((32, 32), 3, 64, depth, 8, "logistic-mixture", 10)
def top_down(x, mode, t=1.0):
    n = x.shape[0] if x is not None else 64
    acts = m.bottom_up(x) if x is not None else None
    z_dim = 8; h = m.decoder.h_top.expand(n, -1, -1, -1); level = 0
    kl = torch.zeros(n); kls = []
    for group in m.decoder.groups:
        sh, sw = group.side
        if group.level != level:
            h = F.interpolate(h, size=(sh, sw), mode="nearest"); level = group.level
        p = group.p(h); p_mu, p_lv = p[:, :z_dim], p[:, z_dim:2*z_dim]
        if sh > maxside:
            z = p_mu
        elif mode == "prior":
            z = p_mu + torch.exp(0.5*p_lv)*torch.randn_like(p_mu)*t
        else:
            q = group.q(torch.cat([h, acts[group.level]], 1)); q_mu, q_lv = q[:, :z_dim], q[:, z_dim:]
            z = q_mu + torch.exp(0.5*q_lv)*torch.randn_like(q_mu) if mode == "noise" else q_mu
            kg = 0.5*(q_lv.exp()/p_lv.exp() + (q_mu-p_mu)**2/p_lv.exp() - 1 - q_lv + p_lv).sum((1,2,3)); kl = kl + kg; kls.append(kg)
        h = h + p[:, 2*z_dim:]; h = h + group.z_proj(z); h = group.res(h)
    top_down.kls = kls
    return m.decoder.out(h).flatten(1), kl
opt = torch.optim.Adam(m.parameters(), lr=2e-3)
steps = epochs * math.ceil(len(xtr)/32); sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
D = 3*32*32*math.log(2)
for e in range(epochs):
    t0 = time.time(); perm = torch.randperm(len(xtr)); tot = 0
    m.train()
    for i in range(0, len(xtr), 32):
        x = xtr[perm[i:i+32]]
        o, kl = top_down(x, "noise")
        step_frac = (e + i/len(xtr)) / balance_epochs if balance_epochs > 0 else 1.0
        if step_frac < 1.0:
            K = torch.stack(top_down.kls, 1)  # [n, groups]
            alpha = torch.tensor([g.side[0]*g.side[1] for g in m.decoder.groups], dtype=torch.float)
            alpha = alpha / alpha.min()
            c = K.abs().mean(0) + 0.01; c = c / alpha * c.sum(); c = c / c.mean()
            loss = (m.recon(o, x) + step_frac * (K * c.detach()).sum(1)).mean()
        else:
            loss = (m.recon(o, x) + kl).mean()
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tot += loss.item()*len(x)
    with torch.no_grad():
        o, kl = top_down(xte, "noise"); r = m.recon(o, xte)
    print(" ".join(f"{v:.1f}" for v in torch.stack(top_down.kls,1).mean(0).tolist()))
    print(f"epoch {e+1} train {tot/len(xtr)/D:.3f} test {(r+kl).mean()/D:.3f} bits/dim (recon {r.mean()/D:.3f} kl {kl.mean()/D:.3f}) {time.time()-t0:.1f}s", flush=True)
with torch.no_grad():
    rows = []
    for t in (1.0, 0.8, 0.6, 0.4):
        torch.manual_seed(1); o, _ = top_down(None, "prior", t); rows.append(m.picture(o)[:16].reshape(-1, 3, 32, 32))
    o, _ = top_down(xte[:16], "mean"); rows += [xte[:16].reshape(-1, 3, 32, 32), m.picture(o).reshape(-1, 3, 32, 32)]
g = torch.cat([torch.cat(list(r), 2) for r in rows], 1)
Image.fromarray((g.permute(1, 2, 0).clamp(0, 1).numpy()*255).astype(np.uint8)).resize((g.shape[2]*2, g.shape[1]*2), Image.NEAREST).save(out)
