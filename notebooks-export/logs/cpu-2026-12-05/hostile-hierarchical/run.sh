#!/usr/bin/env bash
# A hostile round on what this session added: --arch hierarchical, the colour recipe,
# --skip-threshold, sample --temperature. Each case: the command, its exit code, its last
# line. Expected: no panic, no hang, a message naming the flag or file.
B=${B:-/work/main/target/release/tch-vae}; P=${P:-/root/.cache/tch-vae/venv/bin/python}
W=/tmp/hostile/w; rm -rf $W; mkdir -p $W; cd $W
$P - <<'PY'
import numpy as np
rng = np.random.default_rng(0)
for name, shape in [("c1x1", (40, 1, 1, 3)), ("c2x2", (40, 2, 2, 3)), ("c3x5", (40, 3, 5, 3)),
                    ("c7x7", (40, 7, 7, 3)), ("c4ch", (40, 8, 8, 4)), ("c64", (40, 64, 64, 3))]:
    np.save(f"{name}.npy", rng.integers(0, 256, shape, dtype=np.uint8))
PY
case_() { local name=$1; shift; timeout 300 "$@" > $name.out 2>&1; echo "$name | rc=$? | $(grep -v '^\s*$' $name.out | tail -1 | cut -c1-220)"; }
T="train --device cpu --epochs 1 --batch-size 16"
for d in c1x1 c2x2 c3x5 c7x7 c4ch; do case_ recipe-$d $B $T --data $d.npy --out r-$d; done
case_ image-size-4096 $B $T --data c64.npy --image-size 4096 --arch hierarchical --out r-big
case_ width-huge $B $T --data c64.npy --arch hierarchical --width 4096 --depth 64 --out r-huge
case_ latent-5000 $B $T --data c7x7.npy --arch hierarchical --latent 5000 --out r-lat
case_ iwae $B $T --data c7x7.npy --arch hierarchical --objective iwae --k 3 --out r-iwae
case_ gaussian $B $T --data c7x7.npy --arch hierarchical --likelihood gaussian --out r-gauss
case_ free-bits $B $T --data c7x7.npy --arch hierarchical --free-bits 0.5 --kl-warmup 1 --out r-fb
case_ skip-nan $B $T --data c7x7.npy --skip-threshold nan --out r-sn
case_ skip-inf $B $T --data c7x7.npy --skip-threshold inf --out r-si
case_ temp-nan $B sample --run r-c7x7 --temperature nan
case_ temp-inf $B sample --run r-c7x7 --temperature inf
case_ temp-0 $B sample --run r-c7x7 --temperature 0 --output $W/t0.png
case_ eval-rows $B eval --run r-c7x7 --batch-rows 16000000
case_ eval-k $B eval --run r-c7x7 --iw-samples 3 --limit 5
cp -r r-c7x7 r-edit; rm -f r-edit/.tch-vae.lock
sed -i 's/"width": [0-9]*/"width": 1000000000000/' r-edit/config.json
case_ config-width $B train --resume r-edit --epochs 2
case_ config-width-python $P -c "import sys; sys.path.insert(0, '/work/main/scripts'); import tch_vae; tch_vae.load_run('r-edit')"
cp -r r-c7x7 r-depth; rm -f r-depth/.tch-vae.lock
$P -c "import json; c = json.load(open('r-depth/config.json')); c['model']['depth'] = [0]; json.dump(c, open('r-depth/config.json', 'w'))"
case_ config-depth $B eval --run r-depth
case_ config-depth-python $P -c "import sys; sys.path.insert(0, '/work/main/scripts'); import tch_vae; tch_vae.load_run('r-depth')"
