"""Greedy ensemble selection over the search's trials (Caruana et al., 2004), without replacement.

Every complete trial leaves its out-of-fold predictions on the time-ordered CV folds. Starting
from the best trial, the candidate whose equal-weight average with the members scores best on
the same folds joins, while that gain is at least `train.ensemble.min_gain` and the ensemble has
fewer than `max_members`. The ensemble is scored exactly like a trial (mean of per-fold scores),
so "ensemble beats the best single trial" is measured on the same rows, never assumed.
Diverse families (boosting + randomised trees) make errors on different flights, which is
where the gain comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from retrain.metrics import best_f1_threshold, greater_is_better, score

# Types skops may instantiate for the soft vote (beyond its members' and skops' own safe set):
# VotingClassifier/VotingRegressor keep `named_estimators_` in a Bunch, sklearn's dict with
# attribute access, holding only the member pipelines.
SKOPS_TYPES = frozenset({"sklearn.utils._bunch.Bunch"})


@dataclass(frozen=True)
class Ensemble:
    members: tuple[int, ...]  # trial numbers, in the order they joined (best trial first)
    fold_scores: list[float]
    cv_score: float
    threshold: float | None = None
    # The greedy ensembles of fewer members on the way here (2, 3, ... members), each scored
    # and thresholded the same way: what a refit that cannot afford every member falls back to.
    smaller: tuple[Ensemble, ...] = ()

    def first(self, size: int) -> Ensemble | None:
        """The greedy ensemble of the first `size` members (None: a single trial)."""
        if size >= len(self.members):
            return self
        return next((e for e in self.smaller if len(e.members) == size), None)


def blend(predictions: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Equal-weight average, fold by fold, of several trials' out-of-fold predictions."""
    return [
        np.mean([member[k] for member in predictions], axis=0) for k in range(len(predictions[0]))
    ]


def _fold_scores(metric: str, truth: list[np.ndarray], pred: list[np.ndarray]) -> list[float]:
    return [score(metric, y, p) for y, p in zip(truth, pred, strict=True)]


def select_ensemble(
    oof: dict[int, list[np.ndarray]],
    truth: list[np.ndarray],
    ranked: list[int],
    *,
    metric: str,
    task: str,
    max_members: int,
    pool: int,
    min_gain: float,
) -> Ensemble | None:
    """The ensemble of trials (by number) chosen greedily from the top `pool` of `ranked`.

    `oof[n]` holds trial n's predictions for each fold's validation rows, `truth` the labels.
    `ranked` lists complete trials best first. Returns None when no second member improves the
    CV score by `min_gain` (the best single trial is then the model).
    """
    candidates = [n for n in ranked if n in oof][:pool]
    if len(candidates) < 2 or max_members < 2:
        return None
    sign = 1.0 if greater_is_better(metric) else -1.0
    members = [candidates[0]]
    folds = _fold_scores(metric, truth, oof[members[0]])
    current = float(np.mean(folds))
    steps: list[Ensemble] = []
    while len(members) < max_members:
        best: tuple[float, int, list[float]] | None = None
        for n in candidates:
            if n in members:
                continue
            trial_folds = _fold_scores(metric, truth, blend([oof[m] for m in [*members, n]]))
            value = float(np.mean(trial_folds))
            if best is None or sign * value > sign * best[0]:
                best = (value, n, trial_folds)
        if best is None or sign * (best[0] - current) < min_gain:
            break
        current, folds = best[0], best[2]
        members.append(best[1])
        steps.append(_scored(members, folds, current, oof, truth, task))
    if len(members) < 2:
        return None
    last = steps[-1]
    return Ensemble(
        last.members, last.fold_scores, last.cv_score, last.threshold, tuple(steps[:-1])
    )


def _scored(
    members: list[int],
    folds: list[float],
    cv_score: float,
    oof: dict[int, list[np.ndarray]],
    truth: list[np.ndarray],
    task: str,
) -> Ensemble:
    threshold = None
    if task == "classification":
        blended = blend([oof[m] for m in members])
        threshold = best_f1_threshold(np.concatenate(truth), np.concatenate(blended))
    return Ensemble(tuple(members), folds, cv_score, threshold)


def voting_model(members: list[tuple[str, Any]], task: str) -> Any:
    """An unfitted soft-voting model over named member pipelines (equal weights)."""
    from sklearn.ensemble import VotingClassifier, VotingRegressor

    if task != "regression":
        return VotingClassifier(members, voting="soft")
    return VotingRegressor(members)
