"""Greedy ensemble selection: joins only on a measured CV gain; refit as a soft vote."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retrain.config.train import Budget, EnsembleSelection
from retrain.metrics import score
from retrain.model_io import load_model, save_model
from retrain.search.ensemble import Ensemble, blend, select_ensemble
from retrain.search.study import fit_best, run_search


def _folds(seed: int = 0, n: int = 400, k: int = 2) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = [rng.integers(0, 2, n) for _ in range(k)]
    return truth, rng


def _noisy(truth: list[np.ndarray], rng: np.random.Generator, noise: float) -> list[np.ndarray]:
    """Scores that carry the label plus independent noise: independent errors average out."""
    return [y + rng.normal(0, noise, len(y)) for y in truth]


def test_two_independent_models_blend_better_than_either() -> None:
    truth, rng = _folds()
    oof = {0: _noisy(truth, rng, 1.0), 1: _noisy(truth, rng, 1.0), 2: _noisy(truth, rng, 1.0)}
    singles = {
        n: np.mean([score("roc_auc", y, p) for y, p in zip(truth, oof[n], strict=True)])
        for n in oof
    }
    ranked = sorted(oof, key=lambda n: -singles[n])
    chosen = select_ensemble(
        oof,
        truth,
        ranked,
        metric="roc_auc",
        task="classification",
        max_members=3,
        pool=10,
        min_gain=0.0,
    )
    assert chosen is not None
    assert chosen.members[0] == ranked[0]  # starts from the best trial
    assert len(chosen.members) == 3
    assert chosen.cv_score > max(singles.values()) + 0.01
    blended = blend([oof[n] for n in chosen.members])
    assert chosen.fold_scores == [
        score("roc_auc", y, p) for y, p in zip(truth, blended, strict=True)
    ]
    assert 0.0 < chosen.threshold < 1.5  # an F1 threshold on the blended scores


def test_a_copy_of_the_best_or_a_useless_model_does_not_join() -> None:
    truth, rng = _folds(1)
    best = _noisy(truth, rng, 0.8)
    oof = {
        0: best,
        1: [p.copy() for p in best],  # same errors: no gain
        2: [rng.normal(0, 1, len(y)) for y in truth],  # pure noise: blending hurts
    }
    assert (
        select_ensemble(
            oof,
            truth,
            [0, 1, 2],
            metric="roc_auc",
            task="classification",
            max_members=3,
            pool=10,
            min_gain=0.0005,
        )
        is None
    )


def test_min_gain_max_members_and_pool_are_respected() -> None:
    truth, rng = _folds(2)
    oof = {n: _noisy(truth, rng, 1.0) for n in range(5)}
    common = {"metric": "roc_auc", "task": "classification"}
    assert (
        select_ensemble(oof, truth, [0, 1, 2, 3, 4], **common, max_members=3, pool=10, min_gain=0.5)
        is None
    )
    two = select_ensemble(
        oof, truth, [0, 1, 2, 3, 4], **common, max_members=2, pool=10, min_gain=0.0
    )
    assert two is not None and len(two.members) == 2
    pooled = select_ensemble(
        oof, truth, [0, 1, 2, 3, 4], **common, max_members=5, pool=2, min_gain=0.0
    )
    assert pooled is not None and set(pooled.members) == {0, 1}
    # Trials without out-of-fold predictions (another worker's) are never candidates.
    partial = {0: oof[0]}
    assert (
        select_ensemble(partial, truth, [0, 1], **common, max_members=3, pool=10, min_gain=0.0)
        is None
    )


def test_lower_is_better_metrics_select_by_decrease() -> None:
    rng = np.random.default_rng(3)
    truth = [rng.normal(0, 1, 300) for _ in range(2)]
    oof = {n: [y + rng.normal(0, 1, len(y)) for y in truth] for n in range(3)}
    chosen = select_ensemble(
        oof,
        truth,
        [0, 1, 2],
        metric="rmse",
        task="regression",
        max_members=3,
        pool=10,
        min_gain=0.0,
    )
    assert chosen is not None and chosen.threshold is None
    single = np.mean([score("rmse", y, p) for y, p in zip(truth, oof[0], strict=True)])
    assert chosen.cv_score < single - 0.1  # averaging 3 independent errors shrinks RMSE


def test_search_hands_every_complete_trials_out_of_fold_predictions_to_the_selection(
    train_frame: pd.DataFrame, small_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain.search import study

    seen: dict[str, Any] = {}

    def spy(oof: Any, truth: Any, ranked: Any, **kwargs: Any) -> Any:
        seen.update(oof=oof, truth=truth, ranked=ranked, kwargs=kwargs)
        return select_ensemble(oof, truth, ranked, **kwargs)

    monkeypatch.setattr(study, "select_ensemble", spy)
    settings = small_settings(
        budget=Budget(trials=6, seconds=600),
        ensemble=EnsembleSelection(max_members=2, pool=4, min_gain=0.001),
    )
    result = run_search(train_frame, settings)
    complete = sorted(
        (t for t in result.trials if t.state == "complete"), key=lambda t: -t.cv_score
    )
    assert seen["ranked"] == [t.number for t in complete]
    assert set(seen["oof"]) == {t.number for t in complete}
    assert seen["kwargs"] == {
        "metric": "roc_auc",
        "task": "classification",
        "max_members": 2,
        "pool": 4,
        "min_gain": 0.001,
    }
    for trial in complete:  # the stored predictions reproduce the trial's own fold scores
        rescored = [
            score("roc_auc", y, p)
            for y, p in zip(seen["truth"], seen["oof"][trial.number], strict=True)
        ]
        assert rescored == pytest.approx(trial.fold_scores)


def test_fit_best_refits_an_ensemble_as_a_soft_vote_that_round_trips(
    train_frame: pd.DataFrame, test_frame: pd.DataFrame, small_settings: Any, tmp_path: Path
) -> None:
    settings = small_settings(
        budget=Budget(trials=6, seconds=600), ensemble=EnsembleSelection(enabled=False)
    )
    result = run_search(train_frame, settings)
    complete = [t for t in result.trials if t.state == "complete"]
    families = {t.family: t.number for t in complete}
    assert len(families) >= 2, "the fixture search should complete trials of two families"
    members = tuple(families.values())[:2]
    chosen = dataclasses.replace(result, ensemble=Ensemble(members, [0.5, 0.5], 0.5, threshold=0.3))
    model = fit_best(train_frame, settings, chosen)
    assert [name for name, _ in model.estimators] == [
        f"trial_{n}_{result.trial(n).family}" for n in members
    ]
    rows = test_frame.drop(columns="label")
    expected = np.mean([m.predict_proba(rows)[:, 1] for m in model.estimators_], axis=0)
    np.testing.assert_allclose(model.predict_proba(rows)[:, 1], expected)
    # The artifact round-trips through skops with only the reviewed types.
    save_model(model, tmp_path / "model.skops")
    loaded = load_model(tmp_path / "model.skops")
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))
    # Without an ensemble the best trial alone is refit.
    assert type(fit_best(train_frame, settings, result)).__name__ == "Pipeline"
