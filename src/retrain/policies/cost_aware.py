"""`cost_aware`: retrain when the expected gain of a retrain is worth more than it costs.

Gain = the decay `policy.cost_aware.source` measures (`estimated`: without labels; `decay`: on
the newest labels) in points (0.01 of the metric's units) x `usd_per_point` x `horizon` periods
(how long a retrain's recovery is expected to pay). Cost = the measured cost of one retrain
(metrics/cost/*.json summed by the monitor, the replay's measured retrains in a replay), else
`retrain_usd`; with neither it does not guess and does not fire.
"""

from __future__ import annotations

from retrain.artifacts import PolicyDecision
from retrain.policies.base import POINT, POLICIES, PolicyContext, decision, register


@register("cost_aware")
def cost_aware(context: PolicyContext) -> PolicyDecision:
    settings = context.params.policy.cost_aware
    source = POLICIES[settings.source](context)
    estimated = settings.source == "estimated"
    amount = source.evidence.get("decay")
    cost = context.retrain_usd if context.retrain_usd is not None else settings.retrain_usd
    if not isinstance(amount, int | float):
        return decision(
            "cost_aware", False, f"{settings.source}: {source.reason}", estimated=estimated
        )
    gain = max(0.0, float(amount)) / POINT * settings.usd_per_point * settings.horizon
    if cost is None:
        return decision(
            "cost_aware",
            False,
            "no measured retrain cost yet (metrics/cost/*.json) and no policy.cost_aware."
            "retrain_usd",
            estimated=estimated,
            decay=amount,
            gain_usd=gain,
        )
    fired = gain > cost
    return decision(
        "cost_aware",
        fired,
        f"expected gain ${gain:.4f} ({amount:.4f} {source.evidence.get('metric', '')} x "
        f"{settings.horizon} periods) vs retrain cost ${cost:.4f}; {source.reason}",
        estimated=estimated,
        event_type="performance-degraded",
        score=gain - cost,
        source=settings.source,
        decay=amount,
        gain_usd=gain,
        cost_usd=cost,
        estimate=source.evidence.get("estimate", source.evidence.get("realised")),
    )
