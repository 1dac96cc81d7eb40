"""What the search produces: one record per trial, and the whole search's result.

Plain frozen records with no dependency on Optuna or MLflow, so the study (which writes them)
and the tracker (which logs them) both import this module and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from retrain.search.ensemble import Ensemble
from retrain.search.preprocess import FeatureColumns

# Why the search stopped: this process ran its `train.budget.trials`, or the
# `train.budget.seconds` deadline passed, or something else ended Optuna's loop; `finalize`:
# no search here, the decision over a shared study's trials (`retrain train --finalize`).
StopReason = Literal["trials", "seconds", "other", "finalize"]


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
    fit_rows: int = 0  # rows its fold fits fitted, in total (with fit_time_s: the refit estimate)
    n_iter: list[int] = field(default_factory=list)  # early-stopped boosting: iterations per fold


@dataclass(frozen=True)
class SearchResult:
    primary_metric: str
    greater_is_better: bool
    study_name: str
    best: TrialRecord
    trials: list[TrialRecord]  # every trial of the study (all workers), in number order
    local_trials: list[int]  # numbers of the trials this process ran
    search_s: float
    stopped_by: StopReason
    folds: list[str] = field(default_factory=list)  # validation period of each fold
    columns: FeatureColumns | None = None
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
