"""Model output (Markdown) as Slack shows it: mrkdwn, in pieces Slack accepts.

Models answer in Markdown (`**bold**`, `[label](url)`, `# headings`, `- lists`, fenced code);
Slack's mrkdwn spells these differently (`*bold*`, `<url|label>`) and wants `&`, `<`, `>` escaped
(unescaped, a model's `<!channel>` would notify a whole channel).
A section block holds at most 3,000 characters and a message at most 50 blocks, so a long answer
is split into sections at line breaks (a code block cut in two is closed and reopened) and, past
`MAX_SECTIONS`, cut with a note: Slack never refuses it (`invalid_blocks`, `msg_too_long`).
"""

from __future__ import annotations

import re

SECTION_CHARS = 3000  # Slack's limit for a section block's text
MAX_SECTIONS = 12  # 36,000 characters: under the 40,000 Slack keeps of a message's text
TEXT_CHARS = 3000  # the notification / fallback `text` beside the blocks
CUT_NOTE = "_(cut here: the answer is longer than one Slack message holds)_"

_FENCE = re.compile(r"```")
_CODE = re.compile(r"(```[\s\S]*?```|`[^`\n]+`)")


def to_mrkdwn(markdown: str) -> str:
    """Markdown to Slack mrkdwn; code (fenced or inline) is kept as it is, only escaped."""
    parts = _CODE.split(markdown)
    return "".join(_escape(part) if i % 2 else _prose(part) for i, part in enumerate(parts))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _prose(text: str) -> str:
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:  # escaped apart: its <url|label> must stay markup
        links.append(f"<{match.group(2)}|{_escape(match.group(1))}>")
        return f"\x00{len(links) - 1}\x00"

    text = re.sub(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)", keep_link, text)
    text = _escape(text)
    text = re.sub(r"(?m)^(\s*)[-*+]\s+", r"\1• ", text)  # bullets
    text = re.sub(r"(?<![*\w])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![*\w])", r"_\1_", text)  # *italic*
    text = re.sub(r"\*\*(?!\s)(.+?)(?<!\s)\*\*|__(?!\s)(.+?)(?<!\s)__", lambda m: f"*{m[1] or m[2]}*", text)
    text = re.sub(r"~~(?!\s)(.+?)(?<!\s)~~", r"~\1~", text)
    text = re.sub(r"(?m)^#{1,6}\s+(.+?)\s*#*\s*$", r"*\1*", text)  # headings: bold lines
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m[1])], text)


def sections(mrkdwn: str) -> list[str]:
    """The text cut into pieces of at most SECTION_CHARS at line breaks (inside a long line, at
    the limit), at most MAX_SECTIONS of them, the last then ending with CUT_NOTE. A piece that
    ends inside a code block closes it, and the next reopens it."""
    pieces: list[str] = []
    rest = mrkdwn
    budget = SECTION_CHARS - 8  # room to close and reopen a code block
    while rest:
        if len(rest) <= SECTION_CHARS:
            pieces.append(rest)
            break
        cut = rest.rfind("\n", 0, budget)
        cut = cut + 1 if cut > budget // 2 else budget
        piece, rest = rest[:cut], rest[cut:]
        if len(_FENCE.findall(piece)) % 2:  # a code block goes on into the next piece
            piece, rest = piece.rstrip("\n") + "\n```", "```\n" + rest
        pieces.append(piece)
    if len(pieces) > MAX_SECTIONS:
        last = pieces[MAX_SECTIONS - 1][: SECTION_CHARS - len(CUT_NOTE) - 2]
        pieces = [*pieces[: MAX_SECTIONS - 1], f"{last}\n{CUT_NOTE}"]
    return pieces


def fallback_text(text: str) -> str:
    """The message's `text` (notifications, clients without blocks, the answer while it streams):
    escaped, as Slack reads it as mrkdwn too (a model's `<!channel>` must not notify anyone), and
    its start only, if long."""
    text = _escape(text)
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"
