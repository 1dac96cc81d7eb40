"""The budget planning (retrain.search.budget) as pure arithmetic on given fit times."""

from __future__ import annotations

import time

import numpy as np
import pytest

from retrain.search.budget import FitCost, plan_refit, refit_estimate, search_deadline
from retrain.search.ensemble import select_ensemble
from retrain.search.records import TrialRecord

# Trials measured on 3 folds of 40,000 rows each (120,000 rows fitted in total).
COSTS = {
    0: FitCost(seconds=12.0, rows=120_000),  # 0.1 ms a row
    1: FitCost(seconds=6.0, rows=120_000),
    2: FitCost(seconds=24.0, rows=120_000),
}


def test_a_refit_is_estimated_linearly_in_the_rows() -> None:
    # given a trial that fitted 120,000 rows in 12 s, when refit on 240,000 rows
    # then it is estimated at twice its fold fits; an ensemble is the sum of its members
    assert COSTS[0].seconds_for(240_000) == pytest.approx(24.0)
    assert refit_estimate([0, 1], COSTS, 240_000) == pytest.approx(36.0)
    assert FitCost(seconds=3.0, rows=0).seconds_for(1000) == 0.0  # nothing measured: no cost


def test_the_search_stops_early_enough_for_the_likely_refit() -> None:
    # given a stage deadline at t=100 and trials ranked 0, 1, 2
    ranked = [0, 1, 2]
    # when the ensemble may take 2 members, then the refit of the top two on 240,000 rows
    # (24 + 12 s) times the safety factor is reserved before the deadline
    deadline = search_deadline(100.0, ranked, COSTS, n_rows=240_000, max_members=2, safety=1.5)
    assert deadline == pytest.approx(100.0 - 1.5 * 36.0)
    # and with no complete trial yet (or nothing to refit) the whole budget is the search's
    assert search_deadline(100.0, [], COSTS, n_rows=240_000, max_members=2, safety=1.5) == 100.0
    assert search_deadline(100.0, ranked, COSTS, n_rows=0, max_members=3, safety=1.5) == 100.0


def test_the_whole_ensemble_is_refit_when_it_fits() -> None:
    plan = plan_refit(
        [0, 1, 2], COSTS, n_rows=240_000, available_s=90.0, safety=1.2, min_rows=40_000
    )
    # 24 + 12 + 48 = 84 s, x1.2 = 100.8 > 90: the last member to join is dropped
    assert (plan.members, plan.dropped, plan.reason) == ((0, 1), (2,), "fewer_members")
    assert plan.rows == 240_000 and plan.estimate_s == pytest.approx(36.0)
    # given more time, every member is kept on the whole window
    roomy = plan_refit(
        [0, 1, 2], COSTS, n_rows=240_000, available_s=101.0, safety=1.2, min_rows=40_000
    )
    assert (roomy.members, roomy.dropped, roomy.reason) == ((0, 1, 2), (), "fits")


def test_when_not_even_the_best_fits_it_is_refit_on_the_most_recent_rows_it_can_afford() -> None:
    # given 12 s left and a best trial costing 0.1 ms a row (x1.2 safety)
    plan = plan_refit([0, 1], COSTS, n_rows=240_000, available_s=12.0, safety=1.2, min_rows=40_000)
    # then it alone is refit on 100,000 rows (12 / 1.2 / 0.0001)
    assert (plan.members, plan.dropped, plan.reason) == ((0,), (1,), "fewer_rows")
    assert plan.rows == 100_000 and plan.estimate_s == pytest.approx(10.0)


def test_never_fewer_rows_than_a_cv_fold_trained_on() -> None:
    # given 1 s left: 8,333 rows would fit, but the floor is the CV's 40,000 rows
    plan = plan_refit([0], COSTS, n_rows=240_000, available_s=1.0, safety=1.2, min_rows=40_000)
    # then the refit takes the floor and says it is estimated to overrun
    assert (plan.rows, plan.reason) == (40_000, "over_budget")
    # and a window smaller than the floor is refit whole
    small = plan_refit([0], COSTS, n_rows=5_000, available_s=0.0, safety=1.2, min_rows=40_000)
    assert (small.rows, small.reason) == (5_000, "over_budget")


def test_a_plan_needs_a_trial() -> None:
    with pytest.raises(ValueError, match="at least one trial"):
        plan_refit([], COSTS, n_rows=10, available_s=1.0, safety=1.0, min_rows=1)


def test_a_cut_ensemble_is_the_greedy_ensemble_of_that_size() -> None:
    # given three trials whose blend of all three beats every smaller blend
    rng = np.random.default_rng(0)
    truth = [rng.integers(0, 2, 400) for _ in range(2)]
    oof = {n: [y + rng.normal(0, 1.5, len(y)) for y in truth] for n in range(3)}
    kwargs = dict(metric="roc_auc", task="classification", pool=3, min_gain=0.0)
    full = select_ensemble(oof, truth, [0, 1, 2], max_members=3, **kwargs)
    assert full is not None and len(full.members) == 3
    # when it is cut to two members, then it is exactly what a 2-member selection gives
    two = select_ensemble(oof, truth, [0, 1, 2], max_members=2, **kwargs)
    cut = full.first(2)
    assert cut is not None and two is not None
    assert (cut.members, cut.cv_score, cut.threshold) == (two.members, two.cv_score, two.threshold)
    # and cut to one member it is no ensemble (the best single trial)
    assert full.first(1) is None and full.first(3) is full


def _record(number: int, family: str, score: float | None, seconds: float) -> TrialRecord:
    folds = [] if score is None else [score, score]
    return TrialRecord(
        number=number,
        family=family,
        params={},
        fold_scores=folds,
        cv_score=score,
        fit_time_s=seconds,
        state="complete" if score is not None else "pruned",
        fit_rows=1000,
    )


def test_the_search_deadline_moves_with_the_measured_trials() -> None:
    from retrain.search.study import _Deadline

    # given a stage deadline and a 2-member ensemble refit on 2,000 rows (x2 the fold rows)
    stage = time.monotonic() + 100
    clock = _Deadline(stage, n_rows=2000, max_members=2, greater_is_better=True)
    assert clock.search == stage
    # when a 4 s trial completes, then 8 s (x safety) are reserved
    clock.add(_record(0, "hist_gradient_boosting", 0.70, 4.0))
    first = clock.search
    assert first < stage
    # when a better, slower trial and a worse one complete, then the top two are reserved
    clock.add(_record(1, "random_forest", 0.72, 10.0))
    clock.add(_record(2, "linear", 0.60, 1.0))
    assert stage - clock.search == pytest.approx((stage - first) * (8 + 20) / 8)
    # and a fold is predicted from its own trial's folds, else its family's median fold
    assert clock.fold_estimate("random_forest", []) == pytest.approx(5.0)
    assert clock.fold_estimate("random_forest", [1.0, 3.0]) == pytest.approx(2.0)
    assert clock.fold_estimate("extra_trees", []) == 0.0
    # a pruned trial teaches the fold time but reserves nothing
    clock.add(_record(3, "extra_trees", None, 0.0))
    assert clock.fold_estimate("extra_trees", []) == 0.0
