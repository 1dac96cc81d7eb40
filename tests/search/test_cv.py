from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain.config.train import CrossValidation
from retrain.errors import UserError
from retrain.search.cv import time_folds


def _times(months: int, per_month: int = 10) -> pd.Series:
    stamps = [
        pd.Timestamp(2013, m, 1 + d, 12, tz="America/New_York").tz_convert("UTC")
        for m in range(1, months + 1)
        for d in range(per_month)
    ]
    # shuffled row order: folds must follow time, not row position
    return pd.Series(stamps).sample(frac=1.0, random_state=0).reset_index(drop=True)


def test_expanding_window_folds_validate_strictly_after_training() -> None:
    times = _times(6)
    folds = time_folds(times, len(times), CrossValidation(folds=3), "America/New_York")
    assert [f.valid_period for f in folds] == ["2013-04", "2013-05", "2013-06"]
    sizes = [len(f.train_rows) for f in folds]
    assert sizes == sorted(sizes) and sizes[0] == 30  # expanding: Jan-Mar, Jan-Apr, Jan-May
    for fold in folds:
        assert times.iloc[fold.train_rows].max() < times.iloc[fold.valid_rows].min()
        assert len(fold.valid_rows) == 10


def test_gap_skips_periods_between_train_and_validation() -> None:
    times = _times(6)
    folds = time_folds(times, len(times), CrossValidation(folds=2, gap_periods=1), "UTC")
    first = folds[0]
    assert first.valid_period == "2013-05"
    assert times.iloc[first.train_rows].max() < pd.Timestamp("2013-04-01", tz="UTC")


def test_max_train_rows_keeps_the_most_recent_rows() -> None:
    times = _times(4)
    folds = time_folds(times, len(times), CrossValidation(folds=1, max_train_rows=100), "UTC")
    (fold,) = time_folds(times, len(times), CrossValidation(folds=1, max_train_rows=15), "UTC")
    kept = times.iloc[fold.train_rows]
    assert len(kept) == 15
    dropped = times.iloc[np.setdiff1d(folds[0].train_rows, fold.train_rows)]
    assert kept.min() >= dropped.max()


def test_month_boundaries_follow_the_configured_time_zone() -> None:
    # 2013-02-01 03:00 UTC is still January 31st in New York.
    times = pd.Series(
        pd.to_datetime(["2013-01-15 00:00", "2013-02-01 03:00", "2013-02-15 00:00"], utc=True)
    )
    folds = time_folds(times, 3, CrossValidation(folds=1), "America/New_York")
    assert list(folds[0].train_rows) == [0, 1]


def test_too_few_periods_is_a_user_error() -> None:
    times = _times(2)
    with pytest.raises(UserError, match="at least 4 distinct months"):
        time_folds(times, len(times), CrossValidation(folds=3), "UTC")


def test_missing_event_time_is_a_user_error() -> None:
    times = pd.Series(pd.to_datetime(["2013-01-01", None, "2013-03-01"], utc=True))
    with pytest.raises(UserError, match="1 train rows have no event time"):
        time_folds(times, 3, CrossValidation(folds=1), "UTC")


def test_without_event_time_blocks_of_row_order_are_used() -> None:
    folds = time_folds(None, 40, CrossValidation(folds=3), "UTC")
    assert [len(f.valid_rows) for f in folds] == [10, 10, 10]
    assert all(f.train_rows.max() < f.valid_rows.min() for f in folds)


def test_without_time_folds_are_a_seeded_shuffled_stratified_k_fold() -> None:
    from retrain.search.cv import shuffled_folds

    # given a table sorted by its target (the first 60 rows negative, the last 40 positive)
    y = np.r_[np.zeros(60, dtype=int), np.ones(40, dtype=int)]
    # when folds are made without an event time
    folds = shuffled_folds(y, CrossValidation(folds=3), seed=1, stratify=True)
    # then every validation part mixes both classes in the table's proportion (not file order)
    assert len(folds) == 3
    for fold in folds:
        assert y[fold.valid_rows].mean() == pytest.approx(0.4, abs=0.05)
        assert not set(fold.train_rows) & set(fold.valid_rows)
    # and the same seed gives the same folds, another seed different ones
    again = shuffled_folds(y, CrossValidation(folds=3), seed=1, stratify=True)
    other = shuffled_folds(y, CrossValidation(folds=3), seed=2, stratify=True)
    assert all((a.valid_rows == b.valid_rows).all() for a, b in zip(folds, again, strict=True))
    assert any(set(a.valid_rows) != set(b.valid_rows) for a, b in zip(folds, other, strict=True))


def test_shuffled_k_fold_refuses_a_class_rarer_than_the_folds() -> None:
    from retrain.search.cv import shuffled_folds

    y = np.r_[np.zeros(30, dtype=int), np.ones(2, dtype=int)]
    with pytest.raises(UserError, match="train.cv.folds"):
        shuffled_folds(y, CrossValidation(folds=3), seed=1, stratify=True)
