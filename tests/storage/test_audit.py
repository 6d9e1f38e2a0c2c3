"""Policy changes become audit events, once per change, naming what changed."""

from __future__ import annotations

from storage.audit import note_policy, recent_events


def test_policy_events_only_when_the_policy_changes(db) -> None:  # type: ignore[no-untyped-def]
    first = {"training": {"epochs": 3, "lora": {"r": 16}}, "access": {"admins": []}}
    with db.session() as session:
        event = note_policy(session, first, actor="ops@host", source="policy.yaml")
        assert event is not None and event.details["reason"] == "first policy on record"
    with db.session() as session:
        assert note_policy(session, first, actor="ops@host", source="policy.yaml") is None
    changed = {"training": {"epochs": 3, "lora": {"r": 32}}, "access": {"admins": ["U1"]}, "new": 1}
    with db.session() as session:
        event = note_policy(session, changed, actor="ops@host", source="policy.yaml")
        assert event is not None
        assert event.details["changed"] == ["access.admins", "new", "training.lora.r"]
    with db.session() as session:
        events = recent_events(session)
        assert [(e.action, e.actor) for e in events] == [("policy", "ops@host")] * 2
        assert events[0].details["policy"] == changed and events[0].subject != events[1].subject
