"""The 1x1 convolutions that narrow a block (inputs > outputs) as torch.matmul, in the whole
PyTorch twin of the hierarchical model: 8 training steps of batch 32 at 2 threads after 2
warm-up steps, alternating with the plain model 3 times. Argument: a tch-vae run folder of
the model (profile_eager.py says how to make one)."""
import json, sys, time, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae import load_run_data
from tch_vae.run import _build
torch.set_num_threads(2)
config = json.load(open(f"{sys.argv[1]}/config.json"))
x, _ = load_run_data(config, "train")
def run(patch):
    torch.manual_seed(0)
    model = _build(config)
    if patch:
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d) and mod.kernel_size == (1, 1) and mod.in_channels > mod.out_channels:
                def fwd(inp, m=mod):
                    n, c, h, w = inp.shape
                    y = torch.matmul(m.weight.view(m.out_channels, c), inp.reshape(n, c, h * w))
                    return (y + m.bias.view(1, -1, 1)).view(n, m.out_channels, h, w)
                mod.forward = fwd
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    def step(xb):
        r, a, b = model.elbo_terms(xb, torch.randn(len(xb), model.latent))
        loss = (r + a + b).mean(); opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    for i in range(2): step(x[:32])
    t = time.perf_counter()
    for i in range(8): step(x[32 * i:32 * i + 32])
    return (time.perf_counter() - t) / 8
for r in range(3):
    print(f"conv {run(False)*1e3:.0f} ms/step, 1x1 reduce as matmul {run(True)*1e3:.0f} ms/step", flush=True)
