"""What the review page shows and changes: the dataset with who backs each example and which
adapters trained on it, excluding / including examples, and each adapter's gate numbers and held-out
answers beside the baseline's. Reads and writes through storage; no HTTP here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from policies import Policies
from policies.access import AccessDecision, may_run
from storage import Database
from storage.audit import recent_events
from storage.exchanges import InGroup, last_question, training_examples
from storage.models import Adapter, AuditEvent
from storage.registry import RegistryError, get_adapter
from storage.review import exclude_example, excluded_examples, include_example
from tuner.split import heldout_keys

PAGE_SIZE = 50
SOURCES = ("approved", "corrected")
SIDES = ("train", "heldout")
STATES = ("included", "excluded")


class ReviewError(ValueError):
    """A request the review page cannot act on; the message says why."""


@dataclass(frozen=True)
class Filters:
    """The dataset page's filters, as given in its query string (empty: any)."""

    source: str = ""
    side: str = ""
    state: str = ""
    adapter: str = ""  # "v3": trained on v3; "none": by no adapter yet
    text: str = ""
    page: int = 1

    @classmethod
    def parse(cls, query: dict[str, str]) -> Filters:
        """From a query string; an unknown value is refused (not silently read as "any")."""
        filters = cls(
            source=query.get("source", "").strip(),
            side=query.get("side", "").strip(),
            state=query.get("state", "").strip(),
            adapter=query.get("adapter", "").strip().lower(),
            text=query.get("q", "").strip(),
        )
        for name, allowed in (("source", SOURCES), ("side", SIDES), ("state", STATES)):
            value = getattr(filters, name)
            if value and value not in allowed:
                raise ReviewError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        page = query.get("page", "1").strip() or "1"
        if not page.isdigit() or int(page) < 1:
            raise ReviewError(f"page must be a positive number, not {page!r}")
        return replace(filters, page=int(page))

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters (with `changes`) as query arguments, empty ones left out."""
        values = {
            "source": self.source,
            "side": self.side,
            "state": self.state,
            "adapter": self.adapter,
            "q": self.text,
            "page": str(self.page) if self.page > 1 else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class ExampleRow:
    key: str
    question: str
    target: str
    source: str
    original_reply: str
    backed_by: list[str]
    side: str
    adapters: list[str]  # labels of the adapters that trained on it
    excluded_by: str | None
    excluded_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class ExamplePage:
    rows: list[ExampleRow]
    matched: int  # examples matching the filters, all pages
    total: int  # examples in the dataset, excluded ones too
    excluded: int
    filters: Filters
    pages: int
    adapters: list[str]  # labels known, for the filter


@dataclass(frozen=True)
class AdapterRow:
    label: str
    version: int
    status: str
    created_at: datetime
    promoted_at: datetime | None
    method: str
    train_examples: int
    heldout_examples: int
    candidate_right: int | None
    baseline_right: int | None
    baseline_label: str
    candidate_nll: float | None
    baseline_nll: float | None
    guard_increase: float | None
    guard_limit: float | None
    decision: str
    answers_kept: bool


@dataclass(frozen=True)
class AdapterDetail:
    adapter: AdapterRow
    answers: list[dict[str, Any]]
    guard: dict[str, Any] = field(default_factory=dict)
    events: list[AuditEvent] = field(default_factory=list)


class ReviewService:
    def __init__(
        self,
        db: Database,
        policies: Callable[[], Policies],
        in_group: InGroup | None = None,
        name_of: Callable[[str], str] | None = None,
    ):
        self.db = db
        self.policies = policies  # read at each request: the sandbox and tests change them
        self.in_group = in_group
        self.name_of = name_of or (lambda user: user)

    def may_review(self, user_id: str) -> AccessDecision:
        """Whether `user_id` may open the review page (the access policy's `review` rule)."""
        return may_run(self.policies().access, user_id, "review", self.in_group)

    def examples(self, filters: Filters) -> ExamplePage:
        policies = self.policies()
        with self.db.session() as session:
            examples = training_examples(session, policies.feedback, self.in_group, excluded=True)
            excluded = excluded_examples(session)
            adapters = list(session.scalars(select(Adapter).order_by(Adapter.version)))
            trained_on: dict[str, list[str]] = {}
            for adapter in adapters:
                for key in adapter.train_keys or []:
                    trained_on.setdefault(key, []).append(adapter.label)
            labels = [a.label for a in adapters]
            # Sides as the next snapshot will split: excluded examples are not in it.
            held = heldout_keys(
                [e for e in examples if e.key not in excluded], policies.training.heldout_percent
            )
            rows = [
                ExampleRow(
                    key=e.key,
                    question=last_question(e.prompt),
                    target=e.target,
                    source=e.source,
                    original_reply=e.original_reply,
                    backed_by=[self.name_of(u) for u in e.backed_by],
                    side="heldout" if e.key in held else "train",
                    adapters=trained_on.get(e.key, []),
                    excluded_by=self.name_of(excluded[e.key].excluded_by) if e.key in excluded else None,
                    excluded_at=excluded[e.key].excluded_at if e.key in excluded else None,
                    updated_at=e.updated_at,
                )
                for e in reversed(examples)  # newest first
            ]
        if filters.adapter and filters.adapter != "none" and filters.adapter not in labels:
            raise ReviewError(f"no adapter {filters.adapter}; known: {', '.join(labels) or 'none yet'}")
        matched = [r for r in rows if _matches(r, filters)]
        pages = max(1, -(-len(matched) // PAGE_SIZE))
        start = (min(filters.page, pages) - 1) * PAGE_SIZE
        return ExamplePage(
            rows=matched[start : start + PAGE_SIZE],
            matched=len(matched),
            total=len(rows),
            excluded=sum(1 for r in rows if r.excluded_by is not None),
            filters=filters,
            pages=pages,
            adapters=labels,
        )

    def set_excluded(self, key: str, excluded: bool, *, actor: str) -> bool:
        """Exclude (or include) the example `key`; True when that changed anything. Only an example
        the dataset holds can be excluded."""
        policies = self.policies()
        with self.db.session() as session:
            if excluded:
                keys = {e.key for e in training_examples(session, policies.feedback, self.in_group)}
                if key not in keys:
                    raise ReviewError(f"no example {key!r} in the dataset (erased, or no longer approved?)")
                return exclude_example(session, key, actor=actor)
            return include_example(session, key, actor=actor)

    def adapters(self) -> list[AdapterRow]:
        """Every adapter, oldest first, with the gate's numbers."""
        limit = self.policies().promotion.regression_guard.max_nll_increase
        with self.db.session() as session:
            return [
                _adapter_row(a, limit) for a in session.scalars(select(Adapter).order_by(Adapter.version))
            ]

    def adapter(self, version: str) -> AdapterDetail:
        limit = self.policies().promotion.regression_guard.max_nll_increase
        with self.db.session() as session:
            try:
                adapter = get_adapter(session, version)
            except RegistryError as exc:
                raise ReviewError(str(exc)) from exc
            gate = (adapter.metrics or {}).get("gate") or {}
            events = [e for e in recent_events(session, limit=200) if e.subject == adapter.label]
            return AdapterDetail(
                adapter=_adapter_row(adapter, limit),
                answers=list(adapter.heldout_answers or []),
                guard=gate.get("regression") or {},
                events=events,
            )


def _matches(row: ExampleRow, filters: Filters) -> bool:
    if filters.source and row.source != filters.source:
        return False
    if filters.side and row.side != filters.side:
        return False
    if filters.state and (row.excluded_by is not None) != (filters.state == "excluded"):
        return False
    if filters.adapter == "none" and row.adapters:
        return False
    if filters.adapter and filters.adapter != "none" and filters.adapter not in row.adapters:
        return False
    if filters.text:
        needle = filters.text.casefold()
        return any(needle in text.casefold() for text in (row.question, row.target, row.original_reply))
    return True


def _adapter_row(adapter: Adapter, guard_limit: float | None) -> AdapterRow:
    metrics, baseline = adapter.metrics or {}, adapter.baseline or {}
    regression = ((metrics.get("gate") or {}).get("regression")) or {}
    return AdapterRow(
        label=adapter.label,
        version=adapter.version,
        status=adapter.status,
        created_at=adapter.created_at,
        promoted_at=adapter.promoted_at,
        method=adapter.method,
        train_examples=adapter.train_examples,
        heldout_examples=adapter.heldout_examples,
        candidate_right=metrics.get("answered_right"),
        baseline_right=baseline.get("answered_right"),
        baseline_label=str(baseline.get("label") or "baseline"),
        candidate_nll=metrics.get("heldout_nll"),
        baseline_nll=baseline.get("heldout_nll"),
        guard_increase=regression.get("increase"),
        guard_limit=guard_limit,
        decision=adapter.decision or "",
        answers_kept=adapter.heldout_answers is not None,
    )


def recent_review_events(db: Database, limit: int = 20) -> list[AuditEvent]:
    """The latest exclusions and inclusions, for the dataset page."""
    with db.session() as session:
        return [e for e in recent_events(session, limit=500) if e.action in ("exclude", "include")][:limit]
