#!/usr/bin/env bash
# Executes notebooks-export/analysis.ipynb against a run folder and writes its export,
# notebooks-export/analysis.md with its figures in notebooks-export/analysis_files/.
#   bash scripts/export_notebook.sh models/<run>
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$repo/scripts/env.sh"
run="${1:?usage: scripts/export_notebook.sh RUN_FOLDER}"
[ -f "$run/weights.safetensors" ] || { echo "export_notebook: $run/weights.safetensors not found (train a run first)" >&2; exit 1; }
run="$(cd "$run" && pwd)"
rm -rf "$repo/notebooks-export/analysis_files"
TCH_VAE_RUN="$run" TCH_VAE_REPO="$repo" "$TCH_VAE_PYTHON" -m nbconvert \
  --to markdown --execute --ExecutePreprocessor.timeout=600 \
  --output analysis --output-dir "$repo/notebooks-export" "$repo/notebooks-export/analysis.ipynb"
