"""A small example Slack export about a fictional company, for the offline demo and the tests."""

from pathlib import Path

EXPORT = Path(__file__).parent / "slack_export"
