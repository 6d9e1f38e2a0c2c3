"""The rules tunebot follows, declared in one YAML file with a typed schema.

Nothing here imports the rest of tunebot; every other package reads its rules from here.
"""

from policies.loading import DEFAULT_POLICY_FILE, PolicyError, load_policies
from policies.schema import (
    AccessPolicy,
    FeedbackPolicy,
    Policies,
    PrivacyPolicy,
    PromotionPolicy,
    TrainingPolicy,
)

__all__ = [
    "DEFAULT_POLICY_FILE",
    "AccessPolicy",
    "FeedbackPolicy",
    "Policies",
    "PolicyError",
    "PrivacyPolicy",
    "PromotionPolicy",
    "TrainingPolicy",
    "load_policies",
]
