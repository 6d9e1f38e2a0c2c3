"""Block Kit for answers, the correction modal and `/tune` replies."""

from __future__ import annotations

import math
from typing import Any

from bot.slack_format import sections, to_mrkdwn

CORRECT_ACTION = "correct_answer"
FEEDBACK_ACTION = "answer_feedback"  # Slack's native thumbs up / down (a feedback_buttons element)
GOOD, BAD = "good", "bad"  # their values
APPROVE_ACTION = "approve_answer"  # the plain :+1: / :-1: buttons of answers posted before those
REJECT_ACTION = "reject_answer"
CORRECT_SHORTCUT = "correct_answer_shortcut"
CORRECTION_MODAL = "correction_modal"

HELP_TEXT = (
    "*/tune* commands:\n"
    "• `/tune status` — the live adapter, its score, the dataset and the next cycle\n"
    "• `/tune history` — recent adapters and the decisions about them\n"
    "• `/tune run` — start a tune cycle now (admins)\n"
    "• `/tune rollback [VERSION]` — put the previous (or a given) adapter back (admins)\n"
    "• `/tune approve VERSION` — let a candidate waiting for approval go live (admins)\n"
    "• `/tune pause` / `/tune resume` — stop or restart scheduled cycles (admins; `/tune run` still works)\n"
    "• `/tune forget [@someone]` — erase your (or, for admins, someone's) exchanges and feedback\n"
    "• `/tune words [keep|scrub|forget WORD]` — what the scrubber takes for people; keep a tool's name "
    "or always scrub a word (admins)\n"
    "• `/tune help` — this message"
)


def answer_blocks(text: str, adapter_version: str, recalled: int = 0) -> list[dict[str, Any]]:
    """The answer (Markdown, shown as mrkdwn in as many sections as it needs), *Correct this
    answer*, Slack's feedback buttons (thumbs up / down), the adapter that wrote it."""
    pieces = sections(to_mrkdwn(text)) or ["…"]
    shown = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in pieces]
    return [*shown, *answer_controls(adapter_version, recalled)]


def answer_footer(adapter_version: str, recalled: int = 0) -> str:
    """ "tunebot · v3", and whether the answer drew on the team's answers (answer memory)."""
    drew = f" · drew on {recalled} team answer{'s' if recalled > 1 else ''}" if recalled else ""
    return f"tunebot · {adapter_version}{drew}"


def answer_controls(adapter_version: str, recalled: int = 0) -> list[dict[str, Any]]:
    """What follows an answer's text: *Correct this answer*, the feedback buttons, the footer."""
    return [
        {"type": "actions", "elements": [_button("Correct this answer", CORRECT_ACTION)]},
        {
            "type": "context_actions",
            "elements": [
                {
                    "type": "feedback_buttons",
                    "action_id": FEEDBACK_ACTION,
                    "positive_button": _feedback(":+1:", GOOD, "This answer is right"),
                    "negative_button": _feedback(":-1:", BAD, "This answer is wrong"),
                }
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": answer_footer(adapter_version, recalled)}],
        },
    ]


def _feedback(text: str, value: str, label: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "value": value,
        "accessibility_label": label,
    }


def _button(text: str, action_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
    }


def correction_modal(exchange_id: int, current_text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CORRECTION_MODAL,
        "private_metadata": str(exchange_id),
        "title": {"type": "plain_text", "text": "Correct this answer"},
        "submit": {"type": "plain_text", "text": "Save correction"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "correction",
                "label": {"type": "plain_text", "text": "What should tunebot have said?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "initial_value": current_text[:3000],
                },
            }
        ],
    }


def message_modal(title: str, text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _score(metrics: dict[str, Any]) -> str:
    """Held-out team questions answered right first, then NLL and chrF as detail; never a NaN."""
    nll, chrf = metrics.get("heldout_nll"), metrics.get("chrf")
    right, total = metrics.get("answered_right"), metrics.get("examples")
    parts = []
    if _number(right) and _number(total) and total:
        parts.append(f"answers {right} of {total} held-out team questions right")
    if _number(nll):
        parts.append(f"held-out NLL {nll:.4f}" + (f", chrF {chrf:.1f}" if _number(chrf) else ""))
    return "; ".join(parts) or "no score yet"


def status_text(status: dict[str, Any]) -> str:
    live, data, last = status["live"], status["dataset"], status["last_run"]
    lines = [
        f"*Live adapter:* {live['version']} ({_score(live.get('metrics', {}))})",
        f"*Dataset:* {data['examples']} examples ({data['train']} train / {data['heldout']} held out; "
        f"{data['corrected']} corrected, {data['approved']} approved)",
        f"*Since last training:* {data['since_last_training']} new examples",
    ]
    if memory := status.get("memory"):
        lines.append(_memory_line(memory))
    if last:
        detail = last.get("outcome") or last.get("error") or ""
        lines.append(f"*Last run:* #{last['id']} {last['state']} at {last['started_at'][:19]}Z {detail}")
    else:
        lines.append("*Last run:* never")
    if status.get("paused"):
        paused = status["paused"]
        lines.append(f"*Next run:* paused by {paused['by']} at {paused['at'][:19]}Z (`/tune resume`)")
    else:
        lines.append(
            f"*Next run:* {status['next_run'][:19] + 'Z' if status['next_run'] else 'not scheduled'}"
        )
    return "\n".join(lines)


def _memory_line(memory: dict[str, Any]) -> str:
    if not memory["enabled"]:
        return "*Answer memory:* off (`memory.enabled` in the policy)"
    return (
        f"*Answer memory:* {memory['entries']} team answers; "
        f"{memory['answers_drawing_on_it']} of {memory['answers']} stored answers drew on them"
    )


def history_text(status: dict[str, Any]) -> str:
    """Recent adapters with their scores and decisions, then the audit trail: who did what, why."""
    lines = [
        f"• *{a['version']}* {a['status']} ({_score(a['metrics'])}) — {a['decision'] or ''}"
        for a in status["adapters"]
    ] or ["No adapters trained yet."]
    if status.get("events"):
        lines.append("*Recent events:*")
        lines += [_event_line(e) for e in status["events"]]
    return "\n".join(lines)


def _event_line(event: dict[str, Any]) -> str:
    what = f"{event['action']} {event['subject'] or ''}".strip()
    if event["action"] == "policy":
        what = "policy"  # the subject is a fingerprint
    elif event["action"] == "rollback" and event.get("from"):
        what = f"rollback {event['from']} → {event['subject']}"
    reason = f" — {event['reason']}" if event.get("reason") else ""
    return f"• {event['at'][:16].replace('T', ' ')}Z {what} by {event['actor']}{reason}"


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def score_chart(adapters: list[dict[str, Any]], width: int = 24) -> str:
    """Held-out NLL per adapter version, oldest first, as a text bar chart (longer bar: better)."""
    scored = [
        a for a in reversed(adapters) if isinstance(a.get("metrics", {}).get("heldout_nll"), int | float)
    ]
    if not scored:
        return "No scored adapters yet: the chart fills in after the first tune cycle."
    values = [a["metrics"]["heldout_nll"] for a in scored]
    worst, best = max(values), min(values)
    lines = []
    for adapter, nll in zip(scored, values, strict=True):
        # Scaled so the best adapter gets the full width and the worst still shows a sliver.
        fill = width if worst == best else round(2 + (width - 2) * (worst - nll) / (worst - best))
        mark = "  ← live" if adapter["status"] == "live" else f"  ({adapter['status']})"
        lines.append(
            f"{adapter['version']:>4} {adapter['created_at'][:10]} {'█' * fill:<{width}} {nll:.3f}{mark}"
        )
    return "```\n" + "\n".join(lines) + "\n```"


def home_view(status: dict[str, Any]) -> dict[str, Any]:
    """The App Home tab: what is live, the dataset, the next run, and the score of each version."""
    data = status["dataset"]
    feedback = data.get("feedback", {})
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "tunebot"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": status_text(status)}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Feedback: {feedback.get('approve', 0)} approvals, "
                        f"{feedback.get('correct', 0)} corrections, {feedback.get('reject', 0)} rejections "
                        f"on {feedback.get('exchanges', 0)} stored answers.",
                    }
                ],
            },
            {"type": "divider"},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Held-out NLL by adapter version* (lower is better)"},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": score_chart(status["adapters"])}},
        ],
    }
