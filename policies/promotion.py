"""What makes a candidate win: the promotion policy applied to held-out scores."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from policies.schema import PromotionPolicy


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate: dict[str, Any], baseline: dict[str, Any], policy: PromotionPolicy) -> Decision:
    """Promote only if the candidate beats the baseline by the policy's margin on held-out NLL."""
    cand, base = candidate.get(policy.metric), baseline.get(policy.metric)
    examples = int(candidate.get("examples", 0))
    label = baseline.get("label", "baseline")
    if examples < policy.min_heldout_examples:
        return Decision(
            False,
            f"only {examples} held-out examples, the policy needs {policy.min_heldout_examples}",
        )
    if cand is None or not math.isfinite(cand):
        return Decision(False, f"candidate {policy.metric} is {cand}, not a number")
    if base is None or not math.isfinite(base):
        return Decision(True, f"{label} has no usable {policy.metric}; candidate scored {cand:.4f}")
    needed = base * (1 - policy.min_relative_improvement)
    change = (base - cand) / base if base else 0.0
    verdict = (
        f"{policy.metric} {cand:.4f} vs {label} {base:.4f} ({change:+.1%}; "
        f"needs ≤ {needed:.4f}, {policy.min_relative_improvement:.0%} better)"
    )
    return Decision(cand <= needed, verdict)
