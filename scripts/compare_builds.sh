#!/usr/bin/env bash
# Compares this build of tch-vae with an earlier one (a refactoring must change nothing):
# trains the same runs with both binaries on the CPU and checks that metrics.csv (all but
# the wall time), weights.safetensors and the figures (latent.svg: its points) are
# identical, then times both on
# the default model, alternating them, and prints every run's median epoch.
#
#   bash scripts/compare_builds.sh OLD_BINARY [NEW_BINARY] [REPEATS]   # REPEATS 0: no timing
#
# A binary of an earlier commit: git worktree add /tmp/old <commit>; (cd /tmp/old &&
# cargo build --release), with .cargo/config.toml copied there. Exits 1 if any output differs.
set -uo pipefail
old=${1:?usage: compare_builds.sh OLD_BINARY [NEW_BINARY] [REPEATS]}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
new=${2:-$repo/target/release/tch-vae}
repeats=${3:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
differ=0
runs=(
  "--limit 3000 --epochs 2 --hidden 64 --latent 4"
  "--limit 2000 --epochs 2 --arch conv --hidden 32 --latent 3 --likelihood gaussian"
  "--limit 2000 --epochs 2 --binarize dynamic --kl-warmup 1 --free-bits 0.1 --clip-grad 50 --latent 2"
)
i=0
for args in "${runs[@]}"; do
  i=$((i + 1))
  for v in old new; do
    bin=$old; [ $v = new ] && bin=$new
    # shellcheck disable=SC2086
    "$bin" train --device cpu --threads 2 --out "$work/$v-$i" $args > "$work/$v-$i.log" 2>&1 \
      || { echo "run $i failed with the $v build:"; tail -5 "$work/$v-$i.log"; differ=1; continue 2; }
  done
  same=()
  cut -d, -f1-12,14 "$work/old-$i/metrics.csv" > "$work/a"; cut -d, -f1-12,14 "$work/new-$i/metrics.csv" > "$work/b"
  cmp -s "$work/a" "$work/b" && same+=("metrics.csv") || { echo "run $i: metrics.csv differs"; differ=1; }
  for f in weights.safetensors samples.png reconstructions.png interpolation.png; do
    cmp -s "$work/old-$i/$f" "$work/new-$i/$f" && same+=("$f") || { echo "run $i: $f differs"; differ=1; }
  done
  # latent.svg: its points (its legend names the classes since the data sources know them).
  points() { grep -o '<circle[^>]*r="2"[^>]*>' "$1"; }  # the data points (r=2), not the legend's
  cmp -s <(points "$work/old-$i/latent.svg") <(points "$work/new-$i/latent.svg") \
    && same+=("latent.svg's points") || { echo "run $i: latent.svg's points differ"; differ=1; }
  echo "run $i ($args): identical ${same[*]}"
done
[ "$repeats" -gt 0 ] || exit $differ  # REPEATS=0: the outputs only
echo
echo "default model, full Fashion-MNIST, 3 epochs, 2 threads, alternating; median epoch (s) of each run:"
for r in $(seq "$repeats"); do
  for v in old new; do
    bin=$old; [ $v = new ] && bin=$new
    "$bin" train --device cpu --threads 2 --epochs 3 --out "$work/t-$v-$r" > /dev/null 2>&1
    med=$(python3 - "$work/t-$v-$r/metrics.csv" <<'PY'
import csv, statistics, sys
print("%.3f" % statistics.median(float(r["epoch_seconds"]) for r in csv.DictReader(open(sys.argv[1]))))
PY
)
    echo "$v $r $med"
  done
done | tee "$work/times"
python3 - "$work/times" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    v, _, s = line.split()
    t.setdefault(v, []).append(float(s))
for v in ("old", "new"):
    print(f"{v}: best {min(t[v]):.3f} s, median {statistics.median(t[v]):.3f} s")
print(f"new / old: best {min(t['new']) / min(t['old']):.3f}x, median {statistics.median(t['new']) / statistics.median(t['old']):.3f}x")
PY
exit $differ
