"""Cross-validation folds for the search.

With an event time: expanding window over contiguous calendar periods. Fold k validates on
one period and trains on every earlier period (minus an optional gap), so a model is only
ever scored on rows later than all of its training rows. Folds are returned earliest first:
the cheapest fits come first, which is where pruning stops weak trials.

Without one (base.event_time null): a seeded, shuffled K-fold (stratified for
classification), so a table sorted by the target does not bias CV (`shuffled_folds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from retrain.config.train import CrossValidation
from retrain.errors import UserError

_FREQ = {"month": "M", "week": "W", "day": "D"}


@dataclass(frozen=True)
class Fold:
    index: int
    train_rows: np.ndarray  # positional indices
    valid_rows: np.ndarray
    valid_period: str


def period_codes(event_time: Any, period: str, timezone: str) -> tuple[np.ndarray, list[str]]:
    """Per-row ordinal period code and the ordered period labels (calendar of `timezone`)."""
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(event_time), utc=True, errors="coerce")
    if stamps.isna().any():
        raise UserError(
            f"{int(stamps.isna().sum())} train rows have no event time",
            "drop or fix those rows in prepare; time-ordered CV needs every row's event time",
        )
    periods = stamps.dt.tz_convert(timezone).dt.tz_localize(None).dt.to_period(_FREQ[period])
    labels = sorted(periods.unique())
    lookup = {p: i for i, p in enumerate(labels)}
    return periods.map(lookup).to_numpy(dtype=np.int64), [str(p) for p in labels]


def time_folds(
    event_time: Any | None, n_rows: int, cv: CrossValidation, timezone: str = "UTC"
) -> list[Fold]:
    """Expanding-window folds. Without an event time, contiguous blocks of row order are used."""
    if event_time is not None:
        codes, labels = period_codes(event_time, cv.period, timezone)
        order = np.argsort(np.asarray(event_time_values(event_time)), kind="stable")
    else:
        n_blocks = cv.folds + 1 + cv.gap_periods
        codes = (np.arange(n_rows) * n_blocks) // max(n_rows, 1)
        labels = [f"rows-block-{i}" for i in range(n_blocks)]
        order = np.arange(n_rows)
    n_periods = len(labels)
    needed = cv.folds + 1 + cv.gap_periods
    if n_periods < needed:
        raise UserError(
            f"time-ordered CV needs at least {needed} distinct {cv.period}s in the train window "
            f"(train.cv.folds={cv.folds} + 1 to train on + gap {cv.gap_periods}); "
            f"the train data spans {n_periods}",
            "lower train.cv.folds, use a shorter train.cv.period, or widen the train window",
        )
    rank = np.empty(n_rows, dtype=np.int64)
    rank[order] = np.arange(n_rows)  # position of each row in time order
    folds = []
    for index, valid_code in enumerate(range(n_periods - cv.folds, n_periods)):
        train_rows = np.flatnonzero(codes < valid_code - cv.gap_periods)
        valid_rows = np.flatnonzero(codes == valid_code)
        if cv.max_train_rows is not None and len(train_rows) > cv.max_train_rows:
            # Keep the most recent rows: closest in time to what is validated (and predicted).
            recent = np.argsort(rank[train_rows], kind="stable")[-cv.max_train_rows :]
            train_rows = np.sort(train_rows[recent])
        if len(train_rows) == 0 or len(valid_rows) == 0:
            raise UserError(
                f"CV fold {index} (validating {labels[valid_code]}) has no rows to "
                f"{'train on' if len(train_rows) == 0 else 'validate on'}",
                "lower train.cv.gap_periods or train.cv.folds",
            )
        folds.append(Fold(index, train_rows, valid_rows, labels[valid_code]))
    return folds


def shuffled_folds(y: Any, cv: CrossValidation, seed: int, stratify: bool) -> list[Fold]:
    """Seeded shuffled K-fold over the rows (K = max(train.cv.folds, 2); the first
    train.cv.folds folds are used). Stratified on `y` for classification."""
    from sklearn.model_selection import KFold, StratifiedKFold

    y = np.asarray(y)
    n_splits = max(cv.folds, 2)
    if len(y) < n_splits:
        raise UserError(
            f"{n_splits}-fold CV needs at least {n_splits} train rows, got {len(y)}",
            "lower train.cv.folds or give more rows",
        )
    if stratify:
        smallest = int(np.unique(y, return_counts=True)[1].min())
        if smallest < n_splits:
            raise UserError(
                f"stratified {n_splits}-fold CV needs {n_splits} rows of each class; the "
                f"rarest class has {smallest}",
                "lower train.cv.folds or give more rows of the rare class",
            )
        splitter: Any = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rng = np.random.default_rng(seed)
    folds = []
    for index, (train_rows, valid_rows) in enumerate(splitter.split(np.zeros(len(y)), y)):
        if index >= cv.folds:
            break
        if cv.max_train_rows is not None and len(train_rows) > cv.max_train_rows:
            train_rows = np.sort(rng.choice(train_rows, cv.max_train_rows, replace=False))
        folds.append(Fold(index, train_rows, valid_rows, f"shuffled-fold-{index}"))
    return folds


def event_time_values(event_time: Any) -> Any:
    import pandas as pd

    return pd.to_datetime(pd.Series(event_time), utc=True).astype("int64").to_numpy()
