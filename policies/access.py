"""Who may run which /tune command."""

from __future__ import annotations

from dataclasses import dataclass

from policies.schema import AccessPolicy


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    reason: str


def may_run(policy: AccessPolicy, user_id: str, command: str) -> AccessDecision:
    rule = policy.commands.get(command, "admins")
    if rule == "everyone":
        return AccessDecision(True, "open to everyone")
    if rule == "nobody":
        return AccessDecision(False, f"`/tune {command}` is disabled by the access policy")
    if user_id in policy.admins:
        return AccessDecision(True, "admin")
    return AccessDecision(
        False, f"only tunebot admins may run `/tune {command}`; ask an admin listed in the policy"
    )
