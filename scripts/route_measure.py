"""The route of a `train` request, measured from a gdb trace of every tch_vae function
entry (scripts/route_trace.py, run by scripts/route.sh): the source modules it visits, how often control moves
from one module to another, and how often it climbs back up (the next entry is at a
shallower stack depth, in another module, than the one before)."""
import sys
def modules(files):
    mods = set()
    for f in open(files).read().split():
        parts = f[len("src/"):-len(".rs")].split("/")
        if parts[-1] == "mod": parts = parts[:-1]
        if parts in (["lib"], ["main"]): parts = []
        mods.add("::".join(["tch_vae"] + parts))
    return mods
def module_of(fn, mods):
    fn = fn.split("::<impl")[0].split("::{{")[0]
    parts = fn.split("::")
    for n in range(len(parts), 0, -1):
        if "::".join(parts[:n]) in mods:
            return "::".join(parts[:n])
    return parts[0]
def top(module):
    """The concept a module belongs to: its first path component (`run::files` -> `run`)."""
    return "::".join(module.split("::")[:2])
def report(name, calls, files):
    for level, key in (("file", lambda m: m), ("concept", top)):
        for first in (True, False):
            mods = modules(files)
            seq, seen = [], set()
            for line in open(calls):
                fn, depth, _ = line.rstrip("\n").split("\t")
                if first:
                    if fn in seen:
                        continue
                    seen.add(fn)
                seq.append((key(module_of(fn, mods)), int(depth)))
            hops = sum(1 for a, b in zip(seq, seq[1:]) if a[0] != b[0])
            climbs = sum(1 for a, b in zip(seq, seq[1:]) if a[0] != b[0] and b[1] < a[1])
            what = "first entry of each function" if first else "every entry"
            print(f"{name:10} by {level:7} {what:29} entries {len(seq):4}  places {len({m for m, _ in seq}):3}  "
                  f"changes {hops:4}  climbs back up {climbs:4}")
if __name__ == "__main__":
    # route_measure.py NAME CALLS FILES [NAME CALLS FILES ...]
    args = sys.argv[1:]
    for i in range(0, len(args), 3):
        report(*args[i:i + 3])
