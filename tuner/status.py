"""Where tuning stands: the live adapter, the dataset, the last and next cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from policies import Policies
from policies.schema import ScheduleSpec
from storage import Database
from storage.audit import paused_by, recent_events
from storage.exchanges import InGroup, feedback_counts, training_examples
from storage.registry import history, live_adapter
from storage.runs import examples_since, last_run
from tuner.memory import memory_entry
from tuner.split import heldout_keys


def schedule_trigger(schedule: ScheduleSpec) -> CronTrigger | IntervalTrigger:
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC)
    return IntervalTrigger(minutes=schedule.interval_minutes or 60, timezone=UTC)


def next_scheduled_run(policies: Policies, now: datetime | None = None) -> datetime | None:
    if not policies.training.enabled:
        return None
    now = now or datetime.now(UTC)
    return schedule_trigger(policies.training.schedule).get_next_fire_time(None, now)


def tune_status(
    db: Database, policies: Policies, next_run: datetime | None = None, in_group: InGroup | None = None
) -> dict[str, Any]:
    """A plain dict (JSON-ready) that `tunebot status` and `/tune status` both render."""
    with db.session() as session:
        live = live_adapter(session)
        examples = training_examples(session, policies.feedback, in_group)
        trained = last_run(session, trained=True)
        latest = last_run(session)
        counts = feedback_counts(session)
        recent = history(session, limit=5)
        upcoming = next_run or next_scheduled_run(policies)
        secret_answers = policies.privacy.secret_answers
        heldout = len(heldout_keys(examples, policies.training.heldout_percent))
        pause = paused_by(session)
        events = recent_events(session, 10)
        return {
            "live": _adapter_view(live) if live else {"version": "base", "metrics": {}},
            "dataset": {
                "examples": len(examples),
                "train": len(examples) - heldout,
                "heldout": heldout,
                "corrected": sum(e.source == "corrected" for e in examples),
                "approved": sum(e.source == "approved" for e in examples),
                "since_last_training": examples_since(examples, trained.started_at if trained else None),
                "feedback": counts,
            },
            "memory": {
                "enabled": policies.memory.enabled,
                "entries": sum(memory_entry(e, secret_answers) is not None for e in examples),
                "answers_drawing_on_it": counts["drew_on_memory"],
                "answers": counts["exchanges"],
            },
            "last_run": _run_view(latest) if latest else None,
            "next_run": upcoming.isoformat() if upcoming else None,
            "paused": {"by": pause.actor, "at": pause.at.isoformat()} if pause else None,
            "adapters": [_adapter_view(a) for a in recent],
            "events": [_event_view(e) for e in events],
        }


def _event_view(event: Any) -> dict[str, Any]:
    details = event.details or {}
    return {
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "from": details.get("from"),  # rollbacks: the version taken down
        "reason": details.get("reason"),
    }


def _adapter_view(adapter: Any) -> dict[str, Any]:
    return {
        "version": adapter.label,
        "status": adapter.status,
        "method": adapter.method,
        "path": adapter.path,
        "metrics": adapter.metrics,
        "baseline": adapter.baseline,
        "decision": adapter.decision,
        "dataset": adapter.dataset_fingerprint,
        "created_at": adapter.created_at.isoformat(),
        "promoted_at": adapter.promoted_at.isoformat() if adapter.promoted_at else None,
    }


def _run_view(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "state": run.state,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "outcome": run.outcome,
        "error": run.error,
    }
