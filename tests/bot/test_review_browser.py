"""The review page in Chromium: Sign in with Slack (the sandbox's consent page), the dataset,
excluding an example (the next cycle's snapshot lacks it), the adapter timeline and chart, and a
promoted and a rejected candidate's held-out answers beside their baseline's.

Two real tune cycles of the tiny model on the demo export. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo import EXPORT
from storage.models import Adapter

# Chromium or a skip, and SQLite only, as for the sandbox page.
from tests.bot.test_sandbox_browser import _shot, chromium_tab, database_url, pytestmark  # noqa: F401


@pytest.fixture
def sandbox(runtime: Any) -> Iterator[Any]:
    from bot.sandbox.app import Sandbox, demo_workspace, import_demo

    running = Sandbox(runtime, workspace=demo_workspace(EXPORT))
    assert import_demo(runtime, EXPORT, lambda _m: None)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def browser_page(sandbox: Any) -> Iterator[Any]:
    with chromium_tab(height=900) as tab:
        yield tab


def _cycle(runtime: Any, expected: str) -> str:
    result = runtime.cycle.run("test", force=True)
    assert result.outcome == expected, result.message
    return str(result.adapter_version)


def test_review_the_dataset_exclude_an_example_and_compare_candidates(
    browser_page: Any, sandbox: Any, runtime: Any
) -> None:
    page = browser_page
    promoted = _cycle(runtime, "promoted")

    # The sandbox's sidebar links the review page. Not signed in, it sends the browser to Slack,
    # which asks the person signed in there to allow.
    page.goto(sandbox.url)
    link = page.locator("[data-testid=nav-review]")
    link.wait_for()
    assert link.get_attribute("href") == f"{sandbox.bot_url}/review/"
    page.goto(f"{sandbox.bot_url}/review/")
    page.locator("[data-testid=slack-user]").wait_for()
    assert page.locator("[data-testid=slack-user]").inner_text() == "you"
    assert "/openid/connect/authorize" in page.url
    page.locator("[data-testid=allow]").click()

    # The dataset: what the demo's feedback made of it, who backs each answer, what trained on it.
    examples = page.locator("[data-testid=example]")
    examples.first.wait_for()
    assert page.url == f"{sandbox.bot_url}/review/"
    assert page.locator("[data-testid=signed-in-as]").inner_text() == "you"
    total = examples.count()
    assert total >= 4
    _shot(page, "review-01-dataset")
    page.select_option("select[name=adapter]", promoted)
    page.locator("[data-testid=filter]").click()
    page.wait_for_url("**adapter=*")
    trained = page.locator("[data-testid=example]")
    assert 0 < trained.count() < total
    assert all(promoted in t for t in page.locator("[data-testid=trained-by]").all_inner_texts())

    # Exclude one the adapter trained on: marked, audited, and out of the next snapshot.
    row = trained.first
    key = row.get_attribute("data-key")
    row.locator("[data-testid=exclude]").click()
    row = page.locator(f"[data-testid=example][data-key='{key}']")
    row.locator("[data-testid=excluded-note]").wait_for()
    assert "excluded by you" in row.inner_text()
    assert key in page.locator("[data-testid=events]").inner_text()
    _shot(page, "review-02-excluded")

    # A candidate the gate rejects (the policy asks for an impossible improvement), trained without it.
    strict = runtime.cycle.policies.promotion.model_copy(update={"min_relative_improvement": 10.0})
    runtime.cycle.policies = runtime.cycle.policies.model_copy(update={"promotion": strict})
    rejected = _cycle(runtime, "rejected")
    with runtime.db.session() as session:
        adapters = {a.label: a for a in session.scalars(select(Adapter))}
        run_dir = runtime.data_dir / "runs" / f"run-{adapters[rejected].training_run_id}" / "dataset"
        assert key in adapters[promoted].train_keys and key not in adapters[rejected].train_keys
    snapshot_keys = {
        json.loads(line)["key"]
        for name in ("train", "heldout")
        for line in (run_dir / f"{name}.jsonl").open()
    }
    assert key not in snapshot_keys and snapshot_keys

    # The timeline: both versions, the gate's numbers, the chart.
    page.locator("[data-testid=nav-adapters]").click()
    page.locator("[data-testid=adapters]").wait_for()
    statuses = {
        r.get_attribute("data-version"): r.locator(".tag").inner_text()
        for r in page.locator("[data-testid=adapter]").all()
    }
    assert statuses == {promoted: "live", rejected: "rejected"}
    chart = page.locator("[data-testid=chart]")
    assert chart.locator("circle[data-version]").count() == 2
    _shot(page, "review-03-adapters")

    # Each candidate's held-out answers beside its baseline's, with what the guard measured.
    for version, status in ((promoted, "live"), (rejected, "rejected")):
        page.locator(f"[data-testid=adapter][data-version={version}] a").click()
        page.locator("[data-testid=answers]").wait_for()
        assert page.locator("[data-testid=status]").inner_text() == status
        answers = page.locator("[data-testid=answer]")
        stored = adapters[version].heldout_answers
        heldout = runtime.data_dir / "runs" / f"run-{adapters[version].training_run_id}" / "dataset"
        rows = [json.loads(line) for line in (heldout / "heldout.jsonl").open()]
        assert [a["key"] for a in stored] == [r["key"] for r in rows] and rows
        assert [a["reference"] for a in stored] == [r["completion"][-1]["content"] for r in rows]
        assert answers.count() == len(stored) == adapters[version].heldout_examples
        for answer, shown in zip(stored, answers.all(), strict=True):
            cells = shown.locator("td").all_inner_texts()
            assert cells[:2] == [answer["question"], answer["reference"]]
            assert cells[2].startswith("right" if answer["candidate_right"] else "wrong")
            assert answer["candidate"].strip() in cells[2] and answer["baseline"].strip() in cells[3]
        assert page.locator("[data-testid=guard]").inner_text() != ""
        _shot(page, f"review-04-{version}")
        page.locator("[data-testid=nav-adapters]").click()
    assert "rejected" in adapters[rejected].decision or "not" in adapters[rejected].decision
