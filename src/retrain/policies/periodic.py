"""`periodic`: retrain every `policy.periodic.every` periods, whatever the data says."""

from __future__ import annotations

from retrain.artifacts import PolicyDecision
from retrain.policies.base import PolicyContext, decision, register


@register("periodic")
def periodic(context: PolicyContext) -> PolicyDecision:
    every = context.params.policy.periodic.every
    since = context.periods_since_retrain
    fired = since >= every
    return decision(
        "periodic",
        fired,
        f"{since} period(s) since the last retrain, retrain every {every}",
        event_type="data-updated",
        score=since,
        periods_since_retrain=since,
        every=every,
    )
