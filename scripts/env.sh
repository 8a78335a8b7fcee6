# Sourced by the scripts: where tch-vae keeps its Python environment (outside the clone,
# so that fresh clones and CI runs reuse it). Override with TCH_VAE_CACHE.
TCH_VAE_CACHE="${TCH_VAE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tch-vae}"
TCH_VAE_VENV="$TCH_VAE_CACHE/venv"
TCH_VAE_PYTHON="$TCH_VAE_VENV/bin/python"
# The newest torch on PyPI (scripts/requirements-next.txt), for the package's tests.
TCH_VAE_VENV_NEXT="$TCH_VAE_CACHE/venv-next"
TCH_VAE_PYTHON_NEXT="$TCH_VAE_VENV_NEXT/bin/python"
