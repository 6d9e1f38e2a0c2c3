from __future__ import annotations

import math

from policies.access import may_run
from policies.promotion import decide
from policies.schema import AccessPolicy, PromotionPolicy


def test_promotion_needs_the_margin() -> None:
    policy = PromotionPolicy(min_relative_improvement=0.05)
    base = {"heldout_nll": 2.0, "label": "live"}
    assert decide({"heldout_nll": 1.85, "examples": 3}, base, policy).promote
    assert not decide({"heldout_nll": 1.95, "examples": 3}, base, policy).promote
    assert not decide({"heldout_nll": 2.5, "examples": 3}, base, policy).promote


def test_promotion_refuses_nan_and_too_few_heldout() -> None:
    policy = PromotionPolicy(min_heldout_examples=2)
    base = {"heldout_nll": 2.0}
    assert not decide({"heldout_nll": math.nan, "examples": 5}, base, policy).promote
    refused = decide({"heldout_nll": 1.0, "examples": 1}, base, policy)
    assert not refused.promote and "needs 2" in refused.reason


def test_chrf_is_higher_is_better() -> None:
    policy = PromotionPolicy(metric="chrf", min_relative_improvement=0.1, confidence=0)
    base = {"chrf": 40.0, "label": "base"}
    assert decide({"chrf": 45.0, "examples": 3}, base, policy).promote
    assert not decide({"chrf": 42.0, "examples": 3}, base, policy).promote  # +5% < 10%
    assert not decide({"chrf": 30.0, "examples": 3}, base, policy).promote


def test_the_bootstrap_lower_bound_must_be_above_zero() -> None:
    """A mean that wins on one lucky example out of eight is not promoted; a steady gain is."""
    policy = PromotionPolicy(min_relative_improvement=0.01, confidence=0.9)
    base_losses = [2.0] * 8
    lucky = [2.05] * 7 + [0.2]  # mean 2.04 -> 1.82 only because of one example
    steady = [1.7, 1.8, 1.75, 1.9, 1.6, 1.85, 1.7, 1.8]
    base = {"heldout_nll": 2.0, "per_example": base_losses, "label": "live"}

    def candidate(losses: list[float]) -> dict[str, object]:
        return {"heldout_nll": sum(losses) / len(losses), "per_example": losses, "examples": 8}

    refused = decide(candidate(lucky), base, policy)
    assert not refused.promote and "not above zero" in refused.reason
    assert refused.numbers["interval"][0] <= 0 < refused.numbers["interval"][1]
    promoted = decide(candidate(steady), base, policy)
    assert promoted.promote, promoted.reason
    assert promoted.numbers["interval"][0] > 0
    # Turning the check off leaves the mean alone to decide.
    assert decide(candidate(lucky), base, policy.model_copy(update={"confidence": 0})).promote


def test_regression_guard_refuses_a_candidate_that_forgot_how_to_talk() -> None:
    policy = PromotionPolicy(confidence=0)
    base = {"heldout_nll": 2.0}
    good = {"heldout_nll": 1.0, "examples": 3}
    drifted = {"prompts": 8, "base_nll": 0.8, "candidate_nll": 1.6, "increase": 0.8}
    refused = decide(good, base, policy, drifted)
    assert not refused.promote
    assert "regression guard" in refused.reason and "+0.800" in refused.reason
    close = {"prompts": 8, "base_nll": 0.8, "candidate_nll": 1.0, "increase": 0.2}
    assert decide(good, base, policy, close).promote
    off = policy.model_copy(
        update={"regression_guard": policy.regression_guard.model_copy(update={"max_nll_increase": None})}
    )
    assert decide(good, base, off, drifted).promote


def test_access_by_command() -> None:
    policy = AccessPolicy(admins=["UADMIN"], commands={"status": "everyone", "run": "nobody"})
    assert may_run(policy, "UANY", "status").allowed
    assert not may_run(policy, "UADMIN", "run").allowed
    assert may_run(policy, "UADMIN", "rollback").allowed  # unlisted: admins only
    assert not may_run(policy, "UANY", "rollback").allowed


def test_admins_can_be_a_user_group() -> None:
    policy = AccessPolicy(admins=["U0ADMIN01", "S0OPS"])
    members = {"S0OPS": {"U0BOB0001"}}
    in_group = lambda group, user: user in members.get(group, set())  # noqa: E731
    assert may_run(policy, "U0BOB0001", "rollback", in_group).reason == "admin (user group)"
    assert not may_run(policy, "U0ALICE01", "rollback", in_group).allowed
    assert not may_run(policy, "U0BOB0001", "rollback").allowed  # no way to read groups: no entry
