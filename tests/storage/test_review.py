"""What the review page changes and keeps, on SQLite and PostgreSQL: exclusions (audited, honoured by
the next snapshot and by answer memory) and the gate's records per adapter (gone with erasure and
retention)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from policies import Policies
from storage.audit import recent_events
from storage.erasure import forget_user
from storage.exchanges import add_feedback, example_key, purge_unrated, training_examples, withdraw_feedback
from storage.models import Adapter, ExcludedExample, utcnow
from storage.registry import register_candidate
from storage.review import exclude_example, include_example
from tests.factories import make_exchange
from tuner.dataset import build_snapshot
from tuner.memory import AnswerMemory

PORT_Q = "What port does the billing service listen on?"
PORT_A = "The billing service listens on port 8443."


def _keys(db, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return [e.key for e in training_examples(session, Policies().feedback, **kwargs)]


def test_an_excluded_example_leaves_the_snapshot_and_memory_until_included(db) -> None:  # type: ignore[no-untyped-def]
    memory = AnswerMemory(db, Policies())
    with db.session() as session:
        port = make_exchange(session, 1, question=PORT_Q, reply=PORT_A, asked_by="U1")
        add_feedback(session, port, kind="approve", user_id="U2", reaction="+1")
        add_feedback(session, port, kind="approve", user_id="U4", reaction="+1")
        deploy = make_exchange(session, 2, question="Who approves deploys?", reply="Anyone.", asked_by="U1")
        add_feedback(session, deploy, kind="correct", user_id="U3", corrected_reply="The release manager.")
        port_key, deploy_key = example_key(port), example_key(deploy)
    assert [r.answer for r in memory.recall("which port is billing on")] == [PORT_A]
    with db.session() as session:
        examples = training_examples(session, Policies().feedback)
    assert {e.key: e.backed_by for e in examples} == {port_key: ("U2", "U4"), deploy_key: ("U3",)}

    with db.session() as session:
        assert exclude_example(session, port_key, actor="U0ADMIN01")
        assert not exclude_example(session, port_key, actor="U0ADMIN01")  # once
    assert _keys(db) == [deploy_key]
    assert _keys(db, excluded=True) == [port_key, deploy_key]  # the review page still lists it
    with db.session() as session:
        snapshot = build_snapshot(training_examples(session, Policies().feedback), heldout_percent=50)
    assert port_key not in [*snapshot.train["key"], *snapshot.heldout["key"]]
    assert deploy_key in [*snapshot.train["key"], *snapshot.heldout["key"]]
    assert memory.recall("which port is billing on") == []  # at once, no cycle

    with db.session() as session:
        assert include_example(session, port_key, actor="U0ADMIN02")
        assert not include_example(session, port_key, actor="U0ADMIN02")
        events = [(e.action, e.actor, e.details["key"]) for e in recent_events(session, 5)]
    assert events[:2] == [("include", "U0ADMIN02", port_key), ("exclude", "U0ADMIN01", port_key)]
    assert _keys(db) == [port_key, deploy_key]
    assert [r.answer for r in memory.recall("which port is billing on")] == [PORT_A]


def test_erasure_and_retention_take_the_gates_records_of_an_example(db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as session:
        kept = make_exchange(session, 1, question=PORT_Q, reply=PORT_A, asked_by="U1")
        add_feedback(session, kept, kind="approve", user_id="U2", reaction="+1")
        erased = make_exchange(session, 2, question="Where is Ana's desk?", reply="Floor 3.", asked_by="U9")
        add_feedback(session, erased, kind="approve", user_id="U2", reaction="+1")
        expiring = make_exchange(
            session,
            3,
            question="Lunch?",
            reply="At noon.",
            asked_by="U1",
            created_at=utcnow() - timedelta(days=90),
        )
        add_feedback(session, expiring, kind="approve", user_id="U2", reaction="+1")
        keys = [example_key(e) for e in (kept, erased, expiring)]
        exclude_example(session, keys[1], actor="U0ADMIN01")

        def answer(key: str) -> dict:
            return {"key": key, "question": "q", "reference": "r", "candidate": "c", "baseline": "b"}

        register_candidate(
            session,
            path="/adapters/run-1",
            method="qlora",
            metrics={},
            baseline={},
            dataset_fingerprint="f",
            train_examples=1,
            heldout_examples=2,
            training_run_id=None,
            train_keys=[keys[0]],
            heldout_answers=[answer(k) for k in keys],
        )
    with db.session() as session:
        forget_user(session, "U9", actor="test")
        assert session.scalars(select(ExcludedExample)).all() == []
        withdraw_feedback(session, expiring, kind="approve", user_id="U2", reaction="+1")
        assert purge_unrated(session, utcnow() - timedelta(days=30)) == 1
    with db.session() as session:
        adapter = session.scalars(select(Adapter)).one()
        assert [a["key"] for a in adapter.heldout_answers] == [keys[0]]
        assert adapter.train_keys == [keys[0]]
