"""Who may run which /tune command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from policies.schema import AccessPolicy


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str


def may_run(
    policy: AccessPolicy,
    user_id: str,
    command: str,
    in_group: Callable[[str, str], bool] | None = None,
) -> AccessDecision:
    """Whether `user_id` may run `/tune command`. Admins are user ids (U…) or user groups (S…), the
    latter checked with `in_group(group_id, user_id)` (Slack's usergroups.users.list)."""
    rule = policy.commands.get(command, "admins")
    if rule == "everyone":
        return AccessDecision(True, "open to everyone")
    if rule == "nobody":
        return AccessDecision(False, f"`/tune {command}` is disabled by the access policy")
    if user_id in policy.admins:
        return AccessDecision(True, "admin")
    groups = [g for g in policy.admins if g.startswith("S")]
    if in_group is not None and any(in_group(group, user_id) for group in groups):
        return AccessDecision(True, "admin (user group)")
    return AccessDecision(
        False, f"only tunebot admins may run `/tune {command}`; ask an admin listed in the policy"
    )
