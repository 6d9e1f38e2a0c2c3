"""Logs as JSON lines when asked (for log shippers), one object per line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from bot.logging_setup import configure_logging


def test_json_log_lines(tmp_path: Path) -> None:
    log_file = configure_logging("INFO", tmp_path, "json")
    try:
        log = logging.getLogger("tunebot.test")
        log.info("answered in %s with %s", "C0GENERAL", "v2")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("cycle failed")
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_tunebot", False):
                logging.getLogger().removeHandler(handler)
                handler.close()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    ours = [entry for entry in lines if entry["logger"] == "tunebot.test"]
    assert [e["message"] for e in ours] == ["answered in C0GENERAL with v2", "cycle failed"]
    assert ours[0]["level"] == "INFO" and ours[0]["time"].endswith("+00:00")
    assert "ValueError: boom" in ours[1]["exception"] and "exception" not in ours[0]
