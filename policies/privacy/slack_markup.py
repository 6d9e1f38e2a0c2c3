"""Turn Slack's message markup into the plain text a person sees, so recognizers see it too.

User mentions (`<@U123|name>`) are kept whole: the SLACK_USER recognizer replaces them entirely, so
a display name inside one can never survive half-scrubbed.
"""

from __future__ import annotations

import html

import regex

_ANGLE = regex.compile(r"<([^<>\n]+)>")


def _render(match: regex.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # user mention: left for the SLACK_USER recognizer
        return match.group(0)
    if target.startswith("#"):  # channel reference
        return f"#{label}" if label else target
    if target.startswith("!"):  # <!here>, <!subteam^S1|@team>, <!date^...|fallback>
        if label:
            return label
        return "@" + target[1:].split("^", 1)[0]
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    if not label or label in target:
        return target
    return f"{label} ({target})"


def render_slack_markup(text: str) -> str:
    """Plain text for Slack mrkdwn: links and channels resolved, entities unescaped."""
    return html.unescape(_ANGLE.sub(_render, text))
