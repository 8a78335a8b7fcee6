#!/usr/bin/env bash
# One-time (and idempotent) set-up of everything tch-vae needs on a Debian machine:
#   1. Debian's Fashion-MNIST (the default dataset) in /usr/share/datasets/fashion-mnist;
#   2. a Python virtual environment with torch==2.11.0 (it carries libtorch for the Rust
#      crate) and the analysis/test packages, kept OUTSIDE the clone so that fresh clones
#      (CI) reuse it: $TCH_VAE_CACHE/venv, default ~/.cache/tch-vae/venv; and a second one
#      with the newest torch on PyPI ($TCH_VAE_CACHE/venv-next) for the package's tests;
#   3. .cargo/config.toml (git-ignored), which points tch's build at that libtorch, so that
#      plain `cargo run --release -- train` works with no variable to export;
#   4. a release build of the binary.
# Each step is skipped when its result is already there.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$repo/scripts/env.sh"
cache="$TCH_VAE_CACHE"
venv="$TCH_VAE_VENV"
req="$repo/scripts/requirements.txt"
say() { printf '[setup] %s\n' "$*"; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

command -v cargo >/dev/null || { echo "[setup] cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }

apt_missing=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || apt_missing+=(dataset-fashion-mnist)
command -v g++ >/dev/null || apt_missing+=(g++)
# tikv-jemalloc-sys (the binary's allocator) builds jemalloc with its configure script and make.
command -v make >/dev/null || apt_missing+=(make)
# The tboard crate (TensorBoard event files) compiles its protobuf schema with protoc.
command -v protoc >/dev/null || apt_missing+=(protobuf-compiler)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

# A virtual environment `$1` with the requirements file `$2`. The stamp records the file
# the environment was built from; a change reinstalls.
python_env() {
  local env=$1 file=$2
  local stamp="$env/.tch-vae-requirements"
  if [ ! -x "$env/bin/python" ] || ! cmp -s "$file" "$stamp"; then
    say "building the Python environment in $env from $(basename "$file") (torch is ~4.7 GB; about a minute)"
    mkdir -p "$cache"
    [ -x "$env/bin/python" ] || python3 -m venv "$env"
    "$env/bin/python" -m pip install -q --upgrade pip
    "$env/bin/python" -m pip install -q -r "$file"
    cp "$file" "$stamp"
  else
    say "Python environment up to date: $env"
  fi
}
python_env "$venv" "$req"
# The newest torch on PyPI, for the package's tests ahead of PyTorch's releases.
python_env "$TCH_VAE_VENV_NEXT" "$repo/scripts/requirements-next.txt"

# Ask torch where its headers and libraries are and which C++ ABI it was built with.
read -r torch_dir cxx11 < <("$venv/bin/python" -c '
import os, torch
assert torch.__version__.split("+")[0] == "2.11.0", torch.__version__
print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI))')

mkdir -p "$repo/.cargo"
config="$repo/.cargo/config.toml"
new_config="# Written by scripts/setup.sh; machine-specific, git-ignored.
[env]
LIBTORCH = \"$torch_dir\"
LIBTORCH_CXX11_ABI = \"$cxx11\"
"
if [ ! -f "$config" ] || [ "$(cat "$config")" != "$(printf '%s' "$new_config")" ]; then
  printf '%s' "$new_config" > "$config"
  say "wrote $config (libtorch: $torch_dir)"
fi

say "building tch-vae (release; the first build compiles libtorch glue, 2-3 minutes)"
(cd "$repo" && cargo build --release --quiet)
say "ready: cargo run --release -- train --help"
