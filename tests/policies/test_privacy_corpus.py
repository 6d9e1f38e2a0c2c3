"""The scrubber meets the privacy targets on the labelled corpus (accuracy only; speed is benchmarked).

The full benchmark with the throughput ratio is `python -m tests.bench.privacy`.
"""

from __future__ import annotations

from tests.bench.privacy import TARGETS, leaked, score, tunebot_scrubber
from tests.bench.privacy_corpus import Planted, business_facts, personal_data


def test_corpus_is_deterministic_and_labelled() -> None:
    first, again = personal_data(40, seed=3), personal_data(40, seed=3)
    assert [m.text for m in first] == [m.text for m in again]
    assert [m.text for m in personal_data(40, seed=4)] != [m.text for m in first]
    planted = [p for m in first for p in m.planted]
    assert len(planted) >= 40 and all(p.value in m.text for m in first for p in m.planted)
    assert all(p.fragments for p in planted)


def test_scorer_counts_a_surviving_fragment_as_a_leak() -> None:
    item = Planted("PERSON", "jane roe", ("jane", "roe"))
    assert leaked(item, "ask <PERSON_1> about it") is None
    assert leaked(item, "ask <PERSON_1> roe about it") == "roe"
    assert leaked(item, "ask <PERSON_1> about erode") is None  # whole words only


def test_scrubber_meets_recall_and_keeps_business_text() -> None:
    pii, facts = personal_data(300, seed=21), business_facts(150, seed=22)
    run = tunebot_scrubber()
    result, business = score(pii, run(pii)), score(facts, run(facts))
    secrets = sorted(e for e in result.total if Planted(e, "", ()).secret)
    assert result.recall(secrets) == TARGETS["secrets"], result.leaks
    assert result.recall() >= TARGETS["overall"], result.leaks
    assert result.recall(["PERSON"]) >= TARGETS["PERSON"], result.leaks
    assert business.kept_ratio >= TARGETS["business_kept"]


def test_with_the_member_list_people_are_caught_and_tools_and_places_kept() -> None:
    from tests.bench.privacy import members_of, precision

    pii = personal_data(300, seed=21)
    run = tunebot_scrubber(members_of(pii, 0.85))
    result = score(pii, run(pii))
    assert result.recall(["PERSON"]) >= TARGETS["PERSON"], result.leaks
    assert result.recall() >= TARGETS["overall"], result.leaks
    kept = precision(run, n=150)
    # The dev part's sentences (the check part is for the benchmark's report only).
    assert kept.unchanged["dev"] >= TARGETS["unchanged"], kept.changed["dev"]
    assert kept.names_kept >= 0.99, kept.names_lost
