"""`decay`: the champion's realised primary metric on the newest labelled rows vs its
registered value, with a bootstrap of those rows so noise does not fire it.

Fires when the decay (positive = worse) is at least the trigger (`policy.decay.decay` /
`decay_relative`, else the metric's default) AND the one-sided `level` bootstrap bound of the
decay is above zero: the champion is worse than registered beyond sampling noise. It needs
labels, so with a label delay it is late by that delay.
"""

from __future__ import annotations

from retrain.artifacts import PolicyDecision
from retrain.policies.base import PolicyContext, decay_of, decision, register, trigger_of


def bootstrap_values(
    metric: str, labels: object, scores: object, resamples: int, seed: int
) -> object:
    """The metric on `resamples` bootstrap resamples of the rows (the gate's weight matrices)."""
    import numpy as np

    from retrain.metrics import prepare_scores, weighted_values

    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    n, block, out = len(y), max(1, 2_000_000 // max(1, len(y))), []
    prepared = prepare_scores(y, s)
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        picks = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        w = np.bincount(picks.ravel(), minlength=b * n).reshape(b, n).astype(np.float32)
        out.append(weighted_values(metric, prepared, w))
    return np.concatenate(out)


@register("decay")
def decay(context: PolicyContext) -> PolicyDecision:
    import numpy as np

    from retrain.metrics import score

    settings = context.params.policy.decay
    rows = context.labelled
    if context.registered is None:
        return decision("decay", False, "no registered value to compare with")
    if rows is None or rows.labels is None or len(rows) < settings.min_rows:
        n = 0 if rows is None else len(rows)
        return decision("decay", False, f"{n} new labelled rows (needs {settings.min_rows})", n=n)
    labels = np.asarray(rows.labels)
    if context.task == "classification" and np.unique(labels).size < 2:
        return decision("decay", False, "the labelled rows hold one class only", n=len(rows))
    metric, registered = context.metric, context.registered
    value = score(metric, labels, rows.scores)
    amount = decay_of(metric, registered, value)
    trigger = trigger_of(metric, registered, settings.decay, settings.decay_relative)
    values = np.asarray(
        bootstrap_values(metric, labels, rows.scores, settings.resamples, context.seed)
    )
    values = values[np.isfinite(values)]
    decays = np.array([decay_of(metric, registered, v) for v in values])
    bound = float(np.quantile(decays, 1 - settings.level)) if len(decays) else float("nan")
    fired = bool(amount >= trigger and bound > 0)
    return decision(
        "decay",
        fired,
        f"{metric} {value:.4f} on {len(rows)} labelled rows vs registered {registered:.4f}: "
        f"decay {amount:.4f} (trigger {trigger:.4f}, {settings.level:.0%} bound {bound:.4f})",
        event_type="performance-degraded",
        score=amount,
        metric=metric,
        registered=registered,
        realised=value,
        decay=amount,
        trigger=trigger,
        decay_bound=bound,
        n=len(rows),
    )
