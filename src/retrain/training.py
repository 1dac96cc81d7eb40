"""Train: check the data, run the AutoML search, refit the winner, summarise (pure; no files)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retrain.artifacts import (
    EnsembleInfo,
    EnsembleMember,
    Leaderboard,
    LeaderboardRow,
    RefitInfo,
    SearchSummary,
)
from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.search.study import SearchResult, SearchSettings
    from retrain.search.tracker import Tracker


@dataclass(frozen=True)
class TrainOutcome:
    model: Any  # fitted sklearn Pipeline
    result: SearchResult
    refit_s: float
    search: SearchSummary  # search.json
    leaderboard: Leaderboard  # leaderboard.json


def check_training_data(frame: pd.DataFrame, settings: SearchSettings) -> None:
    """Every reason the search could not produce a sound model, raised before any fit."""
    import numpy as np
    import pandas as pd

    from retrain.search.study import check_search_space, make_folds

    label = settings.label
    if frame.empty:
        raise UserError(
            "the train set is empty",
            "check prepare.train_window against the extracted window (extract.window)",
        )
    if label not in frame.columns:
        raise UserError(
            f"the train table has no {label!r} column", "re-run prepare, which derives it"
        )
    target = frame[label]
    n_missing = int(target.isna().sum())
    if n_missing:
        raise UserError(
            f"the target {label!r} has {n_missing} missing value(s) (NaN) in the train set",
            "drop rows without a known outcome in prepare, or fix base.target",
        )
    if not pd.api.types.is_numeric_dtype(target):
        raise UserError(
            f"the target {label!r} is {target.dtype}, not numeric",
            "prepare must write 0/1 (classification) or numbers (regression)",
        )
    if settings.task == "classification":
        levels = sorted(pd.unique(target).tolist())
        if not set(levels) <= {0, 1}:
            raise UserError(
                f"classification needs a 0/1 target; {label!r} holds {levels[:6]}",
                "set base.positive_above, or base.task: regression for a numeric target",
            )
        if len(levels) < 2:
            raise UserError(
                f"the target {label!r} has a single class ({levels[0]}) in the train set",
                "widen prepare.train_window or change base.positive_above so both classes occur",
            )
    elif settings.task == "multiclass":
        levels = sorted(pd.unique(target).tolist())
        expected = list(range(settings.n_classes or 0))
        if levels != expected:
            absent = sorted(set(expected) - set(levels))
            raise UserError(
                f"multiclass needs every class of base.classes in the train set; class "
                f"code(s) {absent or levels[:6]} {'are absent' if absent else 'are unknown'}",
                "widen prepare.train_window (or give more rows), or remove a class that never "
                "occurs from base.classes",
            )
    elif not np.isfinite(target.to_numpy(dtype=float)).all():
        raise UserError(
            f"the target {label!r} has infinite values", "clean the target column in prepare"
        )
    if settings.event_time and settings.event_time not in frame.columns:
        raise UserError(
            f"the train table has no {settings.event_time!r} column (base.event_time)",
            "set base.event_time: null for data without time (CV is then a seeded shuffled K-fold)",
        )
    check_search_space(settings)
    folds = make_folds(frame, settings)
    if settings.task == "multiclass":
        y = target.to_numpy()
        for fold in folds:
            if len(np.unique(y[fold.train_rows])) < len(np.unique(y)):
                raise UserError(
                    f"CV fold {fold.index} (validating {fold.valid_period}) trains without "
                    "some class",
                    "use fewer train.cv.folds or a longer train.cv.period",
                )
    if settings.task == "classification":
        y = target.to_numpy()
        for fold in folds:
            for part, rows in (("train", fold.train_rows), ("validation", fold.valid_rows)):
                if len(np.unique(y[rows])) < 2:
                    raise UserError(
                        f"CV fold {fold.index} ({part} part, validating {fold.valid_period}) "
                        "has a single class",
                        "use fewer train.cv.folds or a longer train.cv.period",
                    )


def _time_bounds(frame: pd.DataFrame, column: str | None) -> tuple[str | None, str | None]:
    import pandas as pd

    if not column or column not in frame.columns:
        return None, None
    stamps = pd.to_datetime(frame[column], utc=True)
    return stamps.min().isoformat(), stamps.max().isoformat()


def require_shared_study(settings: SearchSettings, flag: str) -> None:
    """`--search-only` and `--finalize` are about a study other processes share."""
    if settings.train.storage is None:
        raise UserError(
            f"{flag} works on a shared study, but train.storage is null (an in-memory study "
            "ends with its process)",
            "set train.storage (e.g. postgresql+psycopg://user@host/db) for the workers and the "
            f"finalize step, or drop {flag}",
        )


def search_only(
    frame: pd.DataFrame, settings: SearchSettings, tracker: Tracker | None = None
) -> SearchResult:
    """A worker of a shared study: check, run its share of trials, no decision to keep.

    The result it returns is the study's state when this worker stopped; the model is chosen
    and refit once by `train(..., finalize=True)` after every worker has finished.
    """
    from retrain.search.study import run_search

    require_shared_study(settings, "--search-only")
    check_training_data(frame, settings)
    return run_search(frame, settings, tracker, reserve_refit=False)


def train(
    frame: pd.DataFrame,
    settings: SearchSettings,
    tracker: Tracker | None = None,
    *,
    finalize: bool = False,
    started: float | None = None,
) -> TrainOutcome:
    """The pure core: check, search, refit the best on the whole window, summarise.

    `finalize`: run no trial; decide from all finished trials of the shared study
    (`train.storage`) that `search_only` workers filled, and refit that once.
    `started` (time.monotonic()): when the stage's `train.budget.seconds` began (default now);
    the search stops early enough for the refit to end within it (`retrain.search.budget`).
    """
    from retrain.search.study import finalize_search, fit_best, plan_model, run_search

    started = time.monotonic() if started is None else started
    deadline = started + settings.train.budget.seconds
    check_training_data(frame, settings)
    if finalize:
        result = finalize_search(frame, settings)
    else:
        result = run_search(frame, settings, tracker, stage_deadline=deadline)
    refit_started = time.monotonic()
    available_s = deadline - refit_started
    result, plan = plan_model(result, settings, n_rows=len(frame), available_s=available_s)
    model = fit_best(frame, settings, result, rows=plan.rows)
    refit_s = time.monotonic() - refit_started
    train_start, train_end = _time_bounds(frame, settings.event_time)
    best = result.best
    ensemble = result.ensemble
    search = SearchSummary(
        task=settings.task,
        primary_metric=result.primary_metric,
        greater_is_better=result.greater_is_better,
        best_family=best.family,
        best_params=best.params,
        best_trial=best.number,
        # The model written is the ensemble when one was selected; cv_* and threshold are its.
        model="ensemble" if ensemble else "single",
        ensemble=(
            EnsembleInfo(
                members=[
                    EnsembleMember(
                        trial=t.number, family=t.family, params=t.params, cv_score=t.cv_score
                    )
                    for t in (result.trial(n) for n in ensemble.members)
                ],
                best_single_cv_score=best.cv_score,
            )
            if ensemble
            else None
        ),
        cv_score=result.cv_score,
        cv_fold_scores=result.cv_fold_scores,
        cv_folds=result.folds,
        threshold=result.threshold,
        n_trials=len(result.trials),
        n_pruned=result.n_pruned,
        n_trials_this_worker=len(result.local_trials),
        stopped_by=result.stopped_by,
        search_s=round(result.search_s, 3),
        refit_s=round(refit_s, 3),
        elapsed_s=round(time.monotonic() - started, 3),
        budget_s=settings.train.budget.seconds,
        refit=RefitInfo(
            members=list(plan.members),
            dropped_members=list(plan.dropped),
            rows=plan.rows,
            reason=plan.reason,
            available_s=round(available_s, 3),
            estimate_s=round(plan.estimate_s, 3),
            actual_s=round(refit_s, 3),
        ),
        study_name=result.study_name,
        mlflow_run_id=getattr(tracker, "run_id", None),
        train_start=train_start,
        train_end=train_end,
        n_train=len(frame),
    )
    leaderboard = Leaderboard(
        primary_metric=result.primary_metric,
        greater_is_better=result.greater_is_better,
        trials=[
            LeaderboardRow.model_validate(row)
            for row in result.leaderboard(settings.train.leaderboard_size)
        ],
    )
    return TrainOutcome(model, result, refit_s, search, leaderboard)
