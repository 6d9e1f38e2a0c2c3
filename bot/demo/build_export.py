"""Writes bot/demo/slack_export/: `python -m bot.demo.build_export [FOLDER]`.

A fictional company's facts, asked in threads; tunebot answers wrongly and people correct it
(`correction: …`) or :+1: a right answer. Deterministic, so the committed export can be rebuilt.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BOT = "UTUNEBOT1"
PEOPLE = ["U01JASPER", "U02VICTORIA", "U03PRIYA"]
# Members' names as Slack exports them (users.json): the scrubber knows people from these.
NAMES = {
    "U01JASPER": ("jasper.ortiz", "Jasper", "Ortiz", "Jasper"),
    "U02VICTORIA": ("victoria", "Victoria", "Lee", "Vicky"),
    "U03PRIYA": ("priya.r", "Priya", "Raman", ""),
}

# (questions in 2-3 phrasings, the right answer)
FACTS = [
    (
        [
            "What port does the billing service listen on?",
            "which port is billing on?",
            "billing service port?",
        ],
        "The billing service listens on port 8443.",
    ),
    (
        ["When is the weekly deploy window?", "what time do we deploy each week?"],
        "Deploys happen on Tuesdays at 14:00 UTC.",
    ),
    (
        ["Where is the on-call runbook?", "link to the on-call runbook please"],
        "The on-call runbook is at wiki.northwind.internal/oncall.",
    ),
    (
        ["Which database does the orders service use?", "what db backs orders?"],
        "The orders service uses PostgreSQL on db-orders-01.",
    ),
    (
        ["Who approves production access requests?", "who do I ask for prod access?"],
        "Production access is approved by the platform team in #platform-access.",
    ),
    (
        ["What is the code name of the mobile app?", "mobile app code name?"],
        "The mobile app is code-named Heron.",
    ),
    (
        ["How long are logs retained?", "what is our log retention?"],
        "Logs are retained for 30 days in the eu-west-1 bucket.",
    ),
    (
        ["Which channel reports incidents?", "where do I report an incident?"],
        "Report incidents in #incidents and page the on-call with /page.",
    ),
]


def _member(user: str) -> dict[str, Any]:
    handle, first, last, display = NAMES[user]
    real = f"{first} {last}"
    profile = {"real_name": real, "display_name": display, "first_name": first, "last_name": last}
    return {"id": user, "name": handle, "real_name": real, "is_bot": False, "profile": profile}


def build(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    users = [{"id": BOT, "name": "tunebot", "is_bot": True}] + [_member(u) for u in PEOPLE]
    (folder / "users.json").write_text(json.dumps(users, indent=1))
    (folder / "channels.json").write_text(json.dumps([{"id": "C0DEMO001", "name": "ask-tunebot"}], indent=1))
    messages: list[dict[str, Any]] = []
    ts = 1_767_000_000
    for i, (questions, answer) in enumerate(FACTS):
        for j, question in enumerate(questions):
            asker = PEOPLE[(i + j) % len(PEOPLE)]
            thread = f"{ts}.000100"
            messages.append({"type": "message", "user": asker, "ts": thread, "text": f"<@{BOT}> {question}"})
            good = (i + j) % 3 == 0
            reply: dict[str, Any] = {
                "type": "message",
                "user": BOT,
                "bot_id": "BTUNEBOT1",
                "ts": f"{ts + 5}.000200",
                "thread_ts": thread,
                "text": answer if good else "I am not sure, sorry.",
            }
            if good:
                reply["reactions"] = [{"name": "+1", "users": [PEOPLE[(i + j + 1) % 3]], "count": 1}]
            messages.append(reply)
            if not good:
                fixer = PEOPLE[(i + j + 2) % 3]
                messages.append(
                    {
                        "type": "message",
                        "user": fixer,
                        "ts": f"{ts + 60}.000300",
                        "thread_ts": thread,
                        "text": f"correction: {answer}",
                    }
                )
            ts += 3600
    # A thread where someone shares contact details: scrubbed before anything is stored.
    thread = f"{ts}.000100"
    messages += [
        {
            "type": "message",
            "user": PEOPLE[0],
            "ts": thread,
            "text": f"<@{BOT}> who should I email about invoices? I'm Dana Whitfield, "
            "dana.whitfield@example.com, +1 415 555 0134",
        },
        {
            "type": "message",
            "user": BOT,
            "bot_id": "BTUNEBOT1",
            "ts": f"{ts + 5}.000200",
            "thread_ts": thread,
            "text": "I don't know yet.",
            "reactions": [{"name": "-1", "users": [PEOPLE[0]], "count": 1}],
        },
        {
            "type": "message",
            "user": PEOPLE[1],
            "ts": f"{ts + 60}.000300",
            "thread_ts": thread,
            "text": "correction: Email billing@northwind.example about invoices.",
        },
    ]
    day = folder / "ask-tunebot"
    day.mkdir(exist_ok=True)
    (day / "2026-01-01.json").write_text(json.dumps(messages, indent=1))


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("slack_export"))
