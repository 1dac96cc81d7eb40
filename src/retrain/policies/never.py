"""`never`: the first champion serves for ever (the baseline every policy must beat)."""

from __future__ import annotations

from retrain.artifacts import PolicyDecision
from retrain.policies.base import PolicyContext, decision, register


@register("never")
def never(context: PolicyContext) -> PolicyDecision:
    return decision("never", False, "policy never retrains")
