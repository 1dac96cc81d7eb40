"""Retrain policies, one module each, registered by name in `retrain.policies.base.POLICIES`."""

from retrain.artifacts import PolicyDecision
from retrain.errors import UserError
from retrain.policies import challenger, cost_aware, decay, drift, estimated, never, periodic
from retrain.policies.base import ALIASES, POLICIES, PolicyContext, Sample, canonical

__all__ = [
    "ALIASES",
    "POLICIES",
    "PolicyContext",
    "Sample",
    "challenger",
    "cost_aware",
    "decay",
    "decide",
    "drift",
    "estimated",
    "never",
    "periodic",
]


def decide(name: str, context: PolicyContext) -> PolicyDecision:
    """The decision of policy `name` (or an old alias of it) in `context`."""
    try:
        function = POLICIES[canonical(name)]
    except KeyError:
        raise UserError(
            f"unknown retrain policy {name!r}",
            f"use one of: {', '.join(POLICIES)} (policy.monitor / replay.policies)",
        ) from None
    return function(context)
