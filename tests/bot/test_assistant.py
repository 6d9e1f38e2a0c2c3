"""What a new assistant-pane thread offers: the policy's prompts, else the team's frequent questions."""

from __future__ import annotations

from typing import Any

from bot.services.assistant import AssistantService, title
from policies.schema import AssistantPolicy
from storage.exchanges import record_exchange


def _asked(db: Any, *questions: str) -> None:
    with db.session() as session:
        for n, question in enumerate(questions):
            prompt = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
            record_exchange(
                session,
                channel_id="C1",
                thread_ts=f"{n}.1",
                question_ts=f"{n}.2",
                reply_ts=f"{n}.3",
                prompt=[*prompt, {"role": "user", "content": question}],
                reply="an answer",
                adapter_version="base",
            )


def test_frequent_questions_first_without_placeholders(db: Any) -> None:
    _asked(
        db,
        "Where is the runbook?",
        "Is <PERSON_1> on call this week?",  # asked most, but no one would click a placeholder
        "is <PERSON_1> on call this week",
        "Is <PERSON_1> on call this week?",
        "How do I deploy billing?",
        "where  is the RUNBOOK",
        "What is the VPN address?",
    )
    offered = AssistantService(db, AssistantPolicy(suggested_prompt_count=2)).suggested_prompts()
    # The last user turn is the question; the latest wording of the most asked one comes first.
    assert offered == [
        {"title": "where is the RUNBOOK", "message": "where  is the RUNBOOK"},
        {"title": "What is the VPN address?", "message": "What is the VPN address?"},
    ]
    assert AssistantService(db, AssistantPolicy(suggested_prompt_count=0)).suggested_prompts() == []


def test_the_policys_prompts_win_and_an_empty_workspace_offers_none(db: Any) -> None:
    assert AssistantService(db, AssistantPolicy()).suggested_prompts() == []
    _asked(db, "Where is the runbook?")
    policy = AssistantPolicy(suggested_prompts=["How do I get VPN access?", "Who approves a release?"])
    assert [
        p["message"] for p in AssistantService(db, policy).suggested_prompts()
    ] == policy.suggested_prompts


def test_titles_are_one_line_cut_at_a_word() -> None:
    assert title("How  do\nwe deploy?") == "How do we deploy?"
    long = "How do we roll back the billing service when the canary fails during the nightly window?"
    cut = title(long, 40)
    assert cut.endswith("…") and len(cut) <= 40 and long.startswith(cut[:-1])
