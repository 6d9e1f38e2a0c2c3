"""Block Kit for answers, the correction modal and `/tune` replies."""

from __future__ import annotations

from typing import Any

CORRECT_ACTION = "correct_answer"
APPROVE_ACTION = "approve_answer"
REJECT_ACTION = "reject_answer"
CORRECT_SHORTCUT = "correct_answer_shortcut"
CORRECTION_MODAL = "correction_modal"

HELP_TEXT = (
    "*/tune* commands:\n"
    "• `/tune status` — the live adapter, its score, the dataset and the next cycle\n"
    "• `/tune history` — recent adapters and the decisions about them\n"
    "• `/tune run` — start a tune cycle now (admins)\n"
    "• `/tune rollback [VERSION]` — put the previous (or a given) adapter back (admins)\n"
    "• `/tune pause` / `/tune resume` — stop or restart scheduled cycles (admins; `/tune run` still works)\n"
    "• `/tune forget [@someone]` — erase your (or, for admins, someone's) exchanges and feedback\n"
    "• `/tune help` — this message"
)


def answer_blocks(text: str, adapter_version: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text or "…"}},
        {
            "type": "actions",
            "elements": [
                _button(":+1:", APPROVE_ACTION),
                _button(":-1:", REJECT_ACTION),
                _button("Correct this answer", CORRECT_ACTION),
            ],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"tunebot · {adapter_version}"}],
        },
    ]


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


def _score(metrics: dict[str, Any]) -> str:
    nll = metrics.get("heldout_nll")
    return f"held-out NLL {nll:.4f}" if isinstance(nll, int | float) else "no score yet"


def status_text(status: dict[str, Any]) -> str:
    live, data, last = status["live"], status["dataset"], status["last_run"]
    lines = [
        f"*Live adapter:* {live['version']} ({_score(live.get('metrics', {}))})",
        f"*Dataset:* {data['examples']} examples ({data['train']} train / {data['heldout']} held out; "
        f"{data['corrected']} corrected, {data['approved']} approved)",
        f"*Since last training:* {data['since_last_training']} new examples",
    ]
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


def history_text(status: dict[str, Any]) -> str:
    if not status["adapters"]:
        return "No adapters trained yet."
    return "\n".join(
        f"• *{a['version']}* {a['status']} ({_score(a['metrics'])}) — {a['decision'] or ''}"
        for a in status["adapters"]
    )


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
