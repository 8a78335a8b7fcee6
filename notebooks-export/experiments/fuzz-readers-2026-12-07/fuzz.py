"""Usage (after scripts/setup.sh): $TCH_VAE_PYTHON fuzz.py SEED CASES > fuzz-SEED.log

Mutation fuzz of tch-vae's data readers through the CLI: seeds of every format, random
byte flips, truncations, insertions; flags any exit other than 0/1, any run past 60 s, and
any error that does not name the file."""
import io, os, random, shutil, struct, subprocess, sys, time, zipfile, gzip
import numpy as np
from PIL import Image
B = os.environ.get("B", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../target/release/tch-vae"))
root = "/tmp/fuzz/w"
rng = random.Random(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
def npy_bytes(a):
    f = io.BytesIO(); np.save(f, a); return f.getvalue()
def seeds():
    x = (np.arange(20 * 8 * 8) % 251).astype(np.uint8).reshape(20, 8, 8)
    y = (np.arange(20) % 3).astype(np.int64)
    out = {}
    out["a.npy"] = npy_bytes(x)
    f = io.BytesIO(); np.savez(f, x_train=x, y_train=y, x_test=x[:6], y_test=y[:6]); out["b.npz"] = f.getvalue()
    f = io.BytesIO(); np.savez_compressed(f, x_train=x, y_train=y); out["c.npz"] = f.getvalue()
    img = Image.fromarray(np.stack([x[0]] * 3, -1)); f = io.BytesIO(); img.save(f, "PNG"); out["d.png"] = f.getvalue()
    f = io.BytesIO(); img.save(f, "JPEG"); out["e.jpg"] = f.getvalue()
    idx = struct.pack(">IIII", 0x803, 20, 8, 8) + x.tobytes()
    out["train-images-idx3-ubyte.gz"] = gzip.compress(idx)
    out["train-labels-idx1-ubyte"] = struct.pack(">II", 0x801, 20) + bytes(int(v) for v in y)
    cif = b"".join(bytes([i % 10]) + bytes(3072) for i in range(8))
    out["data_batch_1.bin"] = cif
    return out
def mutate(b):
    b = bytearray(b)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        op = rng.random()
        if op < 0.5 and b:
            i = rng.randrange(len(b)); b[i] = rng.randrange(256)
        elif op < 0.65 and b:
            b = b[:rng.randrange(len(b))]
        elif op < 0.8:
            i = rng.randrange(len(b) + 1); b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 64])))
        elif op < 0.9 and len(b) > 8:
            i = rng.randrange(len(b) - 4); b[i:i + 4] = struct.pack("<I", rng.choice([0, 1, 0x7fffffff, 0xffffffff, 65536]))
        else:
            i = rng.randrange(max(1, len(b) - 4)); b[i:i + 4] = struct.pack(">I", rng.choice([0, 1, 0x7fffffff, 0xffffffff, 65536]))
    return bytes(b)
def layout(name, data, d):
    """Where the file goes and what --data names."""
    if name.endswith((".npy", ".npz")):
        p = os.path.join(d, name); open(p, "wb").write(data); return p, p
    if name.endswith((".png", ".jpg")):
        folder = os.path.join(d, "imgs", "cls")
        os.makedirs(folder)
        src = seeds()[name]
        for i in range(6):
            open(os.path.join(folder, f"{i}{name[-4:]}"), "wb").write(src)
        p = os.path.join(folder, "bad" + name[-4:]); open(p, "wb").write(data); return p, os.path.join(d, "imgs")
    s = seeds()
    if name.startswith("train-"):
        # The four IDX files, the test pair copies of the training pair; one mutated.
        folder = os.path.join(d, "idx"); os.makedirs(folder)
        for k in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte"):
            open(os.path.join(folder, k), "wb").write(s[k])
            open(os.path.join(folder, k.replace("train", "t10k")), "wb").write(s[k])
        p = os.path.join(folder, name); open(p, "wb").write(data); return p, folder
    # CIFAR-10's six files, each 8 records; data_batch_1.bin mutated.
    folder = os.path.join(d, "cifar"); os.makedirs(folder)
    for k in [f"data_batch_{i}.bin" for i in range(2, 6)] + ["test_batch.bin"]:
        open(os.path.join(folder, k), "wb").write(s["data_batch_1.bin"])
    p = os.path.join(folder, name); open(p, "wb").write(data); return p, folder
S = seeds()
bad = 0
tally = {}
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
for case in range(n):
    name = rng.choice(list(S))
    data = mutate(S[name])
    d = os.path.join(root, str(case)); shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    path, arg = layout(name, data, d)
    t = time.time()
    try:
        o = subprocess.run([B, "train", "--data", arg, "--out", os.path.join(d, "run"), "--epochs", "1",
                            "--hidden", "8", "--latent", "2", "--batch-size", "4", "--threads", "1"],
                           capture_output=True, text=True, timeout=60)
        rc, err = o.returncode, o.stderr
    except subprocess.TimeoutExpired:
        rc, err = "TIMEOUT", ""
    dt = time.time() - t
    named = os.path.basename(path) in err or os.path.basename(arg) in err or arg in err
    odd = rc not in (0, 1) or (rc == 1 and not named)
    key = (name, rc)
    tally[key] = tally.get(key, 0) + 1
    if odd:
        bad += 1
        keep = f"/tmp/fuzz/odd-{sys.argv[1] if len(sys.argv) > 1 else 0}-{case}-{name}"
        open(keep, "wb").write(data)
        print(f"ODD case {case} {name} rc={rc} {dt:.1f}s: {err.strip()[-300:]}", flush=True)
    else:
        shutil.rmtree(d, ignore_errors=True)
for (name, rc), count in sorted(tally.items(), key=str):
    print(f"{name}: exit {rc}: {count}")
print(f"done {n} cases, {bad} odd", flush=True)
