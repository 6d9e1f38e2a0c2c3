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

    from tuner.training import TrainingJob, train_and_evaluate

    emit({"event": "started", "pid": os.getpid()})
    try:
        train_and_evaluate(TrainingJob.load(Path(argv[0])), emit)
    except Exception as exc:
        traceback.print_exc()
        emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit({"event": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
