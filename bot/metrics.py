"""Prometheus metrics served on /metrics; one registry per app, so tests can build several."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.answers = Counter(
            "tunebot_answers", "Answers given, by adapter version", ["adapter"], registry=self.registry
        )
        self.answer_seconds = Histogram(
            "tunebot_answer_seconds",
            "Time to generate one answer",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.feedback = Counter(
            "tunebot_feedback", "Feedback recorded, by kind", ["kind"], registry=self.registry
        )
