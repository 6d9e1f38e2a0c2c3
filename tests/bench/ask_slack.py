"""Questions asked through Slack as a person asks them: the sandbox's real bot over signed HTTP.

    python -m tests.bench.ask_slack "QUESTION" ...   # one JSON line per answer, as shown in Slack

Reads TUNEBOT_DATA_DIR / TUNEBOT_POLICY_FILE like `tunebot serve`; the bot serves whatever the
registry says is live. The learning benchmark uses it to score what users see after a cycle.
"""

from __future__ import annotations

import json
import sys
import time

from bot.runtime import Runtime
from bot.sandbox.app import DEMO_CHANNEL, SANDBOX_USER, Sandbox
from bot.settings import Settings
from tuner.offline import stay_offline


def main(questions: list[str]) -> None:
    stay_offline()
    runtime = Runtime(Settings())
    sandbox = Sandbox(runtime, poll_seconds=5).start()
    assert sandbox.send is not None
    try:
        bot = sandbox.workspace.bot_user_id
        for question in questions:
            message, _ = sandbox.send.user_message(DEMO_CHANNEL, SANDBOX_USER, f"<@{bot}> {question}")
            deadline = time.monotonic() + 600
            reply = None
            while reply is None and time.monotonic() < deadline:
                thread = sandbox.workspace.thread(DEMO_CHANNEL, message["ts"])
                reply = next((m for m in thread if m.get("bot_id") and m.get("blocks")), None)
                time.sleep(0.1)
            footer = json.dumps(reply["blocks"], ensure_ascii=False) if reply else ""
            version = footer.split("tunebot · ")[1].split('"')[0] if "tunebot · " in footer else None
            record = {"question": question, "answer": reply["text"] if reply else None, "adapter": version}
            print(json.dumps(record, ensure_ascii=False), flush=True)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
