"""Log configuration: to stderr and to a file in the data dir. Message text is never logged."""

from __future__ import annotations

import json
import logging
import warnings
from datetime import UTC, datetime
from pathlib import Path


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Libraries' import-time notices an operator can do nothing about: torchao (FP8 weights; imported by
# transformers wherever it is installed) says its C++ kernels, which tunebot does not use, do not
# load against other torch builds, and torch's pytree that torchao registers types the old way.
QUIET_LIBRARIES = ("torchao", "torch.utils._pytree")


def quiet_libraries() -> None:
    """Errors only from QUIET_LIBRARIES (call before they are imported)."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)


def configure_logging(level: str, data_dir: Path, fmt: str = "text") -> Path:
    """Log to stderr (warnings and up) and to data_dir/logs/tunebot.log, as text or JSON lines."""
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "tunebot.log"
    formatter = (
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_tunebot", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)  # the CLI prints its own progress; the file gets everything
    for handler in (console, logging.FileHandler(log_file, encoding="utf-8")):
        handler.setFormatter(formatter)
        handler._tunebot = True  # type: ignore[union-attr]
        root.addHandler(handler)
    # Slack SDK debug logs contain whole payloads (raw text): keep them out at any level.
    for noisy in ("slack_bolt", "slack_sdk", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Presidio warns about every non-English recognizer it skips, at each start.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # bitsandbytes warns on every load that an optional CPU kernel package is absent; it works without.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # Libraries' deprecation notices about each other are not the operator's to act on.
    warnings.filterwarnings("ignore", category=FutureWarning)
    return log_file
