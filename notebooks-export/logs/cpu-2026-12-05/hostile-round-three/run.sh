#!/usr/bin/env bash
# Issue 28's fresh hostile round: new cases in each class the issue names (limits before work,
# special files, lossless data, messages, the Python package), built at run time. Each case:
# its exit code, seconds, peak memory (MiB) and the message's last line. Expected: no panic,
# no hang (timeout 120 s), peak memory bounded, a message naming the file or flag.
B=${B:-/work/main/target/release/tch-vae}; P=${P:-/root/.cache/tch-vae/venv/bin/python}
S=/work/main/scripts
W=/tmp/hostile3; rm -rf $W; mkdir -p $W; cd $W
case_() {
  local name=$1; shift
  local s=$(date +%s.%N)
  /usr/bin/time -f "%M" -o $name.mem timeout 120 "$@" > $name.out 2>&1; local rc=$?
  local secs=$(printf %.1f $(echo "$(date +%s.%N) - $s" | bc))
  local mib=$(( $(tail -1 $name.mem) / 1024 ))
  echo "$name | rc=$rc | ${secs}s | ${mib} MiB | $(grep -v '^\s*$' $name.out | tail -1 | cut -c1-260)"
}
T="train --device cpu --epochs 1 --batch-size 16"

# --- NumPy: dtypes, orders, shapes, values, headers, zip tricks
$P - <<'PY'
import numpy as np, zipfile, io, struct, os
rng = np.random.default_rng(0)
g = (rng.random((64, 8, 8)) > 0.5).astype(np.float32)
np.save("big-endian.npy", g.astype(">f4"))
np.save("fortran.npy", np.asfortranarray(g))
np.save("float16.npy", g.astype(np.float16))
np.save("complex.npy", g.astype(np.complex64))
np.save("bool.npy", g.astype(bool))
np.save("uint16.npy", (g * 65535).astype(np.uint16))
np.save("int64-neg.npy", (g * -5).astype(np.int64))
np.save("nan.npy", np.where(g > 0, np.nan, 0).astype(np.float32))
np.save("inf.npy", np.where(g > 0, np.inf, 0).astype(np.float32))
np.save("out-of-range.npy", (g * 7 - 3).astype(np.float32))
np.save("empty.npy", np.zeros((0, 8, 8), np.float32))
np.save("one-d.npy", np.zeros((64,), np.float32))
np.save("five-d.npy", np.zeros((4, 2, 8, 8, 1), np.float32))
np.save("wide.npy", np.zeros((4, 1, 100000), np.float32))
np.save("scalar.npy", np.float32(1.0))
np.save("object.npy", np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
np.save("structured.npy", np.zeros(4, dtype=[("a", "<f4"), ("b", "<i4")]))
# header: claimed length past the file; not a dict; a dict without 'shape'; junk version
raw = open("big-endian.npy", "rb").read()
open("header-len.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 65535) + b"{'descr'")
open("header-list.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 54) + b"[1, 2, 3]".ljust(53) + b"\n")
open("header-noshape.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 54) + b"{'descr': '<f4', 'fortran_order': False}".ljust(53) + b"\n")
open("version-9.npy", "wb").write(b"\x93NUMPY\x09\x00" + raw[8:])
open("header-nested.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 20006) + (b"[" * 10000 + b"]" * 10000).ljust(20005) + b"\n")
# npz: bomb (one entry of 2 GiB of zeros, deflated), an entry whose zip header lies about its size,
# a non-array entry, an entry that is a directory, duplicated names, encrypted flag
with zipfile.ZipFile("bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
    with z.open("x_train.npy", "w", force_zip64=True) as f:
        hdr = io.BytesIO(); np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False, "shape": (700000, 28, 28)})
        f.write(hdr.getvalue()); chunk = bytes(1 << 24)
        for _ in range(700000 * 784 * 4 // len(chunk)): f.write(chunk)
with zipfile.ZipFile("dup.npz", "w") as z:
    for _ in range(2):
        b = io.BytesIO(); np.save(b, g); z.writestr("x_train.npy", b.getvalue())
with zipfile.ZipFile("notnpy.npz", "w") as z:
    z.writestr("x_train.npy", b"hello, this is not an array")
with zipfile.ZipFile("dir.npz", "w") as z:
    z.writestr("x_train.npy/", b"")
b = io.BytesIO(); np.save(b, g); payload = b.getvalue()
with zipfile.ZipFile("lying.npz", "w", zipfile.ZIP_STORED) as z:
    z.writestr("x_train.npy", payload)
d = bytearray(open("lying.npz", "rb").read())
# halve the local header's sizes (offsets 18 and 22): the entry claims fewer bytes than it holds
for off in (18, 22):
    n = struct.unpack_from("<I", d, off)[0]; struct.pack_into("<I", d, off, n // 2)
open("lying.npz", "wb").write(bytes(d))
PY
for f in big-endian fortran float16 complex bool uint16 int64-neg nan inf out-of-range empty one-d five-d wide scalar object structured header-len header-list header-noshape version-9 header-nested; do
  case_ npy-$f $B $T --data $f.npy --arch mlp --out r-$f
done
for f in bomb dup notnpy dir lying; do case_ npz-$f $B $T --data $f.npz --arch mlp --out r-$f; done

# --- image folders: special entries and odd images
$P - <<'PY'
import numpy as np, os
from PIL import Image
rng = np.random.default_rng(0)
def save(path, arr, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True); Image.fromarray(arr).save(path, **kw)
for i in range(8):
    save(f"imgs/a/{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    save(f"imgs/b/{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
os.makedirs("loop/a", exist_ok=True); os.symlink("..", "loop/a/up")
for i in range(4): save(f"loop/a/{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
os.makedirs("devzero/a", exist_ok=True); os.symlink("/dev/zero", "devzero/a/zero.png")
for i in range(4): save(f"devzero/a/{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
os.makedirs("emptyfile/a", exist_ok=True); open("emptyfile/a/0.png", "wb").close()
for i in range(1, 4): save(f"emptyfile/a/{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
for i in range(4): save(f"sixteen/a/{i}.png", rng.integers(0, 65536, (16, 16), dtype=np.uint16))
for i in range(4): save(f"mixed/a/{i}.png", rng.integers(0, 256, (16, 16) if i % 2 else (16, 16, 3), dtype=np.uint8))
for i in range(4): save(f"rgba/a/{i}.png", rng.integers(0, 256, (16, 16, 4), dtype=np.uint8))
for i in range(4): save(f"sizes/a/{i}.png", rng.integers(0, 256, (16 * (i + 1), 9 + i, 3), dtype=np.uint8))
save("thin/a/0.png", rng.integers(0, 256, (1, 60000), dtype=np.uint8))
for i in range(1, 4): save(f"thin/a/{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
for i in range(4): save(f"nested/a/deeper/{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
for i in range(4): save(f"newline/a/x\n{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
os.makedirs("outside/a", exist_ok=True); os.symlink(os.path.abspath("imgs/b"), "outside/b")
for i in range(4): save(f"outside/a/{i}.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
for i in range(4): save(f"gif/a/{i}.gif", rng.integers(0, 256, (16, 16), dtype=np.uint8))
for c in range(3000): save(f"classes/c{c}/0.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
# a PNG whose IHDR says 65535x65535 (4 GiB of pixels) but holds a few bytes
import zlib, struct
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 65535, 65535, 8, 0, 0, 0, 0)
os.makedirs("liar/a", exist_ok=True)
open("liar/a/0.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
for i in range(1, 4): save(f"liar/a/{i}.png", rng.integers(0, 256, (16, 16), dtype=np.uint8))
# many small PNGs whose pixels together are large (each 4096x4096 grey: 16 MiB decoded, ~50 KiB on disk)
for i in range(40): save(f"many/a/{i}.png", np.zeros((4096, 4096), np.uint8))
PY
mkfifo imgs/a/fifo.png
case_ img-fifo $B $T --data imgs --arch mlp --out r-fifo
case_ img-symlink-loop $B $T --data loop --arch mlp --out r-loop
case_ img-dev-zero $B $T --data devzero --arch mlp --out r-devzero
case_ img-empty-file $B $T --data emptyfile --arch mlp --out r-emptyfile
case_ img-16-bit $B $T --data sixteen --arch mlp --out r-sixteen
case_ img-grey-and-colour $B $T --data mixed --arch mlp --out r-mixed
case_ img-rgba $B $T --data rgba --arch mlp --out r-rgba
case_ img-sizes $B $T --data sizes --arch mlp --out r-sizes
case_ img-sizes-resized $B $T --data sizes --image-size 16 --arch mlp --out r-sizes16
case_ img-thin $B $T --data thin --image-size 16 --arch mlp --out r-thin
case_ img-nested $B $T --data nested --arch mlp --out r-nested
case_ img-newline-names $B $T --data newline --arch mlp --out r-newline
case_ img-class-symlink-outside $B $T --data outside --arch mlp --out r-outside
case_ img-gif $B $T --data gif --arch mlp --out r-gif
case_ img-3000-classes $B $T --data classes --arch mlp --conditional --out r-classes
case_ img-ihdr-liar $B $T --data liar --arch mlp --out r-liar
case_ img-many-large $B $T --data many --image-size 64 --arch mlp --out r-many
case_ img-many-large-limit $B $T --data many --image-size 64 --limit 4 --arch mlp --out r-many4

# --- CIFAR: empty, one record, trailing bytes, a symlink to /dev/zero
mkdir -p cifar-empty cifar-one cifar-tail cifar-zero
: > cifar-empty/data_batch_1.bin; : > cifar-empty/test_batch.bin
head -c 3073 /dev/urandom | $P -c "import sys; d=bytearray(sys.stdin.buffer.read()); d[0]=3; sys.stdout.buffer.write(d)" > cifar-one/data_batch_1.bin; cp cifar-one/data_batch_1.bin cifar-one/test_batch.bin
cat cifar-one/data_batch_1.bin cifar-one/data_batch_1.bin > cifar-tail/data_batch_1.bin; printf 'xyz' >> cifar-tail/data_batch_1.bin; cp cifar-one/test_batch.bin cifar-tail/
ln -s /dev/zero cifar-zero/data_batch_1.bin; cp cifar-one/test_batch.bin cifar-zero/
for d in empty one tail zero; do case_ cifar-$d $B $T --data cifar-$d --arch mlp --out r-cifar-$d; done

# --- flags: ranges and specials
G="--data big-endian.npy --arch mlp"
case_ flag-image-size-0 $B $T $G --image-size 0 --out f1
case_ flag-image-size-huge $B $T --data imgs --image-size 1000000 --arch mlp --out f2
case_ flag-mixtures-0 $B $T --data imgs --likelihood logistic-mixture --mixtures 0 --out f3
case_ flag-mixtures-huge $B $T --data imgs --likelihood logistic-mixture --mixtures 100000000 --out f4
case_ flag-k-huge $B $T $G --objective iwae --k 1000000000 --out f5
case_ flag-epochs-huge $B train --device cpu --epochs 18446744073709551615 $G --out f6
case_ flag-checkpoint-every-0 $B $T $G --checkpoint-every 0 --out f7
case_ flag-lr-nan $B $T $G --lr nan --out f8
case_ flag-beta-nan $B $T $G --beta nan --out f9
case_ flag-clip-inf $B $T $G --clip-grad inf --out f10
case_ flag-warmup-huge $B $T $G --kl-warmup 1e300 --out f11
case_ flag-seed-2-64 $B $T $G --seed 18446744073709551616 --out f12
case_ flag-out-empty $B $T $G --out ''
case_ flag-data-empty $B $T --data '' --out f13
case_ flag-depth-list-bad $B $T --data imgs --arch hierarchical --depth 1,,2 --out f14
case_ flag-hidden-list $B $T $G --hidden 400,-1 --out f15
case_ flag-out-dev-null $B $T $G --out /dev/null
case_ flag-out-is-data $B $T --data imgs --arch mlp --out imgs/a

mkfifo fifo.npy; case_ data-fifo-npy $B $T --data fifo.npy --out f16
case_ data-dev-zero $B $T --data /dev/zero --out f17
mkdir -p idx-fifo; mkfifo idx-fifo/train-images-idx3-ubyte; mkfifo idx-fifo/train-labels-idx1-ubyte
case_ idx-fifo $B $T --data idx-fifo --out f18
touch a-file; case_ flag-out-file $B $T $G --out a-file

# --- run files and the Python package
$B $T $G --out good > /dev/null 2>&1
cp -r good nested-config; $P -c "open('nested-config/config.json','w').write('['*100000 + ']'*100000)"
case_ run-config-nested $B eval --run nested-config
case_ py-config-nested $P -c "import sys; sys.path.insert(0, '$S'); import tch_vae; tch_vae.load_run('nested-config')"
cp -r good csv-one-line; $P -c "open('csv-one-line/metrics.csv','w').write('epoch,' + 'x' * 30_000_000)"
case_ run-plot-one-long-line $B plot --run csv-one-line
case_ py-metrics-one-long-line $P -c "import sys; sys.path.insert(0, '$S'); import tch_vae; print(len(tch_vae.read_metrics('csv-one-line')))"
cp -r good csv-nan; $P -c "
import csv; rows = list(csv.reader(open('csv-nan/metrics.csv'))); rows[1][1] = 'nan'; rows.append(['2'] + ['inf'] * (len(rows[0]) - 1))
csv.writer(open('csv-nan/metrics.csv', 'w')).writerows(rows)"
case_ run-plot-nan-inf $B plot --run csv-nan
case_ run-compare-self $B compare good good --output cmp.md
ln -s /dev/zero zero-run; case_ run-dev-zero-dir $B eval --run zero-run
mkdir -p weights-dev; cp good/config.json weights-dev/; ln -s /dev/zero weights-dev/weights.safetensors
case_ run-weights-dev-zero $B eval --run weights-dev
case_ py-weights-dev-zero $P -c "import sys; sys.path.insert(0, '$S'); import tch_vae; tch_vae.load_run('weights-dev')"
case_ py-export-onto-config $P -c "import sys; sys.path.insert(0, '$S'); import tch_vae; tch_vae.export_pt2('good', 'good/config.json')"
case_ py-export-onto-symlink $P -c "import os, sys; sys.path.insert(0, '$S'); import tch_vae; os.symlink('good/weights.safetensors', 'w-link.pt2'); tch_vae.export_pt2('good', 'w-link.pt2')"
case_ run-sample-onto-symlinked-weights $B sample --run good --output w-link.pt2
