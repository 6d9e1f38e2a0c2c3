"""The tunebot command stays offline: importing the model libraries makes no network lookup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every host name lookup is recorded (and refused), then the libraries the bot serves and trains
# with are imported, after the CLI's group has run (or not: the control).
SPY = """
import json, socket, sys
looked_up = []
def refuse(host, *args, **kwargs):
    looked_up.append(str(host))
    raise OSError("no network in this test")
socket.getaddrinfo = refuse
if sys.argv[1] == "cli":
    from bot.cli import main
    main(["scrub", "--help"], standalone_mode=False)
import bitsandbytes, peft, transformers
print(json.dumps(looked_up))
"""


def _lookups(mode: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    out = subprocess.run(
        [sys.executable, "-c", SPY, mode], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_cli_imports_the_model_libraries_without_a_lookup() -> None:
    if not _lookups("bare"):
        pytest.skip("on this CPU the libraries look nothing up even online (bitsandbytes' hub kernels)")
    assert _lookups("cli") == []
