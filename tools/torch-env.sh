#!/usr/bin/env bash
# Prints the path of a Python that has the packages of tools/requirements-torch.txt
# (PyTorch, numpy, safetensors), making a virtual environment for them on first
# use (a few minutes and about 5 GB of disk). INGOT_TORCH_VENV picks its folder.
#
#   PY=$(tools/torch-env.sh) && "$PY" crates/ingot-core/tests/reference/gen_reference.py
set -euo pipefail
requirements="$(cd "$(dirname "$0")" && pwd)/requirements-torch.txt"
venv="${INGOT_TORCH_VENV:-$HOME/.cache/ingot-torch-venv}"
if ! "$venv/bin/python" -c 'import torch, numpy, safetensors' >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q -r "$requirements" >&2
fi
echo "$venv/bin/python"
