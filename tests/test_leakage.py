"""The per-feature leakage screen (retrain.leakage): a feature that alone predicts the label
scores near 1; honest features, ids and noise do not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from retrain.leakage import abs_spearman, symmetric_auc, univariate_scores


def _frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    delay = rng.gamma(2.0, 12.0, n) - 10  # minutes, like arr_delay
    hour = rng.integers(5, 23, n)
    return pd.DataFrame(
        {
            "delay": delay,
            "label": (delay > 15).astype(np.int64),
            "hour": hour,
            "noise": rng.normal(size=n),
            "tail": [f"N{i}" for i in rng.integers(0, n, n)],  # an id: ~n levels
            "carrier": rng.choice(["AA", "UA", "DL"], n),
            "when": pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "min"),
        }
    )


def test_auc_matches_sklearn_and_is_symmetric() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500).astype(float)
    x = np.round(rng.random(500) + 0.3 * y, 1)  # ties
    assert symmetric_auc(y, x) == pytest.approx(roc_auc_score(y, x))
    assert symmetric_auc(y, -x) == pytest.approx(roc_auc_score(y, x))  # backwards counts too
    assert symmetric_auc(np.zeros(10), x[:10]) is None  # one class: undefined


def test_clipped_target_and_label_copy_are_flagged_honest_features_are_not() -> None:
    # given a training window with a clipped copy of the target and the label itself
    frame = _frame()
    frame["delay_clipped"] = frame["delay"].clip(-5, 60)
    frame["label_copy"] = frame["label"].astype(float)
    features = ["delay_clipped", "label_copy", "hour", "noise", "tail", "carrier", "when"]
    # when each is scored alone
    scores = univariate_scores(frame, features, "classification", sample_rows=3000, seed=3)
    # then the leaks score ~1 and everything else stays far below
    assert scores["delay_clipped"] == pytest.approx(1.0)
    assert scores["label_copy"] == pytest.approx(1.0)
    assert all(scores[f] < 0.6 for f in ("hour", "noise", "tail", "carrier", "when")), scores
    # and the seeded sample gives the same scores again
    assert univariate_scores(frame, features, "classification", sample_rows=3000, seed=3) == scores


def test_a_category_that_encodes_the_label_is_flagged() -> None:
    frame = _frame()
    frame["status"] = np.where(frame["label"] == 1, "LATE", "ON_TIME")
    frame.loc[frame.index[:5], "status"] = None  # a few missing
    scores = univariate_scores(frame, ["status"], "classification", sample_rows=10_000, seed=0)
    assert scores["status"] > 0.99


def test_regression_uses_abs_spearman() -> None:
    frame = _frame()
    frame["minus_delay"] = -frame["delay"].clip(upper=90)
    frame.loc[frame.index[:50], "minus_delay"] = np.nan
    scores = univariate_scores(
        frame.drop(columns="label").rename(columns={"delay": "label"}),
        ["minus_delay", "noise", "tail"],
        "regression",
        sample_rows=10_000,
        seed=0,
    )
    assert scores["minus_delay"] > 0.99
    assert scores["noise"] < 0.1 and scores["tail"] < 0.1
    assert abs_spearman(np.arange(5.0), np.ones(5)) is None  # constant: undefined
