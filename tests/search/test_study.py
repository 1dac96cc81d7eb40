"""The search core: budget, determinism, pruning, tracking, errors — on the tiny fixture."""

from __future__ import annotations

import importlib.util
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from retrain.config.train import Budget, Pruning
from retrain.errors import UserError
from retrain.scoring import predict_scores
from retrain.search.study import fit_best, run_search
from retrain.search.tracker import MlflowTracker
from retrain.training import train


def test_trial_budget_is_honoured(train_frame: pd.DataFrame, small_settings: Any) -> None:
    settings = small_settings(budget=Budget(trials=3, seconds=600))
    result = run_search(train_frame, settings)
    assert len(result.local_trials) == len(result.trials) == 3
    assert result.stopped_by == "trials"


def test_seconds_budget_stops_the_search_early(
    train_frame: pd.DataFrame, small_settings: Any
) -> None:
    # A budget far below one trial: the first trial still completes (there must be a model),
    # then no further trial starts although 50 were allowed.
    settings = small_settings(budget=Budget(trials=50, seconds=0.001))
    result = run_search(train_frame, settings)
    assert len(result.local_trials) == 1
    assert result.stopped_by == "seconds"
    assert result.best.state == "complete"


def test_same_params_and_trial_count_give_the_same_model(
    train_frame: pd.DataFrame, test_frame: pd.DataFrame, small_settings: Any
) -> None:
    settings = small_settings(budget=Budget(trials=5, seconds=600))
    runs = []
    for _ in range(2):
        result = run_search(train_frame, settings)
        model = fit_best(train_frame, settings, result)
        runs.append(
            (result, predict_scores(model, test_frame.drop(columns="label"), "classification"))
        )
    (first, pred_a), (second, pred_b) = runs
    assert [(t.family, t.params, t.fold_scores) for t in first.trials] == [
        (t.family, t.params, t.fold_scores) for t in second.trials
    ]
    assert first.best.threshold == second.best.threshold
    np.testing.assert_array_equal(pred_a, pred_b)


def test_weak_trials_are_pruned_on_early_folds_and_every_trial_is_a_child_run(
    train_frame: pd.DataFrame, small_settings: Any, mlflow_uri: str
) -> None:
    settings = small_settings(
        budget=Budget(trials=8, seconds=600), pruning=Pruning(enabled=True, startup_trials=1)
    )
    tracker = MlflowTracker("search-test")
    tracker.start(run_name="parent", tags={"git_commit": "abc"}, params={"seed": 7})
    result = run_search(train_frame, settings, tracker)
    tracker.finish(params={}, metrics={}, tags={}, artifacts={"leaderboard.json": {"x": 1}})

    pruned = [t for t in result.trials if t.state == "pruned"]
    assert pruned, "expected the median pruner to stop at least one of 8 trials"
    n_folds = len(result.folds)
    for trial in pruned:
        assert trial.pruned_reason == "median"
        assert 1 <= len(trial.fold_scores) < n_folds  # stopped after an early fold
    assert all(len(t.fold_scores) == n_folds for t in result.trials if t.state == "complete")

    mlflow.set_tracking_uri(mlflow_uri)
    runs = mlflow.search_runs(
        experiment_names=["search-test"], output_format="list", max_results=100
    )
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == tracker.run_id]
    assert len(runs) == 1 + len(result.trials)
    assert sorted(int(r.data.tags["trial_number"]) for r in children) == [
        t.number for t in result.trials
    ]
    by_number = {int(r.data.tags["trial_number"]): r for r in children}
    for trial in result.trials:
        child = by_number[trial.number]
        assert child.data.tags["state"] == trial.state
        assert child.data.params["family"] == trial.family
        assert child.data.metrics["fit_time_s"] >= 0
        assert len([k for k in child.data.metrics if k.startswith("fold")]) == len(
            trial.fold_scores
        )
    assert {c.data.tags["state"] for c in children} >= {"pruned", "complete"}


def test_leaderboard_ranks_complete_trials_by_cv_score(
    train_frame: pd.DataFrame, small_settings: Any
) -> None:
    result = run_search(train_frame, small_settings(budget=Budget(trials=5, seconds=600)))
    board = result.leaderboard(3)
    assert [row["rank"] for row in board] == [1, 2, 3]
    complete = [row["cv_score"] for row in board if row["state"] == "complete"]
    assert complete == sorted(complete, reverse=True)
    assert board[0]["number"] == result.best.number
    assert 0.0 < result.best.threshold < 1.0


def test_regression_minimises_rmse(train_frame: pd.DataFrame, small_settings: Any) -> None:
    frame = train_frame.copy()
    frame["label"] = frame["distance"] / 100 + np.arange(len(frame)) % 5  # learnable target
    base = small_settings(budget=Budget(trials=3, seconds=600))
    settings = type(base)(**{**base.__dict__, "task": "regression"})
    result = run_search(frame, settings)
    assert result.primary_metric == "rmse" and not result.greater_is_better
    assert result.best.threshold is None
    best = min(t.cv_score for t in result.trials if t.state == "complete")
    assert result.best.cv_score == best


@pytest.mark.skipif(
    importlib.util.find_spec("lightgbm") is None,
    reason="lightgbm missing: it is in the bench group (uv sync --all-groups)",
)
def test_a_search_over_lightgbm_runs_trials_the_budget_can_plan(
    train_frame: pd.DataFrame, small_settings: Any
) -> None:
    from retrain.config.train import FamilySpec, ParamSpec

    # given train.families with only lightgbm (off in the defaults), its defaults enqueued
    space = {
        "num_leaves": ParamSpec(type="int", low=4, high=31, log=True),
        "learning_rate": ParamSpec(type="float", low=0.05, high=0.3, log=True),
    }
    settings = small_settings(
        families={"lightgbm": FamilySpec(space=space, fixed={"n_estimators": 10})},
        enqueue_defaults=("lightgbm",),
        budget=Budget(trials=2, seconds=600),
        pruning=Pruning(enabled=False),  # both trials run every fold
    )
    # when the search runs
    result = run_search(train_frame, settings)
    # then its trials are lightgbm's, complete, with the fit seconds and rows the refit plan uses
    assert [t.family for t in result.trials] == ["lightgbm", "lightgbm"]
    assert result.trials[0].params == {"num_leaves": 31, "learning_rate": 0.1}  # its defaults
    assert all(t.state == "complete" and t.fit_rows > 0 for t in result.trials)
    assert result.best.threshold is not None and 0.0 < result.best.threshold < 1.0


def test_unknown_parameter_fails_before_any_trial(
    train_frame: pd.DataFrame, small_settings: Any
) -> None:
    from retrain.config.train import FamilySpec, ParamSpec

    settings = small_settings(
        families={"linear": FamilySpec(space={"C": ParamSpec(type="float", low=0.1, high=1)})}
    )
    # The space is checked once, with the data, before the search (check_training_data).
    with pytest.raises(UserError, match="train.families.linear names unknown parameter"):
        train(train_frame, settings)


class _Study:
    stopped = 0

    def stop(self) -> None:
        self.stopped += 1


class _Frozen:
    def __init__(self, number: int) -> None:
        import optuna

        self.number = number
        self.state = optuna.trial.TrialState.COMPLETE
        self.params = {"family": "linear"}
        self.user_attrs = {"family": "linear", "params": {}, "fold_scores": [0.7]}


def test_the_stop_reason_is_recorded_where_the_search_is_stopped() -> None:
    import time

    from retrain.search.study import _BudgetWatch, _Deadline
    from retrain.search.tracker import NullTracker

    def deadline(seconds: float) -> _Deadline:
        return _Deadline(
            time.monotonic() + seconds, n_rows=0, max_members=1, greater_is_better=True
        )

    # given a budget of 2 trials and plenty of seconds
    watch = _BudgetWatch(2, deadline(600), NullTracker(), "roc_auc")
    study = _Study()
    watch(study, _Frozen(0))
    assert (watch.stopped_by, study.stopped) == (None, 0)
    watch(study, _Frozen(1))
    # then the second trial stops the study, because of the trial budget
    assert (watch.stopped_by, study.stopped, watch.local) == ("trials", 1, [0, 1])

    # given a deadline already passed: the first trial ends the search, because of the seconds
    late = _BudgetWatch(50, deadline(-1), NullTracker(), "roc_auc")
    late(study, _Frozen(0))
    assert late.stopped_by == "seconds"
