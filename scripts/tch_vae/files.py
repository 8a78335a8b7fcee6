"""Files the package reads and writes, with the binary's promises (src/native/files.rs,
src/run/files.rs): a data or run file is read only when it is a regular file (opened
without blocking and checked on the open handle, so a FIFO never hangs a read), never
more bytes than a bound, and no write replaces one of a run folder's own files."""
from __future__ import annotations

import os
import stat
from pathlib import Path

#: Every file a run folder may hold (src/run/files.rs's FILES).
RUN_FILES = (
    "config.json", "weights.safetensors", "checkpoint.safetensors", "metrics.csv",
    "threads.csv", "loss.svg", "vae.pt", "eval.json", "samples.png", "reconstructions.png",
    "latent.svg", "interpolation.png", "manifold.png", "fitted-prior.safetensors",
    "fitted-prior.json", "samples-fitted.png", ".tch-vae.lock",
)
#: TensorBoard's event files, also the run's own.
EVENTS_PREFIX = "events.out.tfevents."

_KINDS = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
)


def available_memory() -> int | None:
    """What Linux reports available now, in bytes (None where it cannot be told)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def check_folder(run_dir: str | os.PathLike) -> None:
    """Refuses a run folder that exists but is not a folder, saying what it is (a missing one
    is left to the reader's own message), as the binary does."""
    try:
        mode = os.stat(run_dir).st_mode
    except OSError:
        return
    if not stat.S_ISDIR(mode):
        kind = "a regular file" if stat.S_ISREG(mode) else _kind(mode)
        raise ValueError(f"{run_dir} is {kind}, not a run folder (a folder made by `tch-vae train`)")


def read_regular(path: str | os.PathLike, limit: int | None = None, what: str = "") -> bytes:
    """The bytes of `path`, if it is a regular file of at most `limit` bytes (default: the
    memory available); otherwise an OSError or ValueError that names the file and says
    what it is."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            raise ValueError(f"{path} is {_kind(mode.st_mode)}, not a regular file: tch-vae reads data and run "
                             "files only from regular files; put the file itself there")
        bound = limit if limit is not None else available_memory()
        if bound is not None and mode.st_size > bound:
            raise ValueError(f"{path} is {mode.st_size >> 20} MiB, more than the {bound >> 20} MiB "
                             f"{what or 'that can be read'}")
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            return f.read()
    finally:
        if fd >= 0:
            os.close(fd)


def check_output(run_dir: str | os.PathLike, output: str | os.PathLike) -> None:
    """Refuses an output file that would replace one of the run folder's own files (links
    followed, as the write would follow them)."""
    dest = Path(output).resolve()
    if dest.parent == Path(run_dir).resolve() and (
            dest.name in RUN_FILES or dest.name.startswith(EVENTS_PREFIX)):
        raise ValueError(f"{output}: that is the run's own {dest.name}, which is never replaced; "
                         "choose another file")
