"""`challenger`: train a cheap challenger each period and retrain for real only when it beats
the champion on the newest labelled period by a significant margin.

The challenger is one model of `policy.challenger.family` with its default params
(`train.families.<family>`: fixed + the space's defaults), seeded, fitted on the labelled
window before the newest labelled period (`PolicyContext.history`: in the monitor the labelled
rows from the champion's test window to the current window; without them, its test window)
within `seconds`. Both models score the newest labelled period (labels that arrived:
`label_delay` is respected by whoever builds the context); the gate's paired bootstrap (`retrain.gating.paired_bootstrap`) of the primary metric
gives the gain's one-sided `level` bound. Fires when the gain is at least the margin and the
bound is above zero. Its evidence: both metrics, the gain, its bound, the margin, the fit time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from retrain.artifacts import PolicyDecision
from retrain.policies.base import PolicyContext, decision, register

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import Params

BOOTSTRAP_BLOCK = 100  # resamples drawn per weight matrix (memory vs speed only)


def model_rows(frame: pd.DataFrame, params: Params) -> pd.DataFrame:
    """The rows as a model may see them: `label` kept, the raw target and the columns known
    only after the outcome (prepare.drop_columns) out, as prepare's split does."""
    base = params.base
    leak = {*params.prepare.drop_columns, base.target} - {"label"}
    return frame.drop(columns=[c for c in frame.columns if c in leak])


def fit_challenger(frame: pd.DataFrame, params: Params) -> tuple[Any, dict[str, Any]]:
    """One seeded model of the challenger family with its default params, fitted on `frame`
    (labelled, the `max_rows` most recent rows) within `seconds`: an estimator that can grow
    (warm_start with max_iter / n_estimators) grows in tenths and stops at the budget."""
    from threadpoolctl import threadpool_limits

    from retrain.search.families import build_pipeline, get_family
    from retrain.search.study import SearchSettings, columns_for, recent_rows, split_xy

    settings = params.policy.challenger
    search = SearchSettings.from_params(params)
    family = get_family(settings.family)
    family.estimator_class(params.base.task)  # UserError when the family lacks the task
    spec = params.train.families.get(settings.family)
    values = {} if spec is None else {**spec.fixed, **family.default_params(spec, search.task)}
    rows = recent_rows(model_rows(frame, params), search, settings.max_rows)
    pipeline = build_pipeline(
        settings.family,
        values,
        task=search.task,
        columns=columns_for(rows, search),
        seed=search.seed,
        timezone=search.train.timezone,
        n_jobs=search.train.n_jobs,
    )
    X, y = split_xy(rows, search)
    started = time.monotonic()
    estimator = pipeline.steps[-1][1]
    own = estimator.get_params()
    grow = next((p for p in ("max_iter", "n_estimators") if p in own), None)
    steps = 0
    with threadpool_limits(limits=search.train.n_jobs):
        if grow is None or "warm_start" not in own:
            pipeline.fit(X, y)
            steps = 1
        else:
            Xt = pipeline[:-1].fit_transform(X, y)
            total = int(own[grow])
            size = max(1, total // 10)
            done = 0
            while done < total:
                done = min(total, done + size)
                estimator.set_params(warm_start=True, **{grow: done})
                estimator.fit(Xt, y)
                steps += 1
                if getattr(estimator, "n_iter_", done) < done:  # early stopping ended it
                    break
                if time.monotonic() - started >= settings.seconds:
                    break
            estimator.set_params(warm_start=False)
    fit_s = time.monotonic() - started
    return pipeline, {"fit_s": fit_s, "fit_rows": len(rows), "fit_steps": steps}


@register("challenger")
def challenger(context: PolicyContext) -> PolicyDecision:
    import numpy as np

    from retrain.gating import paired_bootstrap
    from retrain.metrics import greater_is_better, score
    from retrain.monitor.drift import champion_scores

    settings = context.params.policy.challenger
    newest = context.labelled
    window = context.history if context.history is not None else context.reference
    if newest is None or newest.labels is None or newest.features is None:
        return decision("challenger", False, "no newly labelled period to compare on")
    if len(newest) < settings.min_rows:
        n = len(newest)
        return decision(
            "challenger", False, f"{n} new labelled rows (needs {settings.min_rows})", n=n
        )
    if window is None or window.labels is None or window.features is None:
        return decision("challenger", False, "no labelled window to train a challenger on")
    if len(window) < settings.min_rows:
        return decision(
            "challenger",
            False,
            f"{len(window)} labelled rows to train on (needs {settings.min_rows})",
            train_rows=len(window),
        )
    classification = context.task == "classification"
    y = np.asarray(newest.labels)
    for labels in (y, np.asarray(window.labels)):
        if classification and np.unique(labels).size < 2:
            return decision("challenger", False, "a labelled window holds one class only")
    train = window.features.assign(label=np.asarray(window.labels))
    model, fit = fit_challenger(train, context.params)
    metric = context.metric
    mine = champion_scores(model, newest.features, context.task)
    champion_value = score(metric, y, newest.scores)
    challenger_value = score(metric, y, mine)
    sign = 1.0 if greater_is_better(metric) else -1.0
    gain = sign * (challenger_value - champion_value)
    diffs = paired_bootstrap(
        metric,
        y,
        mine,
        np.asarray(newest.scores),
        resamples=settings.resamples,
        block=BOOTSTRAP_BLOCK,
        seed=context.seed,
    )
    gains = sign * diffs[np.isfinite(diffs)]
    low = float(np.quantile(gains, 1 - settings.level)) if len(gains) else float("nan")
    high = float(np.quantile(gains, settings.level)) if len(gains) else float("nan")
    margin = (
        settings.margin
        if settings.margin is not None
        else settings.margin_relative * abs(champion_value)
    )
    fired = bool(gain >= margin and low > 0)
    return decision(
        "challenger",
        fired,
        f"challenger {settings.family} {metric} {challenger_value:.4f} vs champion "
        f"{champion_value:.4f} on {len(newest)} newly labelled rows: gain {gain:.4f} "
        f"({settings.level:.0%} bound {low:.4f}, margin {margin:.4f}); fitted on "
        f"{fit['fit_rows']} rows in {fit['fit_s']:.1f} s",
        event_type="performance-degraded",
        score=gain,
        metric=metric,
        challenger=challenger_value,
        champion=champion_value,
        gain=gain,
        gain_low=low,
        gain_high=high,
        margin=margin,
        fit_s=fit["fit_s"],
        level=settings.level,
        family=settings.family,
        n=len(newest),
        train_rows=fit["fit_rows"],
        fit_steps=fit["fit_steps"],
    )
