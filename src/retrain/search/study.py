"""The AutoML search: Optuna TPE over model families, scored by time-ordered CV.

Pure API (no file I/O) so other parts can call it with their own budget:

    settings = SearchSettings.from_params(params)
    result = run_search(train_df, settings, tracker)   # -> SearchResult
    model = fit_best(train_df, settings, result)       # whole-window refit, a Pipeline

Budget: `train.budget.trials` trials run by this process, and `train.budget.seconds` for the
whole stage, refit included, whichever comes first (`SearchResult.stopped_by` records which).
The search's own deadline moves after every complete trial: the stage deadline minus the
estimated refit of the likely model (`retrain.search.budget`). No trial starts after it, and a
running trial stops at a fold boundary when its next fold would end after it (recorded as
pruned, reason `budget`) — except while no trial has completed yet, so there is always a model.
`plan_model` then keeps the ensemble members (or the rows) whose refit fits the time left.

Several workers (processes or CI jobs) with the same `train.storage` share one study. Each
complete trial's out-of-fold predictions then go to the same database (`retrain.search.oofstore`),
so the decision — the best trial and the ensemble — is taken from *all* the study's trials, ties
broken by trial number: a pure function of the study's finished trials, whichever worker
finished last. `finalize_search` takes that decision after the workers, without running a trial
(`retrain train --finalize`).

The inputs are checked once, before the search, by `retrain.training.check_training_data`.
"""

from __future__ import annotations

import dataclasses
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
from retrain.metrics import best_f1_threshold, greater_is_better, score
from retrain.scoring import predict_scores
from retrain.search.budget import SAFETY, FitCost, RefitPlan, plan_refit, search_deadline
from retrain.search.cv import Fold, event_time_values, shuffled_folds, time_folds
from retrain.search.ensemble import Ensemble, select_ensemble, voting_model
from retrain.search.families import build_pipeline, get_family, refit_params
from retrain.search.oofstore import OofStore
from retrain.search.preprocess import FeatureColumns, feature_columns
from retrain.search.records import SearchResult, StopReason, TrialRecord
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
    # Multiclass: how many classes (base.classes); every one must be in the training rows so
    # every model's probability columns are the same classes in the same order.
    n_classes: int | None = None
    # Distinct workers sharing one study get distinct sampler seeds (else they would propose
    # the same startup trials).
    worker: int = 0

    @classmethod
    def from_params(cls, params: Any, worker: int = 0) -> SearchSettings:
        return cls(
            train=params.train,
            task=params.base.task,
            seed=params.base.seed,
            key=params.base.key_column,
            event_time=params.base.event_time,
            n_classes=len(params.base.classes) if params.base.classes else None,
            worker=worker,
        )

    @property
    def primary_metric(self) -> str:
        return getattr(self.train.metric, self.task)

    @property
    def greater_is_better(self) -> bool:
        return greater_is_better(self.primary_metric)

    def enabled_families(self) -> dict[str, FamilySpec]:
        return {name: spec for name, spec in self.train.families.items() if spec.enabled}


def check_search_space(settings: SearchSettings) -> None:
    """Reject parameters the estimators do not have; before any training.

    Run once, by `retrain.training.check_training_data` (with the other checks on the data),
    not again by `run_search`.
    """
    for name, spec in settings.enabled_families().items():
        get_family(name).check_space(spec, settings.task)


def split_xy(frame: Any, settings: SearchSettings) -> tuple[Any, Any]:
    """Model input and target. The row identity (base.key or the derived row_id) is not an
    input: the fitted Pipeline, and so the serving signature, never asks for it."""
    drop = [settings.label] + [c for c in (settings.key,) if c and c in frame.columns]
    return frame.drop(columns=drop), frame[settings.label].to_numpy()


def columns_for(frame: Any, settings: SearchSettings) -> FeatureColumns:
    exclude = {settings.label, *settings.train.exclude_columns}
    if settings.key:
        exclude.add(settings.key)
    return feature_columns(
        frame,
        exclude=exclude,
        event_time=settings.event_time,
        calendar=settings.train.calendar_features,
        max_categories=settings.train.max_categories,
    )


def make_folds(frame: Any, settings: SearchSettings) -> list[Fold]:
    if settings.event_time is None:
        return shuffled_folds(
            frame[settings.label],
            settings.train.cv,
            settings.seed,
            stratify=settings.task != "regression",
        )
    times = frame[settings.event_time] if settings.event_time in frame.columns else None
    return time_folds(times, len(frame), settings.train.cv, settings.train.timezone)


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


def run_search(
    train_df: Any,
    settings: SearchSettings,
    tracker: Tracker | None = None,
    *,
    stage_deadline: float | None = None,
    reserve_refit: bool = True,
) -> SearchResult:
    """Run the Optuna study on `train_df` (prepared rows with the label column).

    The inputs are expected to have passed `retrain.training.check_training_data` (search
    space, target, folds); `retrain.training.train` runs both in that order.
    `stage_deadline` (time.monotonic()): when the whole stage must be done; default now +
    `train.budget.seconds`. `reserve_refit`: leave the estimated refit's time before it (off
    for a `--search-only` worker, which refits nothing).
    """
    from threadpoolctl import threadpool_limits

    columns = columns_for(train_df, settings)
    folds = make_folds(train_df, settings)
    X, y = split_xy(train_df, settings)
    study = _open_study(train_df, settings)
    store = OofStore(settings.train.storage) if settings.train.storage else None
    budget = settings.train.budget
    started = time.monotonic()
    ensemble = settings.train.ensemble
    clock = _Deadline(
        stage=started + budget.seconds if stage_deadline is None else stage_deadline,
        n_rows=len(train_df) if reserve_refit else 0,
        max_members=ensemble.max_members if ensemble.enabled else 1,
        greater_is_better=settings.greater_is_better,
    )
    watch = _BudgetWatch(
        trials=budget.trials,
        deadline=clock,
        tracker=tracker or NullTracker(),
        metric=settings.primary_metric,
    )
    objective = _Objective(settings, columns, folds, X, y, deadline=clock, store=store)
    # Fixed thread count: oversubscribed OpenMP spin-waits cost HGB 4x on a busy 2-core box.
    with threadpool_limits(limits=settings.train.n_jobs):
        # The budget is enforced by `watch` (which records why it stopped); n_trials is the
        # same limit, for the progress bar.
        study.optimize(
            objective,
            n_trials=budget.trials,
            callbacks=[watch],
            show_progress_bar=sys.stderr.isatty(),
        )
    search_s = time.monotonic() - started
    return _decide(
        study,
        settings,
        store,
        local_oof=objective.oof,
        truth=[y[f.valid_rows] for f in folds],
        base=dict(
            local_trials=watch.local,
            search_s=search_s,
            stopped_by=watch.stopped_by or "other",
            folds=[f.valid_period for f in folds],
            columns=columns,
        ),
    )


def finalize_search(train_df: Any, settings: SearchSettings) -> SearchResult:
    """The decision of a shared study after its workers: no trial run, nothing sampled.

    The best trial and the ensemble come from every finished trial of the study (the
    out-of-fold predictions from `retrain.search.oofstore`); `fit_best` then refits once.
    """
    import optuna

    url = settings.train.storage
    if url is None:
        raise UserError(
            "--finalize needs a shared study, but train.storage is null",
            "set train.storage (e.g. postgresql+psycopg://user@host/db) for the workers and "
            "the finalize step",
        )
    name = f"{settings.train.study_name}-{study_fingerprint(train_df, settings)}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=_storage(url))
    except KeyError:
        raise UserError(
            f"no study {name!r} in train.storage: no worker searched this data with these params",
            "run the `retrain train --search-only --worker N` workers first, with the same "
            "train table and params.yaml",
        ) from None
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    if running:
        log.warning(
            "finalize: %d trial(s) still running (%s) are left out; finalize after the workers",
            len(running),
            ", ".join(str(t.number) for t in running),
        )
    columns = columns_for(train_df, settings)
    folds = make_folds(train_df, settings)
    _, y = split_xy(train_df, settings)
    return _decide(
        study,
        settings,
        OofStore(url),
        local_oof={},
        truth=[y[f.valid_rows] for f in folds],
        base=dict(
            local_trials=[],
            search_s=0.0,
            stopped_by="finalize",
            folds=[f.valid_period for f in folds],
            columns=columns,
        ),
    )


def _decide(
    study: Any,
    settings: SearchSettings,
    store: OofStore | None,
    *,
    local_oof: dict[int, list[np.ndarray]],
    truth: list[np.ndarray],
    base: dict[str, Any],
) -> SearchResult:
    """Best trial and ensemble from the study's finished trials (all workers' with a store)."""
    records, best = _finished(study, settings.greater_is_better)
    complete = [t for t in records if t.state == "complete"]
    if store is not None:
        oof = store.load(study.study_name, [t.number for t in complete])
        store.close()
    else:
        oof = local_oof
    return SearchResult(
        primary_metric=settings.primary_metric,
        greater_is_better=settings.greater_is_better,
        study_name=study.study_name,
        best=best,
        trials=records,
        ensemble=_choose_ensemble(complete, oof, truth, settings),
        **base,
    )


# --- the study --------------------------------------------------------------------------------


def _open_study(train_df: Any, settings: SearchSettings) -> Any:
    """The study for this data and search definition: created (defaults enqueued) or joined."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(
        seed=settings.seed + settings.worker,
        n_startup_trials=settings.train.startup_trials,
        constant_liar=settings.train.storage is not None,
    )
    pruner: Any = (
        optuna.pruners.MedianPruner(n_startup_trials=settings.train.pruning.startup_trials)
        if settings.train.pruning.enabled
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=_storage(settings.train.storage),
        sampler=sampler,
        pruner=pruner,
        study_name=f"{settings.train.study_name}-{study_fingerprint(train_df, settings)}",
        direction="maximize" if settings.greater_is_better else "minimize",
        load_if_exists=True,
    )
    # Worker 0 enqueues them, once per study: workers starting together would each see an empty
    # study and measure the same defaults twice (half of a small shared budget).
    if settings.worker == 0:
        _enqueue_defaults(study, settings)
    return study


def _enqueue_defaults(study: Any, settings: SearchSettings) -> None:
    """Chosen families' own defaults first: a sane baseline, always measured."""
    candidates = settings.enabled_families()
    for name in settings.train.enqueue_defaults:
        if name not in candidates:
            continue
        defaults = get_family(name).default_params(candidates[name], settings.task)
        study.enqueue_trial(
            {"family": name, **{f"{name}.{k}": v for k, v in defaults.items()}},
            skip_if_exists=True,  # already measured (or waiting) in this study
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


@dataclass
class _Deadline:
    """The stage deadline and the search's, which moves as complete trials are measured.

    The search must stop `SAFETY` x the estimated refit of the top `max_members` complete
    trials before the stage deadline (`retrain.search.budget.search_deadline`; `n_rows` 0: no
    refit to reserve for). It also predicts a fold's seconds from the measured ones.
    """

    stage: float  # time.monotonic() by which the stage is done
    n_rows: int  # rows the refit fits
    max_members: int
    greater_is_better: bool
    costs: dict[int, FitCost] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    fold_seconds: dict[str, list[float]] = field(default_factory=dict)  # family -> per fold
    search: float = 0.0

    def __post_init__(self) -> None:
        self.search = self.stage

    def add(self, record: TrialRecord) -> None:
        """A finished trial: its fold times, and when complete its refit cost and score."""
        if record.fold_scores and record.fit_time_s > 0:
            per_fold = record.fit_time_s / len(record.fold_scores)
            self.fold_seconds.setdefault(record.family, []).append(per_fold)
        if record.state != "complete" or record.cv_score is None:
            return
        self.costs[record.number] = FitCost(record.fit_time_s, record.fit_rows)
        self.scores[record.number] = record.cv_score
        sign = -1.0 if self.greater_is_better else 1.0
        ranked = sorted(self.scores, key=lambda n: (sign * self.scores[n], n))
        self.search = search_deadline(
            self.stage,
            ranked,
            self.costs,
            n_rows=self.n_rows,
            max_members=self.max_members,
            safety=SAFETY,
        )

    def fold_estimate(self, family: str, done: list[float]) -> float:
        """Expected seconds of a trial's next fold: its own folds' mean, else its family's
        median fold so far (0 when nothing is known yet)."""
        if done:
            return float(np.mean(done))
        known = self.fold_seconds.get(family)
        return float(np.median(known)) if known else 0.0


@dataclass
class _BudgetWatch:
    """Called after each of this process's trials: tracks it, and stops the study when the
    budget is spent, recording which budget (`train.budget.trials` first, as Optuna would)."""

    trials: int
    deadline: _Deadline  # no trial starts after deadline.search
    tracker: Tracker
    metric: str
    local: list[int] = field(default_factory=list)  # numbers of the trials this process ran
    stopped_by: StopReason | None = None

    def __call__(self, study: Any, frozen: Any) -> None:
        self.local.append(frozen.number)
        record = _record(frozen)
        log.debug("trial %d %s %s %s", record.number, record.family, record.state, record.cv_score)
        logging_started = time.monotonic()
        self.tracker.log_trial(record, self.metric)
        # Tracking a trial costs time too (an MLflow child run): the next one will not be free.
        overhead = time.monotonic() - logging_started
        self.deadline.add(record)
        if len(self.local) >= self.trials:
            self._stop(study, "trials")
        elif record.pruned_reason == "budget" or (
            time.monotonic() + overhead >= self.deadline.search
        ):
            self._stop(study, "seconds")

    def _stop(self, study: Any, reason: StopReason) -> None:
        self.stopped_by = reason
        study.stop()


# --- one trial --------------------------------------------------------------------------------


@dataclass
class _Objective:
    """One trial: a family and its params from the sampler, scored fold by fold.

    A trial stops early at a fold boundary when the median pruner says so (`median`) or when
    the deadline has passed and some trial of the study is complete (`budget`).
    """

    settings: SearchSettings
    columns: FeatureColumns
    folds: list[Fold]
    X: Any
    y: np.ndarray
    deadline: _Deadline
    # Where every worker of a shared study leaves its trials' out-of-fold predictions.
    store: OofStore | None = None
    # Out-of-fold predictions of this process's complete trials, for ensemble selection.
    oof: dict[int, list[np.ndarray]] = field(default_factory=dict)

    def __call__(self, trial: Any) -> float:
        family, params = self._configure(trial)
        scores: list[float] = []
        truth, predictions = [], []
        fit_time, fit_rows, fold_times, n_iter = 0.0, 0, [], []
        for fold in self.folds:
            expected = self.deadline.fold_estimate(family, fold_times)
            if time.monotonic() + expected > self.deadline.search and _any_complete(trial.study):
                _stop(trial, scores, fit_time, "budget", fit_rows)
            pred, seconds, iterations = self._fit_fold(family, params, fold)
            fit_time += seconds
            if iterations is not None:
                n_iter.append(iterations)
            fit_rows += len(fold.train_rows)
            fold_times.append(seconds)
            valid = self.y[fold.valid_rows]
            scores.append(score(self.settings.primary_metric, valid, pred))
            truth.append(valid)
            predictions.append(pred)
            trial.report(float(np.mean(scores)), step=fold.index)
            if fold.index < len(self.folds) - 1 and trial.should_prune():
                _stop(trial, scores, fit_time, "median", fit_rows)
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("fit_time_s", fit_time)
        trial.set_user_attr("fit_rows", fit_rows)
        trial.set_user_attr("n_iter", n_iter)
        if self.settings.task == "classification":
            threshold = best_f1_threshold(np.concatenate(truth), np.concatenate(predictions))
            trial.set_user_attr("threshold", threshold)
        self.oof[trial.number] = predictions
        if self.store is not None:
            self.store.save(trial.study.study_name, trial.number, predictions)
        return float(np.mean(scores))

    def _configure(self, trial: Any) -> tuple[str, dict[str, Any]]:
        """The sampled family and its params (`fixed` + searched); the searched ones are kept
        on the trial, which is how records and the refit find them."""
        candidates = self.settings.enabled_families()
        family = trial.suggest_categorical("family", list(candidates))
        spec = candidates[family]
        searched = {k: _suggest(trial, f"{family}.{k}", d) for k, d in spec.space.items()}
        trial.set_user_attr("family", family)
        trial.set_user_attr("params", searched)
        trial.set_user_attr("worker", self.settings.worker)
        return family, {**spec.fixed, **searched}

    def _fit_fold(
        self, family: str, params: dict[str, Any], fold: Fold
    ) -> tuple[Any, float, int | None]:
        """Fit on the fold's train rows; (scores on its validation rows, fit seconds, the
        boosting iterations it ran when the estimator has `n_iter_`)."""
        settings = self.settings
        model = build_pipeline(
            family,
            params,
            task=settings.task,
            columns=self.columns,
            seed=settings.seed,
            timezone=settings.train.timezone,
            n_jobs=settings.train.n_jobs,
        )
        t0 = time.perf_counter()
        model.fit(self.X.iloc[fold.train_rows], self.y[fold.train_rows])
        seconds = time.perf_counter() - t0
        iterations = getattr(model[-1], "n_iter_", None)
        iterations = int(iterations) if isinstance(iterations, int | np.integer) else None
        pred = predict_scores(model, self.X.iloc[fold.valid_rows], settings.task)
        return pred, seconds, iterations


def _suggest(trial: Any, name: str, dim: ParamSpec) -> Any:
    if dim.type == "categorical":
        return trial.suggest_categorical(name, dim.choices)
    if dim.type == "int":
        return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)  # type: ignore[arg-type]
    return trial.suggest_float(name, float(dim.low), float(dim.high), log=dim.log)  # type: ignore[arg-type]


def _any_complete(study: Any) -> bool:
    import optuna

    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _stop(trial: Any, scores: list[float], fit_time: float, reason: str, fit_rows: int) -> None:
    import optuna

    trial.set_user_attr("fold_scores", scores)
    trial.set_user_attr("fit_time_s", fit_time)
    trial.set_user_attr("fit_rows", fit_rows)
    trial.set_user_attr("pruned_reason", reason)
    raise optuna.TrialPruned(f"{reason} after {len(scores)} fold(s)")


# --- after the search -------------------------------------------------------------------------


def _record(trial: Any) -> TrialRecord:
    """An Optuna trial (this process's or another worker's) as a `TrialRecord`."""
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
        fit_rows=int(attrs.get("fit_rows", 0)),
        n_iter=[int(n) for n in attrs.get("n_iter", [])],
    )


def _finished(study: Any, greater_is_better: bool = True) -> tuple[list[TrialRecord], TrialRecord]:
    """Every finished trial of the study (all workers), and the best; at least one complete.

    The best is the top CV score, the lowest trial number among equal scores (Optuna's own
    `best_trial` leaves ties to the database's row order).
    """
    from optuna.trial import TrialState

    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    records = sorted(
        (_record(t) for t in study.get_trials(deepcopy=False, states=finished)),
        key=lambda t: t.number,
    )
    complete = [t for t in records if t.state == "complete"]
    if not complete:
        raise UserError(
            "no search trial completed", "raise train.budget.seconds or train.budget.trials"
        )
    sign = -1.0 if greater_is_better else 1.0
    return records, min(complete, key=lambda t: (sign * float(t.cv_score or 0.0), t.number))


def _choose_ensemble(
    complete: list[TrialRecord],
    oof: dict[int, list[np.ndarray]],
    truth: list[np.ndarray],
    settings: SearchSettings,
) -> Ensemble | None:
    """A soft vote of complete trials (with predictions in `oof`) when it beats the best one on
    CV. Ranked by CV score, then trial number: the same trials give the same choice in any order."""
    options = settings.train.ensemble
    if not options.enabled:
        return None
    sign = -1.0 if settings.greater_is_better else 1.0
    by_score = sorted(complete, key=lambda t: (sign * float(t.cv_score or 0.0), t.number))
    return select_ensemble(
        oof,
        truth,
        [t.number for t in by_score],
        metric=settings.primary_metric,
        task=settings.task,
        max_members=options.max_members,
        pool=options.pool,
        min_gain=options.min_gain,
    )


def plan_model(
    result: SearchResult, settings: SearchSettings, *, n_rows: int, available_s: float
) -> tuple[SearchResult, RefitPlan]:
    """Fit the refit into `available_s`: the result with the ensemble cut to the members whose
    refit fits (the best single trial when only it does), and the plan (rows to refit on).

    The floor on the rows is what a CV fold trained on (`train.cv.max_train_rows`), which is
    what the trials' scores measured."""
    members = result.ensemble.members if result.ensemble else (result.best.number,)
    trials = {n: result.trial(n) for n in members}
    plan = plan_refit(
        members,
        {n: FitCost(t.fit_time_s, t.fit_rows) for n, t in trials.items()},
        n_rows=n_rows,
        available_s=available_s,
        safety=SAFETY,
        min_rows=settings.train.cv.max_train_rows or n_rows,
    )
    if result.ensemble and len(plan.members) < len(result.ensemble.members):
        result = dataclasses.replace(result, ensemble=result.ensemble.first(len(plan.members)))
    return result, plan


def recent_rows(train_df: Any, settings: SearchSettings, rows: int) -> Any:
    """The `rows` most recent rows (by base.event_time; without one a seeded sample), in order."""
    if rows >= len(train_df):
        return train_df
    if settings.event_time and settings.event_time in train_df.columns:
        order = np.argsort(event_time_values(train_df[settings.event_time]), kind="stable")
        keep = np.sort(order[-rows:])
    else:
        rng = np.random.default_rng(settings.seed)
        keep = np.sort(rng.choice(len(train_df), rows, replace=False))
    return train_df.iloc[keep]


def fit_best(
    train_df: Any, settings: SearchSettings, result: SearchResult, rows: int | None = None
) -> Any:
    """Refit the best configuration (or the selected ensemble) on the whole train window, or
    on its `rows` most recent rows (`plan_model`'s plan when the whole window does not fit)."""
    from threadpoolctl import threadpool_limits

    if rows is not None:
        train_df = recent_rows(train_df, settings, rows)

    columns = result.columns or columns_for(train_df, settings)

    def pipeline(record: TrialRecord) -> Any:
        spec = settings.train.families[record.family]
        return build_pipeline(
            record.family,
            refit_params({**spec.fixed, **record.params}, record.n_iter),
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
    with threadpool_limits(limits=settings.train.n_jobs):
        return model.fit(X, y)
