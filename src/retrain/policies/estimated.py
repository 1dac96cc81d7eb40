"""`estimated`: the champion's performance estimated WITHOUT labels on the current period.

Classification: CBPE (`retrain.monitor.estimate`: isotonic calibration of the champion's scores
on labelled rows it never trained on — its test window and, by default, the labels that
arrived since (`policy.estimated.calibration`) — then the expected ROC AUC / Brier / log loss
on the current scores). Regression: direct loss estimation (a model of each row's squared or absolute error,
fitted on those rows). The interval is the label-sampling noise widened by the estimator's
own error, cross-fitted on the same rows (`policy.estimated.cross_fit_folds`). Fires when the
estimated decay is at least the trigger and the whole `level` interval is worse than the
registered value. Concept drift (P(label | score) moving) it sees only as fast as labels
arrive: the realised `decay` check stays the backstop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrain.artifacts import PolicyDecision
from retrain.errors import UserError
from retrain.policies.base import (
    PolicyContext,
    Sample,
    decay_of,
    decision,
    register,
    trigger_of,
)

if TYPE_CHECKING:
    from retrain.monitor.estimate import Estimate


def estimate_current(context: PolicyContext) -> Estimate:
    """The champion's primary metric on the current rows, estimated from the reference."""
    from retrain.monitor.estimate import (
        calibrate,
        cross_fit_errors,
        estimate_classification,
        estimate_direct_loss,
        fit_direct_loss,
    )

    settings = context.params.policy.estimated
    ref, cur = calibration_of(context), context.current
    if ref is None or ref.labels is None or cur is None:
        raise UserError(
            "the estimated policy needs the champion's labelled reference and current rows",
            "register the champion with its test window (train_start/test_end tags)",
        )
    folds = settings.cross_fit_folds
    if context.task == "classification":
        calibrator = calibrate(ref.scores, ref.labels, settings.min_reference_rows)
        errors = None
        if folds:
            errors = cross_fit_errors(
                context.metric,
                ref.scores,
                ref.labels,
                folds=folds,
                order=reference_times(context),
                seed=context.seed,
                min_rows=settings.min_reference_rows,
            )
        return estimate_classification(
            context.metric,
            calibrator,
            cur.scores,
            level=settings.level,
            draws=settings.draws,
            seed=context.seed,
            errors=errors,
        )
    if context.task == "regression":
        columns = loss_inputs(context)
        model = fit_direct_loss(
            context.metric,
            ref.labels,
            ref.scores,
            None if ref.features is None else ref.features[columns],
            seed=context.seed,
            min_rows=settings.min_reference_rows,
            folds=folds or 3,
            order=reference_times(context),
        )
        current = None if cur.features is None else cur.features[columns]
        return estimate_direct_loss(
            model, cur.scores, current, level=settings.level, cross_fit=bool(folds)
        )
    raise UserError(
        f"no label-free estimate for base.task {context.task!r}",
        "use the decay or drift policy for multiclass models",
    )


def calibration_of(context: PolicyContext) -> Sample | None:
    """The labelled rows the estimator is calibrated on: with `policy.estimated.calibration:
    labelled`, the champion's test window and the labels that arrived since (when the caller
    has them, labelled and at least min_reference_rows); else its test window alone."""
    settings = context.params.policy.estimated
    rows = context.calibration
    usable = (
        rows is not None and rows.labels is not None and len(rows) >= settings.min_reference_rows
    )
    return rows if settings.calibration == "labelled" and usable else context.reference


def reference_times(context: PolicyContext) -> object:
    """The calibration rows' event times (cross-fitting's blocks follow them), or None: a table
    without a time column, or rows without their columns (blocks are a seeded shuffle)."""
    ref, column = calibration_of(context), context.params.base.event_time
    if ref is None or ref.features is None or column is None or column not in ref.features:
        return None
    # ranks, not the values: any time type (tz-aware, numeric) sorts the same, missing last
    return ref.features[column].rank(method="first", na_option="bottom").to_numpy()


def loss_inputs(context: PolicyContext) -> list[str]:
    """Input columns of the direct-loss model: those both windows have, never the target, the
    label, the row identity, the event time, or what the monitor / prepare leave out (outcome
    columns known only after the fact)."""
    ref, cur = calibration_of(context), context.current
    if ref is None or cur is None or ref.features is None or cur.features is None:
        return []
    params = context.params
    base = params.base
    banned = {base.target, "label", base.key_column, base.event_time}
    banned |= set(params.monitor.exclude) | set(params.prepare.drop_columns)
    return [c for c in ref.features.columns if c in cur.features.columns and c not in banned]


@register("estimated")
def estimated(context: PolicyContext) -> PolicyDecision:
    from retrain.metrics import greater_is_better

    settings = context.params.policy.estimated
    if context.registered is None:
        return decision("estimated", False, "no registered value to compare with", estimated=True)
    found = estimate_current(context)
    metric, registered = context.metric, context.registered
    amount = decay_of(metric, registered, found.value)
    trigger = trigger_of(metric, registered, settings.decay, settings.decay_relative)
    # the interval's most favourable end is still worse than registered
    best = found.high if greater_is_better(metric) else found.low
    beyond_noise = decay_of(metric, registered, best) > 0
    fired = bool(amount >= trigger and beyond_noise)
    return decision(
        "estimated",
        fired,
        f"estimated {metric} {found.value:.4f} [{found.low:.4f}, {found.high:.4f}] on "
        f"{found.n_rows} unlabelled rows vs registered {registered:.4f}: decay {amount:.4f} "
        f"(trigger {trigger:.4f})",
        estimated=True,
        event_type="performance-degraded",
        score=amount,
        metric=metric,
        registered=registered,
        estimate=found.value,
        low=found.low,
        high=found.high,
        level=found.level,
        decay=amount,
        trigger=trigger,
        n=found.n_rows,
        calibration_rows=len(calibration_of(context) or ()),
    )
