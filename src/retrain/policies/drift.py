"""`drift`: the monitor's rule (feature / prediction drift or realised decay, held for
`monitor.trigger.persistence` windows). The rule itself is `retrain.monitor.drift.decide`, the
monitor's pure core; this module only states it as a policy decision."""

from __future__ import annotations

from retrain.artifacts import PolicyDecision
from retrain.errors import UserError
from retrain.policies.base import PolicyContext, decision, register


@register("drift")
def drift(context: PolicyContext) -> PolicyDecision:
    if context.drift is None:
        raise UserError(
            "the drift policy needs the monitor's drift check", "run it through the monitor"
        )
    report, made = context.drift()
    perf = report.performance
    return decision(
        "drift",
        made.action == "retrain",
        made.reason,
        event_type=made.event_type,
        score=made.score,
        drift_share=report.drift_share,
        prediction_psi=None if report.prediction is None else report.prediction.score,
        decay=None if perf is None else perf.decay,
        drift_signal=made.drift_signal,
        prediction_signal=made.prediction_signal,
        decay_signal=made.decay_signal,
        consecutive=made.consecutive,
        persistence=made.required,
    )
