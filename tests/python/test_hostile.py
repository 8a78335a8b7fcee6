"""The package keeps the binary's promises with hostile files, built here at run time: it
reads only regular files (a FIFO never hangs it), bounds what it reads, never builds a
model that its weights do not match, never replaces a run's own files, never unpickles
data, and ddp_train.py writes metrics.csv back by column name."""
import contextlib
import csv
import importlib.util
import json
import os
import re
import shutil
import signal

import numpy as np
import pytest
import torch

from conftest import REPO
from tch_vae import export_pt2, load_run, load_run_data, read_config, read_metrics
from tch_vae.files import RUN_FILES


def copy_run(run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def _hung(signum, frame):
    raise TimeoutError("the read waited on the FIFO")


@contextlib.contextmanager
def no_hang(seconds: int = 20):
    """A hang inside fails the test instead of stalling the suite."""
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("name", ["config.json", "weights.safetensors", "metrics.csv"])
def test_a_fifo_in_a_run_is_named_not_waited_on(tiny_run, tmp_path, name):
    run = copy_run(tiny_run, tmp_path)
    (run / name).unlink()
    os.mkfifo(run / name)  # no writer: a plain open would wait forever
    read = read_metrics if name == "metrics.csv" else load_run
    with no_hang(), pytest.raises(ValueError, match=rf"{name} is a FIFO \(named pipe\), not a regular file"):
        read(run)


def test_a_fifo_as_the_fitted_prior_is_named_not_waited_on(tiny_run, tmp_path):
    from tch_vae import load_fitted_prior
    run = copy_run(tiny_run, tmp_path)
    os.mkfifo(run / "fitted-prior.safetensors")
    with no_hang(), pytest.raises(ValueError, match=r"fitted-prior.safetensors is a FIFO \(named pipe\), not a regular file"):
        load_fitted_prior(run)


def test_a_config_past_its_bound_is_refused_before_it_is_read(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    with open(run / "config.json", "ab") as f:
        f.truncate(2 << 20)  # 2 MiB of zeros after the JSON: past the 1 MiB bound
    with pytest.raises(ValueError, match=r"config.json is 2 MiB, more than the 1 MiB a config.json may hold"):
        read_config(run)


@pytest.mark.parametrize("text, why", [
    ("[" * 100_000 + "]" * 100_000, "maximum recursion depth"),  # json's parser recurses
    ("[1, 2, 3]", "a JSON list, not an object"),
])
def test_a_config_that_is_not_an_object_is_a_value_error_naming_it(tiny_run, tmp_path, text, why):
    # Before: a RecursionError from json, naming no file.
    run = copy_run(tiny_run, tmp_path)
    (run / "config.json").write_text(text)
    with pytest.raises(ValueError, match=rf"config.json is not a valid tch-vae config: .*{why}"):
        load_run(run)


def test_a_run_folder_that_is_not_a_folder_is_named(tmp_path):
    link = tmp_path / "run"
    link.symlink_to("/dev/null")
    with pytest.raises(ValueError, match=r"run is a character device, not a run folder"):
        load_run(link)


@pytest.mark.parametrize("text, why", [
    ("epoch,train_loss\n1," + "9" * 200_000 + "\n", "field larger than field limit"),
    ("epoch,train_loss\n1,2,3\n", "row 1 has another number of fields than the header"),
    ("epoch,train_loss\n1,abc\n", "could not convert string to float"),
])
def test_a_damaged_metrics_file_is_a_value_error_naming_it(tiny_run, tmp_path, text, why):
    run = copy_run(tiny_run, tmp_path)
    (run / "metrics.csv").write_text(text)
    with pytest.raises(ValueError, match=rf"metrics.csv is not a tch-vae metrics file: .*{why}"):
        read_metrics(run)


def test_a_config_that_names_another_model_is_refused_before_it_is_built(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["model"]["latent"] = 10**9  # 2e9 values of weights: never allocated
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"describes a model of \d+ parameters but .*weights.safetensors holds"):
        load_run(run)


@pytest.mark.parametrize("edit", [{"width": 10**12}, {"depth": [0]}, {"latent": -3}, {"depth": "x"}])
def test_a_hierarchical_config_out_of_range_is_named_not_sized(tiny_hierarchical_run, tmp_path, edit):
    # Before: a width of 10^12 reached PyTorch's storage arithmetic ("overflowed").
    run = tmp_path / "run"
    shutil.copytree(tiny_hierarchical_run, run)
    config = json.loads((run / "config.json").read_text())
    config["model"].update(edit)
    (run / "config.json").write_text(json.dumps(config))
    name = next(iter(edit))
    with pytest.raises(ValueError, match=rf"config.json describes no model .*--{name} must be"):
        load_run(run)


@pytest.mark.parametrize("name", ["weights.safetensors", "metrics.csv", "vae.pt"])
def test_export_pt2_never_replaces_a_run_file(tiny_run, tmp_path, name):
    run = copy_run(tiny_run, tmp_path)
    before = (run / name).read_bytes()
    with pytest.raises(ValueError, match=rf"that is the run's own {re.escape(name)}"):
        export_pt2(run, run / name)
    assert (run / name).read_bytes() == before


def test_the_package_knows_every_run_file_the_binary_knows():
    # The oracle: the names in src/run/files.rs's FILES list, read from the source.
    source = (REPO / "src" / "run" / "files.rs").read_text()
    consts = dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', source))
    listed = re.search(r"pub const FILES: \[&str; \d+\] = \[(.*?)\];", source, re.S).group(1)
    names = [consts[c.strip()] for c in listed.split(",") if c.strip()]
    assert sorted(names) == sorted(RUN_FILES)


def test_a_pickled_npz_is_refused_by_name(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, x_train=np.array([{"a": 1}] * 4, dtype=object))
    config = {"train": {"data": str(path), "seed": 1, "test_fraction": 0.25, "limit": None},
              "data": {"source": "numpy"}}
    with pytest.raises(ValueError, match=r"pickled.npz: an array of Python objects \(a pickle\)"):
        load_run_data(config, "train")


def test_an_npz_entry_whose_header_declares_more_than_it_holds_is_refused(tmp_path):
    """A zip entry of 200 bytes whose .npy header declares 100,000 28x28 images (78 MB):
    the binary names the array and refuses it before allocating anything."""
    import subprocess
    import zipfile

    from conftest import BINARY

    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 28, 28), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(128)
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x_train.npy", npy)
    out = subprocess.run([str(BINARY), "train", "--data", str(path), "--out", str(tmp_path / "run"),
                          "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert "liar.npz: x_train: its header declares shape [100000, 28, 28]" in out.stderr, out.stderr
    assert "holds only" in out.stderr and not (tmp_path / "run").exists()


def _idx(values: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, written by hand (big-endian dimensions)."""
    header = bytes([0, 0, 8, values.ndim]) + b"".join(d.to_bytes(4, "big") for d in values.shape)
    return header + values.astype(np.uint8).tobytes()


def _idx_folder(folder, images: bytes, gz: bool = True):
    """An MNIST-format folder of 6 images of 2x3 and their labels; `images` replaces the
    training images' file (gzipped when `gz`)."""
    import gzip

    folder.mkdir()
    x = np.arange(36, dtype=np.uint8).reshape(6, 2, 3)
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(np.arange(6) % 3))
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x)))
    (folder / "train-images-idx3-ubyte.gz").unlink()
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    (folder / name).write_bytes(gzip.compress(images) if gz else images)
    return {"train": {"data": str(folder), "seed": 1, "limit": None}, "data": {"source": "idx"}}


def test_a_damaged_idx_file_is_a_value_error_naming_it(tmp_path, monkeypatch):
    """The package's IDX reader checks what src/data/idx.rs checks: the magic, the value
    type, the header's length and that the declared dimensions match the bytes; a gzip
    stream that is cut short or decompresses past the bound is refused by name."""
    import gzip

    import tch_vae.data

    x = np.arange(36, dtype=np.uint8).reshape(6, 2, 3)
    # Two gzip members (`cat a.gz b.gz`) read whole, as the binary reads them.
    config = _idx_folder(tmp_path / "ok", b"")
    raw = _idx(x)
    (tmp_path / "ok" / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(raw[:20]) + gzip.compress(raw[20:]))
    got, _ = load_run_data(config, "train")
    torch.testing.assert_close(got, torch.from_numpy(x.reshape(6, 6).astype(np.float32) / 255.0))
    liar = bytearray(_idx(x))
    liar[4:8] = (1000).to_bytes(4, "big")  # 1,000 images declared, 6 present
    cases = [
        (bytes(liar), True, r"header declares dimensions \[1000, 2, 3\] \(6000 values\) but the "
                        r"file holds 36 value bytes"),
        (b"\x01\x02" + _idx(x)[2:], False, "not an IDX file: magic number starts with 0x01 0x02"),
        (_idx(x)[:2] + b"\x0d" + _idx(x)[3:], True, "unsupported IDX value type 0x0d"),
        (_idx(x)[:9], True, "3 dimensions need a 16-byte header; the file has 9 bytes"),
        (b"\0\0", False, "2 bytes long, shorter than the 4-byte IDX header"),
    ]
    for i, (images, gz, why) in enumerate(cases):
        config = _idx_folder(tmp_path / f"case{i}", images, gz)
        with pytest.raises(ValueError, match=r"train-images-idx3-ubyte(\.gz)?: invalid IDX file: " + why):
            load_run_data(config, "train")
    # Cut short: the gzip stream ends before its end.
    config = _idx_folder(tmp_path / "cut", b"")
    path = tmp_path / "cut" / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx(x))[:-12])
    with pytest.raises(ValueError, match=r"cut/train-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        load_run_data(config, "train")
    # Past the bound (lowered here to 1 MiB; 1 GiB in use): 2 MiB of zeros in 2 KiB.
    monkeypatch.setattr(tch_vae.data, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    config = _idx_folder(tmp_path / "bomb", b"")
    path = tmp_path / "bomb" / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(2 << 20)))
    assert path.stat().st_size < 4096
    with pytest.raises(ValueError, match=r"bomb/train-images-idx3-ubyte.gz: decompresses to more "
                                         r"than 1048576 bytes"):
        load_run_data(config, "train")


def _garbled_npy_header(path):
    np.save(path, np.zeros((4, 2, 2), np.uint8))
    raw = bytearray(path.read_bytes())
    raw[12:16] = b"\xff\xff\xff\xff"  # inside the header's dictionary
    path.write_bytes(bytes(raw))


def _bad_crc_npz(path):
    np.savez(path, x_train=np.arange(64, dtype=np.uint8).reshape(4, 4, 4))
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF  # inside x_train's stored bytes
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("name, make, why", [
    ("noise.npz", lambda p: p.write_bytes(bytes(range(256)) * 4), r"not a NumPy file \(it begins with neither"),
    ("zipped.npz", lambda p: p.write_bytes(b"PK\x03\x04" + bytes(range(256))), r"not a readable NumPy file \(BadZipFile"),
    ("crc.npz", _bad_crc_npz, r"not a readable NumPy file \(BadZipFile: Bad CRC-32"),
    ("header.npy", _garbled_npy_header, "not a readable NumPy file"),
    ("cut.npy", lambda p: (np.save(p, np.zeros((40, 8, 8), np.uint8)), p.write_bytes(p.read_bytes()[:900])),
     "not a readable NumPy file"),
    ("empty.npz", lambda p: np.savez(p, images=np.zeros((4, 2, 2), np.uint8)), r"no x_train array \(it holds \['images'\]\)"),
])
def test_a_damaged_numpy_file_is_a_value_error_naming_it(tmp_path, name, make, why):
    """zipfile's, zlib's and NumPy's own errors (found by a mutation fuzz: they named no
    file) come out as a ValueError that names the file."""
    path = tmp_path / name
    make(path)
    config = {"train": {"data": str(path), "seed": 1, "test_fraction": 0.25, "limit": None},
              "data": {"source": "numpy"}}
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": " + why):
        load_run_data(config, "train")


def test_a_cifar_file_of_part_of_a_record_is_named(tmp_path):
    folder = tmp_path / "cifar"
    folder.mkdir()
    record = bytes([3]) + bytes(range(256)) * 12  # a label and 3,072 pixel bytes
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (folder / name).write_bytes(record * 2)
    config = {"train": {"data": str(folder), "seed": 1, "limit": None}, "data": {"source": "cifar"}}
    x, y = load_run_data(config, "train")
    assert x.shape == (10, 3072) and y.tolist() == [3] * 10
    assert x[0, :256].mul(255).round().int().tolist() == list(range(256))
    (folder / "data_batch_3.bin").write_bytes(record * 2 + record[:100])
    with pytest.raises(ValueError, match=r"data_batch_3.bin: 6246 bytes, not a whole number of "
                                         r"CIFAR records of 3073 bytes"):
        load_run_data(config, "train")


def test_ddp_write_back_keeps_each_value_in_its_column(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    rows = list(csv.DictReader((run / "metrics.csv").read_text().splitlines()))
    columns = list(rows[0])
    # tch-vae reads any column order; write the file with its columns reversed.
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns[::-1])
        w.writeheader()
        w.writerows(rows)
    spec = importlib.util.spec_from_file_location("ddp_train", REPO / "scripts" / "ddp_train.py")
    ddp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ddp)
    history = read_metrics(run)
    ddp.write_back(run, load_run(run), history, [])
    after = read_metrics(run)
    assert list(after[0]) == columns
    for column in columns:
        assert after[column] == [float(r[column]) for r in rows], column
    assert torch.equal(load_run(run).fc_mu.weight, load_run(tiny_run).fc_mu.weight)
