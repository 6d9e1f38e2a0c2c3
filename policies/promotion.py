"""What makes a candidate win: the promotion policy applied to held-out scores.

Both models are scored on the same held-out examples. The candidate wins when its mean on the
policy's metric beats the baseline by the margin, the paired bootstrap's lower confidence bound of
the per-example improvement is above zero, and the regression guard holds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from policies.schema import PromotionPolicy

LOWER_IS_BETTER = {"heldout_nll": True, "chrf": False}
PER_EXAMPLE = {"heldout_nll": "per_example", "chrf": "per_example_chrf"}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)  # stored with the decision


def paired_interval(
    candidate: list[float], baseline: list[float], lower_is_better: bool, policy: PromotionPolicy
) -> tuple[float, float] | None:
    """Bootstrap confidence interval of the mean per-example improvement (positive: the candidate
    is better); None when there are fewer than two paired examples."""
    import numpy as np
    from scipy.stats import bootstrap

    pairs = [
        (c, b) for c, b in zip(candidate, baseline, strict=True) if math.isfinite(c) and math.isfinite(b)
    ]
    if len(pairs) < 2:
        return None
    gain = np.array([(b - c) if lower_is_better else (c - b) for c, b in pairs])
    if np.ptp(gain) == 0:  # every example improved by the same amount: nothing to resample
        return float(gain[0]), float(gain[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about small or degenerate samples
        result = bootstrap(
            (gain,),
            np.mean,
            confidence_level=1 - 2 * (1 - policy.confidence),  # one-sided lower bound at `confidence`
            n_resamples=policy.bootstrap_samples,
            method="percentile",
            random_state=0,
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def decide(
    candidate: dict[str, Any],
    baseline: dict[str, Any],
    policy: PromotionPolicy,
    regression: dict[str, Any] | None = None,
) -> Decision:
    """Promote only if the candidate beats the baseline by the policy's margin, with confidence,
    and keeps talking like the base model on the general prompts."""
    metric = policy.metric
    cand, base = candidate.get(metric), baseline.get(metric)
    examples = int(candidate.get("examples", 0))
    label = baseline.get("label", "baseline")
    numbers: dict[str, Any] = {"metric": metric, "candidate": cand, "baseline": base, "examples": examples}
    if examples < policy.min_heldout_examples:
        return Decision(
            False,
            f"only {examples} held-out examples, the policy needs {policy.min_heldout_examples}",
            numbers,
        )
    if cand is None or not math.isfinite(cand):
        return Decision(False, f"candidate {metric} is {cand}, not a number", numbers)
    guard = _guard(regression, policy)
    if guard is not None:
        return Decision(False, guard, {**numbers, "regression": regression})
    if base is None or not math.isfinite(base):
        return Decision(True, f"{label} has no usable {metric}; candidate scored {cand:.4f}", numbers)

    lower_is_better = LOWER_IS_BETTER[metric]
    margin = policy.min_relative_improvement
    needed = base * (1 - margin) if lower_is_better else base * (1 + margin)
    change = ((base - cand) if lower_is_better else (cand - base)) / abs(base) if base else 0.0
    wins = cand <= needed if lower_is_better else cand >= needed
    verdict = (
        f"{metric} {cand:.4f} vs {label} {base:.4f} ({change:+.1%} better; needs "
        f"{'≤' if lower_is_better else '≥'} {needed:.4f}, {margin:.0%} better)"
    )
    numbers.update({"improvement": change, "regression": regression})
    if policy.confidence > 0:
        key = PER_EXAMPLE[metric]
        interval = paired_interval(candidate.get(key, []), baseline.get(key, []), lower_is_better, policy)
        if interval is None:
            verdict += "; too few paired examples for a confidence interval"
        else:
            low, high = interval
            numbers["interval"] = [low, high]
            verdict += f"; per-example gain {policy.confidence:.0%} lower bound {low:+.4f}"
            if low <= 0:
                return Decision(False, verdict + " (not above zero: the gain may be chance)", numbers)
    if regression is not None and "increase" in regression:
        increase = regression["increase"]
        if isinstance(increase, float | int) and math.isfinite(increase):
            verdict += f"; general prompts NLL {increase:+.3f}"
        else:  # the base model gave no answers to the general prompts: nothing to compare
            verdict += "; general prompts: no base answers to compare (guard not measured)"
    return Decision(wins, verdict, numbers)


def _guard(regression: dict[str, Any] | None, policy: PromotionPolicy) -> str | None:
    """Why the regression guard refuses the candidate, or None."""
    limit = policy.regression_guard.max_nll_increase
    if limit is None or regression is None or not regression.get("prompts"):
        return None  # off, or the base model gave no answers to compare against
    increase = regression.get("increase")
    if increase is None or not math.isfinite(increase):
        return f"regression guard: the candidate's NLL on the general prompts is {increase}, not a number"
    if increase > limit:
        return (
            f"regression guard: on {regression.get('prompts')} general prompts the candidate's NLL of the "
            f"base model's answers is {regression['candidate_nll']:.3f} vs the base model's "
            f"{regression['base_nll']:.3f} (+{increase:.3f}, the policy allows +{limit})"
        )
    return None
