"""Per-feature leakage screen: how well does each model input ALONE predict the label?

A feature that alone predicts the label almost perfectly (the target itself, a clipped copy,
something only known after the outcome) is the classic sign of leakage. The screen scores each
feature on a seeded sample of the training window (pure; no files):

* classification: the univariate ROC AUC, symmetrised (max(auc, 1 - auc)), so a feature that
  predicts the label backwards counts too; missing values rank lowest (missingness that
  predicts the label is also caught).
* regression: |Spearman| between the feature and the target (rows where either is missing
  left out).

A category is scored through its level's mean label learnt on the OTHER half of the sample
(two-fold cross-fitting), so an id with thousands of levels cannot score by memorising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def _is_category(series: pd.Series) -> bool:
    import pandas as pd

    return not (
        pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
    ) or isinstance(series.dtype, pd.CategoricalDtype)


def _as_numbers(series: pd.Series) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        values[series.isna().to_numpy()] = np.nan
        return values
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _cross_fitted_means(series: pd.Series, y: np.ndarray, halves: np.ndarray) -> np.ndarray:
    """Each row's level mean of y, learnt on the other half (unseen level: that half's mean)."""
    import numpy as np
    import pandas as pd

    levels = series.astype("string").fillna("\x00<missing>").to_numpy()
    out = np.empty(len(y), dtype=np.float64)
    for part in (0, 1):
        fit, apply = halves != part, halves == part
        means = pd.Series(y[fit]).groupby(levels[fit]).mean()
        mapped = pd.Series(levels[apply]).map(means).to_numpy(dtype=np.float64, na_value=np.nan)
        fallback = float(y[fit].mean()) if fit.any() else 0.0
        out[apply] = np.where(np.isnan(mapped), fallback, mapped)
    return out


def symmetric_auc(y: np.ndarray, x: np.ndarray) -> float | None:
    """max(AUC, 1 - AUC) of x for the 0/1 labels y; NaN in x ranks lowest; None: one class."""
    import numpy as np
    from scipy.stats import rankdata

    positives = y == 1
    n1 = int(positives.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return None
    x = np.where(np.isnan(x), -np.inf, x)
    ranks = rankdata(x)  # ties: average rank (the Mann-Whitney U with ties)
    auc = (ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return float(max(auc, 1.0 - auc))


def abs_spearman(y: np.ndarray, x: np.ndarray) -> float | None:
    """|Spearman rank correlation| on rows where both are finite; None when undefined."""
    import numpy as np
    from scipy.stats import rankdata

    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return None
    rx, ry = rankdata(x[keep]), rankdata(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(abs(np.corrcoef(rx, ry)[0, 1]))


def univariate_scores(
    frame: pd.DataFrame,
    features: list[str],
    task: str,
    *,
    sample_rows: int,
    seed: int,
    label: str = "label",
) -> dict[str, float | None]:
    """{feature: AUC (classification) or |Spearman| (regression)} on a seeded sample.

    Multiclass: the feature's best one-vs-rest AUC over the classes (a leak names some class
    almost perfectly)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if len(frame) > sample_rows:
        frame = frame.iloc[np.sort(rng.choice(len(frame), size=sample_rows, replace=False))]
    y = frame[label].to_numpy(dtype=np.float64)
    halves = rng.permutation(np.arange(len(frame)) % 2)
    if task == "multiclass":
        best: dict[str, float | None] = dict.fromkeys(features)
        for code in np.unique(y):
            one = frame.assign(**{label: (y == code).astype(np.float64)})
            for name, value in univariate_scores(
                one, features, "classification", sample_rows=sample_rows, seed=seed, label=label
            ).items():
                if value is not None and (best[name] is None or value > best[name]):
                    best[name] = value
        return best
    score = symmetric_auc if task == "classification" else abs_spearman
    scores: dict[str, float | None] = {}
    for name in features:
        series = frame[name]
        x = _cross_fitted_means(series, y, halves) if _is_category(series) else _as_numbers(series)
        scores[name] = score(y, x)
    return scores
