"""Entry point of the training child process: `python -m tuner.child JOB.json`.

Progress goes to the parent as JSON lines on the original stdout; everything libraries print goes
to stderr (the run's log file). A crash or OOM here ends this process only, never the bot.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tuner.child JOB.json", file=sys.stderr)
        return 2
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # libraries that print to stdout land in the log, not in the protocol
    sys.stdout = sys.stderr

    def emit(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")

    _die_with_parent()
    from tuner.training import TrainingJob, train_and_evaluate

    emit({"event": "started", "pid": os.getpid()})
    try:
        train_and_evaluate(TrainingJob.load(Path(argv[0])), emit)
    except Exception as exc:
        traceback.print_exc()
        emit({"event": "error", "error": describe_error(exc)})
        return 1
    emit({"event": "done"})
    return 0


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return f"out of memory ({text}); lower training.batch_size or training.max_length in the policy"
    return text


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this process when the bot that started it dies, so a
    SIGKILLed bot leaves no trainer behind (the next start marks the run failed)."""
    parent = os.environ.get("TUNEBOT_PARENT_PID")
    if sys.platform != "linux" or not parent:
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
