"""Model Markdown as Slack mrkdwn, in pieces Slack accepts."""

from __future__ import annotations

from bot.slack_format import CUT_NOTE, MAX_SECTIONS, SECTION_CHARS, fallback_text, sections, to_mrkdwn


def test_markdown_becomes_mrkdwn_and_code_stays_as_written() -> None:
    markdown = (
        "## Deploying billing\n"
        "Use **kubectl** and *never* ~~ssh~~; see [the runbook](https://wiki.example.com/run?a=1&b=2).\n"
        "- step one: `make deploy ENV=<env> && echo ok`\n"
        "* step two: check p99 < 450ms\n"
        "```\nif a < b and c > d:\n    print('**not bold**')\n```"
    )
    assert to_mrkdwn(markdown) == (
        "*Deploying billing*\n"
        "Use *kubectl* and _never_ ~ssh~; see <https://wiki.example.com/run?a=1&b=2|the runbook>.\n"
        "• step one: `make deploy ENV=&lt;env&gt; &amp;&amp; echo ok`\n"
        "• step two: check p99 &lt; 450ms\n"
        "```\nif a &lt; b and c &gt; d:\n    print('**not bold**')\n```"
    )
    assert to_mrkdwn("plain words, 3 * 4 = 12") == "plain words, 3 * 4 = 12"
    # A model cannot ping anyone: Slack's special mentions arrive escaped, in blocks and in text.
    assert to_mrkdwn("hey <!channel> and <@U0ALICE01>") == "hey &lt;!channel&gt; and &lt;@U0ALICE01&gt;"
    assert fallback_text("hey <!here>") == "hey &lt;!here&gt;"


def test_long_text_is_split_at_line_breaks_and_code_blocks_are_closed_and_reopened() -> None:
    lines = [f"line {i}: " + "word " * 20 for i in range(100)]  # about 11,000 characters
    text = "\n".join(lines)
    pieces = sections(text)
    assert len(pieces) >= 4 and all(len(p) <= SECTION_CHARS for p in pieces)
    assert "".join(pieces) == text and all(p.endswith("\n") for p in pieces[:-1])

    code = "```\n" + text + "\n```"
    pieces = sections(code)
    assert all(len(p) <= SECTION_CHARS and p.count("```") == 2 for p in pieces)

    huge = "x" * (SECTION_CHARS * (MAX_SECTIONS + 3))
    pieces = sections(huge)
    assert len(pieces) == MAX_SECTIONS and pieces[-1].endswith(CUT_NOTE)
    assert all(len(p) <= SECTION_CHARS for p in pieces)
    assert fallback_text(huge).endswith("…") and len(fallback_text(huge)) <= SECTION_CHARS
