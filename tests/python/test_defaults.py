"""The PyTorch reference trains with tch-vae's defaults: the defaults `tch-vae train --help`
states (read from src/config/defaults.rs by clap) are those of the package's reference trainer (tch_vae.reference)."""
import re
import subprocess

from conftest import BINARY
from tch_vae.reference import DEFAULTS


def test_reference_defaults_are_the_binarys():
    help_text = subprocess.run([str(BINARY), "train", "--help"], check=True, capture_output=True,
                               text=True).stdout
    # One block per flag: from its "--flag <VALUE>" line to the next flag's.
    blocks = re.split(r"\n(?=\s+--[a-z])", help_text)
    stated = {}
    for block in blocks:
        flag = re.match(r"\s+--([a-z-]+) <[A-Z_]+>", block)
        default = re.search(r"\[default: ([^\]]+)\]", block)
        if flag and default:
            # "20; 8 with --arch hierarchical": the first is the reference's (an MLP's).
            stated[flag.group(1)] = default.group(1).split(";")[0].strip()
    for name, value in DEFAULTS.items():
        flag = name.replace("_", "-")
        assert flag in stated, f"--{flag} states no default in: {help_text}"
        if isinstance(value, str):
            assert stated[flag] == value, flag
        else:
            assert float(stated[flag]) == float(value), (flag, stated[flag], value)
