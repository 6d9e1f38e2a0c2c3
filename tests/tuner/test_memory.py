"""Answer memory follows the feedback in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from policies import Policies
from policies.schema import FeedbackPolicy, MemoryPolicy
from storage.erasure import forget_user
from storage.exchanges import add_feedback, purge_unrated, withdraw_feedback
from storage.models import utcnow
from tests.factories import make_exchange
from tuner.chat_format import SYSTEM_PROMPT
from tuner.memory import AnswerMemory, Recalled, with_memory

PORT_Q = "What port does the billing service listen on?"
PORT_A = "The billing service listens on port 8443."


def _exchange(session, n: int, question: str, reply: str):  # type: ignore[no-untyped-def]
    return make_exchange(session, n, question=question, reply=reply, asked_by="U1")


def test_approvals_and_corrections_count_at_once_and_leave_with_their_feedback(db) -> None:  # type: ignore[no-untyped-def]
    memory = AnswerMemory(db, Policies())
    assert memory.recall("which port is billing on?") == []
    with db.session() as session:
        approved = _exchange(session, 1, PORT_Q, PORT_A)
        add_feedback(session, approved, kind="approve", user_id="U2", reaction="+1")
        wrong = _exchange(session, 2, "Who approves production deploys?", "Anyone can.")
        add_feedback(session, wrong, kind="correct", user_id="U3", corrected_reply="The release manager.")
        _exchange(session, 3, "Where is the office?", "In Bergen.")  # never rated: not memory
    found = memory.recall("which port does billing listen on")
    assert [r.answer for r in found] == [PORT_A]
    assert found[0].similarity >= Policies().memory.min_similarity
    assert [r.answer for r in memory.recall("who approves deploys to production?")] == [
        "The release manager."  # the correction, not the answer it replaced
    ]
    assert memory.recall("where is the office?") == []
    assert len(memory) == 2

    with db.session() as session:  # a withdrawn :+1: takes its answer out before the next question
        assert withdraw_feedback(session, approved, kind="approve", user_id="U2", reaction="+1")
    assert memory.recall("which port does billing listen on") == []
    with db.session() as session:  # erasure of the person who corrected
        forget_user(session, "U3", actor="test")
    assert memory.recall("who approves deploys to production?") == []
    assert len(memory) == 0


def test_a_second_memory_sees_what_another_process_stored(db) -> None:  # type: ignore[no-untyped-def]
    """Two replicas: each follows the database, none is told."""
    first, second = AnswerMemory(db, Policies()), AnswerMemory(db, Policies())
    assert first.recall(PORT_Q) == second.recall(PORT_Q) == []
    with db.session() as session:
        add_feedback(
            session, _exchange(session, 1, PORT_Q, PORT_A), kind="approve", user_id="U2", reaction="+1"
        )
    assert [r.answer for r in second.recall(PORT_Q)] == [PORT_A]
    assert [r.answer for r in first.recall(PORT_Q)] == [PORT_A]


def test_the_feedback_policy_decides_what_is_remembered(db) -> None:  # type: ignore[no-untyped-def]
    policies = Policies(feedback=FeedbackPolicy(min_approvals=2))
    memory = AnswerMemory(db, policies)
    with db.session() as session:
        exchange = _exchange(session, 1, PORT_Q, PORT_A)
        add_feedback(session, exchange, kind="approve", user_id="U2", reaction="+1")
    assert memory.recall(PORT_Q) == []  # one approver of the two the policy asks for
    with db.session() as session:
        add_feedback(session, exchange, kind="approve", user_id="U3", reaction="+1")
    assert [r.answer for r in memory.recall(PORT_Q)] == [PORT_A]


def test_secrets_and_placeholders_never_reach_it(db) -> None:  # type: ignore[no-untyped-def]
    memory = AnswerMemory(db, Policies())
    with db.session() as session:
        secret = _exchange(session, 1, "What is the guest wi-fi password?", "x")
        add_feedback(
            session, secret, kind="correct", user_id="U2", corrected_reply="The password is <PASSWORD_1>."
        )
        person = _exchange(session, 2, "Who runs payroll?", "x")
        add_feedback(session, person, kind="correct", user_id="U2", corrected_reply="<PERSON_1> runs it.")
    [refusal] = memory.recall("what's the guest wifi password?")
    assert "<" not in refusal.answer and "PASSWORD" not in refusal.answer  # the dataset's refusal
    assert memory.recall("Who runs payroll?") == []

    drop = AnswerMemory(db, Policies.model_validate({"privacy": {"secret_answers": "drop"}}))
    assert drop.recall("what's the guest wifi password?") == []


def test_close_questions_only_and_distinct_answers(db) -> None:  # type: ignore[no-untyped-def]
    policies = Policies(memory=MemoryPolicy(matches=2, min_similarity=0.5))
    memory = AnswerMemory(db, policies)
    with db.session() as session:
        for n, question in enumerate([PORT_Q, "which port is billing on?", "billing service port?"]):
            add_feedback(session, _exchange(session, n, question, PORT_A), kind="approve", user_id="U2")
        other = _exchange(session, 9, "Which port does the search service use?", "Port 9200.")
        add_feedback(session, other, kind="approve", user_id="U2")
    found = memory.recall("billing port?")
    assert found[0].answer == PORT_A and len({r.answer for r in found}) == len(found) <= 2
    assert memory.recall("What should I eat for lunch today?") == []


def test_a_further_answer_only_when_about_as_close_as_the_best(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        add_feedback(session, _exchange(session, 1, PORT_Q, PORT_A), kind="approve", user_id="U2")
        other = _exchange(session, 2, "Which port does the search service use?", "Port 9200.")
        add_feedback(session, other, kind="approve", user_id="U2")

    def recall(within: float) -> list[Recalled]:
        policy = MemoryPolicy(matches=2, min_similarity=0.3, within_best=within)
        return AnswerMemory(db, Policies(memory=policy)).recall("What port does billing listen on?")

    both = recall(1.0)
    assert [r.answer for r in both] == [PORT_A, "Port 9200."]  # the search service's answer too
    gap = both[0].similarity - both[1].similarity
    assert [r.answer for r in recall(gap / 2)] == [PORT_A]  # far behind the best: not given
    assert len(recall(gap + 0.01)) == 2


def test_retention_purges_only_what_memory_never_held(db) -> None:  # type: ignore[no-untyped-def]
    memory = AnswerMemory(db, Policies())
    with db.session() as session:
        add_feedback(session, _exchange(session, 1, PORT_Q, PORT_A), kind="approve", user_id="U2")
        _exchange(session, 2, "Where is the office?", "In Bergen.")
    assert len(memory.recall(PORT_Q)) == 1
    with db.session() as session:
        assert purge_unrated(session, utcnow()) == 1
    assert len(memory.recall(PORT_Q)) == 1


def test_the_team_answers_come_before_the_conversation() -> None:
    turns = [{"role": "user", "content": "billing port?"}]
    assert with_memory(turns, []) == turns
    recalled = [Recalled("C1:1.2", "Is <PERSON_1> on call?", "Yes, until Friday.", 0.8)]
    system, *rest = with_memory(turns, recalled)
    assert rest == turns and system["role"] == "system"
    assert system["content"].startswith(SYSTEM_PROMPT)
    assert "Yes, until Friday." in system["content"] and "<PERSON_1>" not in system["content"]


def test_the_policy_switch_turns_it_off(db) -> None:  # type: ignore[no-untyped-def]
    from bot.metrics import Metrics
    from bot.services.chat import ChatService, Turn

    with db.session() as session:
        add_feedback(session, _exchange(session, 1, PORT_Q, PORT_A), kind="approve", user_id="U2")
    question = [Turn("user", "which port does billing listen on")]
    on = ChatService(None, None, Metrics(), memory=AnswerMemory(db, Policies()))  # type: ignore[arg-type]
    assert [r.answer for r in on._recall(question)] == [PORT_A]
    off_policy = Policies(memory=MemoryPolicy(enabled=False))
    off = ChatService(None, None, Metrics(), memory=AnswerMemory(db, off_policy))  # type: ignore[arg-type]
    assert off._recall(question) == []
