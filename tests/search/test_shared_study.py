"""A shared study's one decision: out-of-fold predictions in the storage, finalize from all trials.

Fast, in-process, on a sqlite storage (the PostgreSQL run with worker processes is
tests/stages/test_train_workers.py, `server`).
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retrain.config import load_params
from retrain.config.train import Budget, EnsembleSelection, Pruning
from retrain.errors import UserError
from retrain.search import study as study_mod
from retrain.search.oofstore import OofStore
from retrain.search.records import SearchResult
from retrain.search.study import SearchSettings, finalize_search, fit_best
from retrain.training import search_only


def _worker(settings: SearchSettings, worker: int) -> SearchSettings:
    return dataclasses.replace(settings, worker=worker)


TRAIN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "train"


def _shared(path: Path, trials: int) -> SearchSettings:
    # No pruning and a zero min_gain: every trial has predictions and an ensemble is chosen on
    # the tiny fixture.
    params = load_params(TRAIN_FIXTURES / "params.yaml")
    train = params.train.model_copy(
        update={
            "storage": f"sqlite:///{path}",
            "budget": Budget(trials=trials, seconds=600),
            "pruning": Pruning(enabled=False),
            "ensemble": EnsembleSelection(min_gain=0.0, max_members=3, pool=10),
        }
    )
    return SearchSettings.from_params(params.model_copy(update={"train": train}))


@pytest.fixture(scope="module")
def finished(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SearchSettings, SearchResult, SearchResult]:
    """Two workers that each ran 3 trials on one sqlite study, one after the other."""
    settings = _shared(tmp_path_factory.mktemp("shared") / "study.db", trials=3)
    frame = pd.read_parquet(TRAIN_FIXTURES / "train.parquet")
    first = search_only(frame, _worker(settings, 0))
    second = search_only(frame, _worker(settings, 1))
    return settings, first, second


def test_the_store_returns_exactly_what_a_trial_wrote(tmp_path: Path) -> None:
    # Given predictions of two folds of different lengths
    store = OofStore(f"sqlite:///{tmp_path / 's.db'}")
    folds = [np.array([0.1, 0.2, 1 / 3]), np.array([0.9, np.nextafter(0.5, 1.0)])]
    # When trial 4 writes them twice (a retry) and another study writes its trial 4
    store.save("study-a", 4, folds)
    store.save("study-a", 4, folds)
    store.save("study-b", 4, [np.zeros(1)])
    # Then reading returns them bit for bit, per study; a trial without predictions is absent
    loaded = store.load("study-a", [4, 5])
    assert list(loaded) == [4]
    for got, want in zip(loaded[4], folds, strict=True):
        np.testing.assert_array_equal(got, want)
    assert store.load("study-a", []) == {}


@pytest.mark.slow  # the two workers take ~35 s on a busy 2-core box
def test_finalize_decides_from_every_workers_trials_the_same_way_each_time(
    train_frame: pd.DataFrame, finished: tuple[SearchSettings, SearchResult, SearchResult]
) -> None:
    # Given two workers that each ran 3 trials on one study (sqlite storage)
    shared, first, second = finished
    assert len(first.trials) == 3 and len(second.trials) == 6
    # When the study is finalized twice
    a = finalize_search(train_frame, shared)
    b = finalize_search(train_frame, shared)
    # Then both decisions cover all 6 trials, agree, and pick the best of all of them
    assert a.stopped_by == "finalize" and a.local_trials == []
    assert len(a.trials) == 6
    assert (a.best, a.ensemble) == (b.best, b.ensemble)
    complete = [t for t in a.trials if t.state == "complete"]
    assert a.best.cv_score == max(t.cv_score for t in complete)
    # The last worker's own decision is the same as the finalize step's (same trials, same OOF)
    assert (second.best, second.ensemble) == (a.best, a.ensemble)
    # And every complete trial of both workers was a candidate (its predictions are stored)
    stored = OofStore(shared.train.storage or "").load(a.study_name, [t.number for t in complete])
    assert sorted(stored) == [t.number for t in complete]
    assert {t.worker for t in complete} == {0, 1}
    assert a.ensemble is not None
    # The refit follows the decision: one model, seeded, identical on every finalize
    model_a = fit_best(train_frame, shared, a)
    model_b = fit_best(train_frame, shared, b)
    assert len(model_a.estimators) == len(a.ensemble.members)
    X = train_frame.drop(columns=["label"])
    np.testing.assert_array_equal(model_a.predict_proba(X), model_b.predict_proba(X))


@pytest.mark.slow  # the two workers take ~35 s on a busy 2-core box
def test_the_choice_does_not_depend_on_the_order_the_trials_arrive(
    train_frame: pd.DataFrame, finished: tuple[SearchSettings, SearchResult, SearchResult]
) -> None:
    # Given a finished shared study and its decision
    shared = finished[0]
    decided = finalize_search(train_frame, shared)
    complete = [t for t in decided.trials if t.state == "complete"]
    store = OofStore(shared.train.storage or "")
    oof = store.load(decided.study_name, [t.number for t in complete])
    folds = study_mod.make_folds(train_frame, shared)
    truth = [train_frame["label"].to_numpy()[f.valid_rows] for f in folds]
    # When the same trials are offered in other orders (as workers finishing in another order)
    rng = random.Random(0)
    for _ in range(5):
        shuffled = complete[:]
        rng.shuffle(shuffled)
        reordered = dict(sorted(oof.items(), key=lambda _: rng.random()))
        # Then the ensemble is the same
        assert study_mod._choose_ensemble(shuffled, reordered, truth, shared) == decided.ensemble


def test_finalize_and_search_only_need_a_shared_storage(
    train_frame: pd.DataFrame, small_settings: Any, tmp_path: Path
) -> None:
    shared = _shared(tmp_path / "study.db", trials=1)
    # Given no train.storage: both are refused, naming the key
    for call in (finalize_search, search_only):
        with pytest.raises(UserError) as err:
            call(train_frame, small_settings())
        assert "train.storage" in str(err.value)
    # Given a storage where no worker searched this data: finalize says to run the workers
    with pytest.raises(UserError, match="no study") as err:
        finalize_search(train_frame, shared)
    assert "--search-only" in (err.value.hint or "")
    # And once a worker did search, finalize accepts it
    search_only(train_frame, shared)
    assert finalize_search(train_frame, shared).best.state == "complete"
