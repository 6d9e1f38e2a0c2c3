"""Progress for long CLI work: a tqdm bar on a terminal, plain lines where output is logged."""

from __future__ import annotations

import sys
from typing import Any

import click

MODES = ("auto", "bar", "lines")


def progress_option(bar: str, lines: str) -> Any:
    """The `--progress` option of a long command."""
    return click.option(
        "--progress",
        type=click.Choice(MODES),
        default="auto",
        show_default=True,
        help=f"bar: {bar}; lines: {lines}; auto: a bar on a terminal.",
    )


class CliProgress:
    """`say` prints a message; `advance` moves the bar named `label` to done/total (a new label or
    total starts a new bar). In lines mode each advance is a line only when `line` is given."""

    def __init__(self, mode: str = "auto"):
        self.bars = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
        self._bar: Any = None
        self._key: tuple[str, int] | None = None

    def say(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            click.echo(text)

    def advance(self, label: str, done: int, total: int, line: str | None = None, **postfix: Any) -> None:
        if not self.bars:
            if line is not None:
                click.echo(line)
            return
        from tqdm import tqdm

        if self._key != (label, total) or done < self._bar.n:  # a new bar, or training started over
            self.close()
            self._bar = tqdm(total=total, desc=label, unit="step" if label == "training" else "thread")
            self._key = (label, total)
        self._bar.update(done - self._bar.n)
        if postfix:
            self._bar.set_postfix(postfix, refresh=False)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar, self._key = None, None
