"""The AutoML search: Optuna TPE over model families, scored by time-ordered CV.

Pure API (no file I/O) so other parts can call it with their own budget:

    settings = SearchSettings.from_params(params)
    result = run_search(train_df, settings, tracker)   # -> SearchResult
    model = fit_best(train_df, settings, result)       # whole-window refit, a Pipeline

Budget: `train.budget.trials` trials run by this process and `train.budget.seconds` of search,
whichever comes first. Optuna starts no trial after the deadline, and a running trial stops at
its next fold boundary (recorded as pruned, reason `budget`) — except while no trial has
completed yet, so there is always a model. The refit is not part of the search seconds; it is
measured and reported separately (search.json `refit_s`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrain.config.train import FamilySpec, ParamSpec, TrainSection
from retrain.errors import UserError
from retrain.search import families as fam
from retrain.search.cv import Fold, time_folds
from retrain.search.ensemble import Ensemble, select_ensemble, voting_model
from retrain.search.metrics import GREATER_IS_BETTER, best_f1_threshold, score
from retrain.search.tracker import NullTracker, Tracker

log = logging.getLogger("retrain.train")


@dataclass(frozen=True)
class SearchSettings:
    """Everything the search reads: the train section plus the shared base settings."""

    train: TrainSection
    task: str = "classification"
    seed: int = 42
    key: str | None = "flight_id"
    event_time: str | None = "event_time"
    label: str = "label"
    # Distinct workers sharing one study get distinct sampler seeds (else they would propose
    # the same startup trials).
    worker: int = 0

    @classmethod
    def from_params(cls, params: Any, worker: int = 0) -> SearchSettings:
        return cls(
            train=params.train,
            task=params.base.task,
            seed=params.base.seed,
            key=params.base.key,
            event_time=params.base.event_time,
            worker=worker,
        )

    @property
    def primary_metric(self) -> str:
        return getattr(self.train.metric, self.task)

    @property
    def greater_is_better(self) -> bool:
        return GREATER_IS_BETTER[self.primary_metric]

    def enabled_families(self) -> dict[str, FamilySpec]:
        return {name: spec for name, spec in self.train.families.items() if spec.enabled}


@dataclass(frozen=True)
class TrialRecord:
    number: int
    family: str
    params: dict[str, Any]
    fold_scores: list[float]
    cv_score: float | None  # mean over folds run (all folds when complete)
    fit_time_s: float
    state: str  # complete | pruned | failed
    threshold: float | None = None
    pruned_reason: str | None = None  # median (weak on early folds) | budget
    worker: int = 0


@dataclass(frozen=True)
class SearchResult:
    primary_metric: str
    greater_is_better: bool
    study_name: str
    best: TrialRecord
    trials: list[TrialRecord]  # every trial of the study (all workers), in number order
    local_trials: list[int]  # numbers of the trials this process ran
    search_s: float
    stopped_by: str  # trials | seconds
    folds: list[str] = field(default_factory=list)  # validation period of each fold
    columns: fam.FeatureColumns | None = None
    ensemble: Ensemble | None = None  # set when a soft vote beat the best trial on CV

    def trial(self, number: int) -> TrialRecord:
        return next(t for t in self.trials if t.number == number)

    # The model fit_best returns is the ensemble when there is one: these describe it.
    @property
    def cv_score(self) -> float | None:
        return self.ensemble.cv_score if self.ensemble else self.best.cv_score

    @property
    def cv_fold_scores(self) -> list[float]:
        return self.ensemble.fold_scores if self.ensemble else self.best.fold_scores

    @property
    def threshold(self) -> float | None:
        return self.ensemble.threshold if self.ensemble else self.best.threshold

    @property
    def n_pruned(self) -> int:
        return sum(t.state == "pruned" for t in self.trials)

    def leaderboard(self, size: int) -> list[dict[str, Any]]:
        """Complete trials by CV score, then pruned ones by their partial score; top `size`."""
        sign = -1.0 if self.greater_is_better else 1.0

        def key(t: TrialRecord) -> tuple[int, float, int]:
            partial = t.cv_score if t.cv_score is not None else float("inf") * -sign
            return (t.state != "complete", sign * partial, t.number)

        ranked = sorted((t for t in self.trials if t.state != "failed"), key=key)[:size]
        return [
            {
                "rank": rank,
                "number": t.number,
                "family": t.family,
                "params": t.params,
                "cv_score": t.cv_score,
                "fold_scores": t.fold_scores,
                "fit_time_s": round(t.fit_time_s, 3),
                "state": t.state,
            }
            for rank, t in enumerate(ranked, start=1)
        ]


def check_search_space(settings: SearchSettings) -> None:
    """Reject parameters the estimators do not have; before any training."""
    for name, spec in settings.enabled_families().items():
        fam.check_family(name, spec, settings.task)


def split_xy(frame: Any, settings: SearchSettings) -> tuple[Any, Any]:
    return frame.drop(columns=[settings.label]), frame[settings.label].to_numpy()


def columns_for(frame: Any, settings: SearchSettings) -> fam.FeatureColumns:
    exclude = {settings.label, *settings.train.exclude_columns}
    if settings.key:
        exclude.add(settings.key)
    return fam.feature_columns(
        frame,
        exclude=exclude,
        event_time=settings.event_time,
        calendar=settings.train.calendar_features,
        max_categories=settings.train.max_categories,
    )


def make_folds(frame: Any, settings: SearchSettings) -> list[Fold]:
    times = frame[settings.event_time] if settings.event_time in frame.columns else None
    return time_folds(times, len(frame), settings.train.cv, settings.train.timezone)


def _suggest(trial: Any, name: str, dim: ParamSpec) -> Any:
    if dim.type == "categorical":
        return trial.suggest_categorical(name, dim.choices)
    if dim.type == "int":
        return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)  # type: ignore[arg-type]
    return trial.suggest_float(name, float(dim.low), float(dim.high), log=dim.log)  # type: ignore[arg-type]


def study_fingerprint(frame: Any, settings: SearchSettings) -> str:
    """Same data + same search definition -> same study; a new window starts a fresh one.

    A persistent storage would otherwise mix trials scored on last month's data into this
    month's search. The budget and the worker are left out so workers with different budgets
    still share the study.
    """
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    definition = settings.train.model_dump(mode="json", exclude={"budget", "storage"})
    digest.update(json.dumps([definition, settings.task, settings.seed], sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _record(trial: Any) -> TrialRecord:
    import optuna

    attrs = trial.user_attrs
    state = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
    }.get(trial.state, "failed")
    folds = list(attrs.get("fold_scores", []))
    return TrialRecord(
        number=trial.number,
        family=attrs.get("family") or trial.params.get("family", "?"),
        params=dict(attrs.get("params", {})),
        fold_scores=folds,
        cv_score=float(np.mean(folds)) if folds else None,
        fit_time_s=float(attrs.get("fit_time_s", 0.0)),
        state=state,
        threshold=attrs.get("threshold"),
        pruned_reason=attrs.get("pruned_reason"),
        worker=int(attrs.get("worker", 0)),
    )


def _storage(url: str | None) -> Any:
    import optuna

    if url is None:
        return None
    if url.startswith("sqlite"):
        # Several workers write one sqlite file: wait for its lock instead of failing.
        kwargs: dict[str, Any] = {"engine_kwargs": {"connect_args": {"timeout": 60}}}
    else:
        kwargs = {}
    # Workers starting at the same instant race to create the schema; the loser sees the
    # winner's rows (IntegrityError) and simply connects again to the now-created schema.
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:
            # The race shows as a duplicate row or as "table ... already exists".
            racing = "IntegrityError" in type(exc).__name__ or "already exists" in str(exc)
            if not racing or attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def run_search(
    train_df: Any, settings: SearchSettings, tracker: Tracker | None = None
) -> SearchResult:
    """Run the Optuna study on `train_df` (prepared rows with the label column)."""
    import optuna
    from optuna.trial import TrialState
    from threadpoolctl import threadpool_limits

    tracker = tracker or NullTracker()
    check_search_space(settings)
    columns = columns_for(train_df, settings)
    folds = make_folds(train_df, settings)
    X, y = split_xy(train_df, settings)
    metric, task, seed = settings.primary_metric, settings.task, settings.seed
    budget = settings.train.budget
    candidates = settings.enabled_families()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=seed + settings.worker,
        n_startup_trials=settings.train.startup_trials,
        constant_liar=settings.train.storage is not None,
    )
    pruner: Any = (
        optuna.pruners.MedianPruner(n_startup_trials=settings.train.pruning.startup_trials)
        if settings.train.pruning.enabled
        else optuna.pruners.NopPruner()
    )
    study_name = f"{settings.train.study_name}-{study_fingerprint(train_df, settings)}"
    study = optuna.create_study(
        storage=_storage(settings.train.storage),
        sampler=sampler,
        pruner=pruner,
        study_name=study_name,
        direction="maximize" if settings.greater_is_better else "minimize",
        load_if_exists=True,
    )
    if not study.trials:
        # Chosen families' own defaults first: a sane baseline, always measured.
        for name in settings.train.enqueue_defaults:
            if name not in candidates:
                continue
            spec = candidates[name]
            defaults = fam.default_params(name, spec, task)
            study.enqueue_trial({"family": name, **{f"{name}.{k}": v for k, v in defaults.items()}})

    started = time.monotonic()
    deadline = started + budget.seconds
    local: list[int] = []
    # Out-of-fold predictions of this process's complete trials, for ensemble selection.
    oof: dict[int, list[np.ndarray]] = {}

    def objective(trial: Any) -> float:
        family = trial.suggest_categorical("family", list(candidates))
        spec = candidates[family]
        searched = {k: _suggest(trial, f"{family}.{k}", d) for k, d in spec.space.items()}
        trial.set_user_attr("family", family)
        trial.set_user_attr("params", searched)
        trial.set_user_attr("worker", settings.worker)
        params = {**spec.fixed, **searched}
        scores: list[float] = []
        oof_true, oof_score = [], []
        fit_time = 0.0
        for fold in folds:
            if time.monotonic() > deadline and _any_complete(trial.study):
                _stop(trial, scores, fit_time, "budget")
            model = fam.build_pipeline(
                family,
                params,
                task=task,
                columns=columns,
                seed=seed,
                timezone=settings.train.timezone,
                n_jobs=settings.train.n_jobs,
            )
            t0 = time.perf_counter()
            model.fit(X.iloc[fold.train_rows], y[fold.train_rows])
            fit_time += time.perf_counter() - t0
            pred = fam.predict_scores(model, X.iloc[fold.valid_rows], task)
            scores.append(score(metric, y[fold.valid_rows], pred))
            oof_true.append(y[fold.valid_rows])
            oof_score.append(pred)
            trial.report(float(np.mean(scores)), step=fold.index)
            if fold.index < len(folds) - 1 and trial.should_prune():
                _stop(trial, scores, fit_time, "median")
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("fit_time_s", fit_time)
        if task == "classification":
            trial.set_user_attr(
                "threshold", best_f1_threshold(np.concatenate(oof_true), np.concatenate(oof_score))
            )
        oof[trial.number] = oof_score
        return float(np.mean(scores))

    def on_trial_end(study: Any, frozen: Any) -> None:
        local.append(frozen.number)
        record = _record(frozen)
        log.debug("trial %d %s %s %s", record.number, record.family, record.state, record.cv_score)
        tracker.log_trial(record, metric)

    # Fixed thread count: oversubscribed OpenMP spin-waits cost HGB 4x on a busy 2-core box.
    with threadpool_limits(limits=settings.train.n_jobs):
        study.optimize(
            objective,
            n_trials=budget.trials,
            timeout=budget.seconds,
            callbacks=[on_trial_end],
            show_progress_bar=sys.stderr.isatty(),
        )
    search_s = time.monotonic() - started
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    records = [_record(t) for t in study.get_trials(deepcopy=False, states=finished)]
    complete = [t for t in records if t.state == "complete"]
    if not complete:
        raise UserError(
            "no search trial completed", "raise train.budget.seconds or train.budget.trials"
        )
    best = _record(study.best_trial)
    ensemble = None
    if settings.train.ensemble.enabled:
        by_score = sorted(
            complete, key=lambda t: float(t.cv_score or 0.0), reverse=settings.greater_is_better
        )
        ranked = [t.number for t in by_score]
        options = settings.train.ensemble
        ensemble = select_ensemble(
            oof,
            [y[fold.valid_rows] for fold in folds],
            ranked,
            metric=metric,
            task=task,
            max_members=options.max_members,
            pool=options.pool,
            min_gain=options.min_gain,
        )
    return SearchResult(
        primary_metric=metric,
        greater_is_better=settings.greater_is_better,
        study_name=study_name,
        best=best,
        trials=records,
        local_trials=local,
        search_s=search_s,
        stopped_by="trials" if len(local) >= budget.trials else "seconds",
        folds=[f.valid_period for f in folds],
        columns=columns,
        ensemble=ensemble,
    )


def _any_complete(study: Any) -> bool:
    import optuna

    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _stop(trial: Any, scores: list[float], fit_time: float, reason: str) -> None:
    import optuna

    trial.set_user_attr("fold_scores", scores)
    trial.set_user_attr("fit_time_s", fit_time)
    trial.set_user_attr("pruned_reason", reason)
    raise optuna.TrialPruned(f"{reason} after {len(scores)} fold(s)")


def fit_best(train_df: Any, settings: SearchSettings, result: SearchResult) -> Any:
    """Refit the best configuration (or the selected ensemble) on the whole train window."""
    columns = result.columns or columns_for(train_df, settings)

    def pipeline(record: TrialRecord) -> Any:
        spec = settings.train.families[record.family]
        return fam.build_pipeline(
            record.family,
            {**spec.fixed, **record.params},
            task=settings.task,
            columns=columns,
            seed=settings.seed,
            timezone=settings.train.timezone,
            n_jobs=settings.train.n_jobs,
        )

    if result.ensemble:
        members = [result.trial(n) for n in result.ensemble.members]
        model = voting_model(
            [(f"trial_{t.number}_{t.family}", pipeline(t)) for t in members], settings.task
        )
    else:
        model = pipeline(result.best)
    X, y = split_xy(train_df, settings)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=settings.train.n_jobs):
        return model.fit(X, y)
