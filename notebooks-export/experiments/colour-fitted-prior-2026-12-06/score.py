#!/usr/bin/env python3
"""How data-like are a run's samples? A small CNN trained on the data's own training images
(the digits' labels from make_colour_digits.py, or a folder's class subfolders: the sprites'
shapes) classifies n samples of each kind; the scores are those of the Inception Score
family, with this classifier in Inception's place:

- confident: the share of images it gives one class at least 0.9 (real test digits: near 1;
  noise or fragments: low);
- mean max p: the mean of its largest class probability;
- class entropy (bits): the entropy of the mean class distribution, log2(10) = 3.32 when the
  samples cover the ten digits evenly (log2(4) = 2 for the sprites' four shapes);
- score: exp(E KL(p(y|x) || p(y))), from 1 (no digit, or one digit always) to the classes;
- frechet: the Frechet distance (FID's formula) between the samples' and the test images'
  features (the classifier's last hidden layer, 128 values): 0 for the same distribution.
  A classifier trained on clean digits is confident on many things that are not digits
  (multicoloured blobs among them), so the first four can praise noise; the distance
  compares the whole distribution of features, and is the one to read first.

    python score.py DATA OUT.json NAME=RUN[:fitted][:T] ...

DATA: a .npz of make_colour_digits.py, or an image folder with train/ and test/ of class
subfolders (make_sprites.py's).

NAME=RUN draws from the model's prior at temperature T (default 1), NAME=RUN:fitted from
the run's fitted prior (tch-vae fit-prior); N training digits are scored as "train" (the
floor of the distance).
The models are the package's PyTorch models of the runs (tch_vae.load_run)."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from tch_vae import load_fitted_prior, load_run, sample_fitted  # noqa: E402

N = 1000
data, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
torch.manual_seed(0)
to_x = lambda a: torch.tensor(a).float().div(255).permute(0, 3, 1, 2)  # noqa: E731


def folder(split: Path, classes: list) -> tuple:
    """The PNGs of split/CLASS/ as images in [0, 1] and class labels, in the files' own
    order (make_sprites.py numbers them across the classes, so the first N are a mix)."""
    from PIL import Image
    files = sorted(((f, c) for c, name in enumerate(classes) for f in (split / name).glob("*.png")),
                   key=lambda fc: fc[0].name)
    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f, _ in files])
    return to_x(images), torch.tensor([c for _, c in files]).long()


if Path(data).is_dir():
    classes = sorted(p.name for p in (Path(data) / "train").iterdir() if p.is_dir())
    (x_train, y_train), (x_test, y_test) = (folder(Path(data) / s, classes) for s in ("train", "test"))
else:
    d = np.load(data)
    x_train, y_train = to_x(d["x_train"]), torch.tensor(d["y_train"]).long()
    x_test, y_test = to_x(d["x_test"]), torch.tensor(d["y_test"]).long()
side = x_train.shape[-1] // 4

clf = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, int(y_train.max()) + 1))
opt = torch.optim.Adam(clf.parameters(), 1e-3)
for epoch in range(6):
    for idx in torch.randperm(len(x_train)).split(64):
        opt.zero_grad()
        F.cross_entropy(clf(x_train[idx]), y_train[idx]).backward()
        opt.step()
clf.eval()
with torch.no_grad():
    accuracy = (clf(x_test).argmax(1) == y_test).float().mean().item()
print(f"classifier: {accuracy:.3f} accuracy on the {len(x_test)} test images")


def features(images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return clf[:-1](images.clamp(0, 1)).double()


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """|m_a - m_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), the trace of the root from the
    eigenvalues of S_a^(1/2) S_b S_a^(1/2) (symmetric, so eigh)."""
    ma, mb = a.mean(0), b.mean(0)
    sa, sb = torch.cov(a.T), torch.cov(b.T)
    va, ua = torch.linalg.eigh(sa)
    root_a = ua @ torch.diag(va.clamp_min(0).sqrt()) @ ua.T
    cross = torch.linalg.eigvalsh(root_a @ sb @ root_a).clamp_min(0).sqrt().sum()
    return ((ma - mb).square().sum() + sa.trace() + sb.trace() - 2 * cross).item()


reference = features(x_test)


def scores(images: torch.Tensor) -> dict:
    with torch.no_grad():
        p = F.softmax(clf(images.clamp(0, 1)), 1)
    marginal = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.log())).sum(1)
    return {
        "images": len(images),
        "confident": (p.max(1).values >= 0.9).float().mean().item(),
        "mean_max_p": p.max(1).values.mean().item(),
        "class_entropy_bits": -(marginal * marginal.clamp_min(1e-12).log2()).sum().item(),
        "score": kl.mean().exp().item(),
        "frechet": frechet(features(images), reference),
    }


# The floor: N training images against the test images.
results = {"classifier_test_accuracy": accuracy, "samples": N, "train": scores(x_train[:N])}
for spec in specs:
    name, rest = spec.split("=", 1)
    run, *opts = rest.split(":")
    fitted = "fitted" in opts
    t = float(next((o for o in opts if o != "fitted"), 1.0))
    model = load_run(run)
    torch.manual_seed(1)
    with torch.no_grad():
        if fitted:
            x = sample_fitted(model, load_fitted_prior(run), N, temperature=t)
        else:
            x = model.sample(N, temperature=t)
    h, w = model.config["model"]["image_height"], model.config["model"]["image_width"]
    results[name] = scores(x.reshape(N, 3, h, w))
for name, r in results.items():
    if isinstance(r, dict):
        print(f"{name:32s} confident {r['confident']:.3f}  mean max p {r['mean_max_p']:.3f}  "
              f"class entropy {r['class_entropy_bits']:.2f} bits  score {r['score']:.2f}  "
              f"frechet {r['frechet']:.1f}")
Path(out).write_text(json.dumps(results, indent=1) + "\n")
