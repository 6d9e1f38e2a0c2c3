"""Prometheus metrics served on /metrics; one registry per app, so tests can build several."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


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
        self.memory_hits = Counter(
            "tunebot_memory_hits",
            "Answers given with team answers from answer memory",
            registry=self.registry,
        )
        self.feedback = Counter(
            "tunebot_feedback", "Feedback recorded, by kind", ["kind"], registry=self.registry
        )
        self.cycles = Counter(
            "tunebot_tune_cycles",
            "Tune cycles run by this process, by outcome (promoted, rejected, skipped, failed, busy)",
            ["outcome"],
            registry=self.registry,
        )
        self.cycle_seconds = Histogram(
            "tunebot_tune_cycle_seconds",
            "Duration of a tune cycle that trained (promoted, rejected or failed)",
            buckets=(10, 30, 60, 120, 300, 600, 900, 1800, 3600),
            registry=self.registry,
        )

    def observe_cycle(self, outcome: str, seconds: float) -> None:
        self.cycles.labels(outcome).inc()
        if outcome in ("promoted", "rejected", "failed"):
            self.cycle_seconds.observe(seconds)

    def watch_state(self, live_version: Callable[[], str], dataset_size: Callable[[], int]) -> None:
        """Report the live adapter and the dataset size, read when /metrics is scraped."""
        self.registry.register(_StateCollector(live_version, dataset_size))


class _StateCollector(Collector):
    def __init__(self, live_version: Callable[[], str], dataset_size: Callable[[], int]):
        self.live_version = live_version
        self.dataset_size = dataset_size

    def collect(self) -> Iterator[Metric]:
        live = GaugeMetricFamily(
            "tunebot_live_adapter_info", "The adapter version this process serves", labels=["version"]
        )
        live.add_metric([self.live_version()], 1)
        yield live
        yield GaugeMetricFamily(
            "tunebot_dataset_examples",
            "Training examples (approved or corrected answers)",
            value=self.dataset_size(),
        )
