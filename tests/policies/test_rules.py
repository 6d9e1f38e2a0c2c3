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
