"""The CLI's progress output: bars on a terminal, lines where output is logged."""

from __future__ import annotations

import pytest

from bot.progress import CliProgress


def test_a_training_that_starts_over_gets_a_new_bar(capsys: pytest.CaptureFixture[str]) -> None:
    out = CliProgress("bar")
    for step in (1, 2, 3):
        out.advance("training", step, 5, loss="9.9")
    out.say("  training loss became nan at step 3: training again at learning rate 0.001")
    for step in (1, 2, 3, 4, 5):
        out.advance("training", step, 5, loss="1.0")
    printed = capsys.readouterr()
    assert "training again at learning rate 0.001" in printed.out
    # The first attempt's bar is closed at 3/5; a second bar starts at 0/5 and runs to 5/5.
    first, second = printed.err.rsplit("| 0/5", 1)
    assert "| 0/5" in first and "3/5" in first and "5/5" not in first
    assert "5/5" in second


def test_lines_mode_prints_only_the_lines_given(capsys: pytest.CaptureFixture[str]) -> None:
    out = CliProgress("lines")
    out.advance("training", 1, 2, "  step 1/2  loss 3.0000")
    out.advance("#general", 1, 2)
    assert capsys.readouterr().out == "  step 1/2  loss 3.0000\n"
