"""Usage (after scripts/setup.sh): PYTHONPATH=scripts $TCH_VAE_PYTHON pyfuzz.py SEED CASES

Mutation fuzz of the package's readers (tch_vae.load_run_data): the fuzz.py seeds, each
mutant read in-process; any exception other than a ValueError/OSError naming the file, or
a read past 20 s, counts as odd."""
import os, random, shutil, signal, sys, time, traceback
here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, "fuzz.py")).read().split("S = seeds()")[0]
seed, n = int(sys.argv[1]), int(sys.argv[2])
sys.argv = ["x", str(seed)]
exec(src)
from tch_vae import load_run_data
S = {k: v for k, v in seeds().items() if not k.endswith((".png", ".jpg"))}
root = "/tmp/pyfuzz/w"
def alarm(*a): raise TimeoutError("past 20 s")
signal.signal(signal.SIGALRM, alarm)
tally, odd = {}, 0
for case in range(n):
    name = rng.choice(sorted(S)); data = mutate(S[name])
    d = os.path.join(root, str(case)); shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    path, arg = layout(name, data, d)
    source = "numpy" if name.endswith((".npy", ".npz")) else ("idx" if name.startswith("train-") else "cifar")
    config = {"train": {"data": arg, "seed": 1, "limit": None, "test_fraction": 0.25}, "data": {"source": source}}
    signal.alarm(20)
    try:
        for split in ("train", "test"):
            load_run_data(config, split)
        outcome = "ok"
    except (ValueError, OSError, KeyError) as e:
        msg = str(e)
        outcome = type(e).__name__
        if os.path.basename(path) not in msg and arg not in msg:
            outcome += " (unnamed)"
            odd += 1
            print(f"ODD {case} {name}: {type(e).__name__}: {msg[:200]}")
    except Exception as e:
        outcome = type(e).__name__ + " (other)"
        odd += 1
        print(f"ODD {case} {name}: {type(e).__name__}: {str(e)[:200]}")
    finally:
        signal.alarm(0)
    tally[(name, outcome)] = tally.get((name, outcome), 0) + 1
    shutil.rmtree(d, ignore_errors=True)
for k in sorted(tally, key=str):
    print(k[0], k[1], tally[k])
print(f"done {n} cases, {odd} odd")
