"""Compiled code is kept in the data dir (tuner/compile_cache.py), so a restarted bot reuses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuner.compile_cache import ENV, keep_compiled_code

REPO = Path(__file__).resolve().parents[2]


def test_a_cli_process_compiles_into_the_data_dir(tmp_path: Path) -> None:
    """The CLI points torch's cache at the data dir before anything compiles: what torch compiles
    afterwards in that process (the bot's decoding step, on a GPU) lands there."""
    script = (
        "import os, torch\n"
        "from bot.cli import main\n"
        "main(['status', '--json'], standalone_mode=False)\n"
        "torch.compile(lambda x: (x * 2).sin())(torch.ones(4))\n"
        f"print(os.environ['{ENV}'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["TUNEBOT_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cache = tmp_path / "data" / "compile-cache"
    assert result.stdout.splitlines()[-1] == str(cache)
    assert any(path.is_file() for path in cache.rglob("*")), sorted(cache.rglob("*"))


def test_the_operators_choice_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "elsewhere"))
    assert keep_compiled_code(tmp_path / "data") == str(tmp_path / "elsewhere")
    monkeypatch.delenv(ENV)
    assert keep_compiled_code(tmp_path / "data") == str((tmp_path / "data" / "compile-cache").resolve())
