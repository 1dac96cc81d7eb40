"""Performance estimated without labels: confidence-based performance estimation (CBPE).

The method of NannyML's CBPE (Kuśmierczyk et al., nannyml.readthedocs.io "Estimation of
Performance of the Monitored Model"): calibrate the champion's scores on a labelled reference
window (isotonic regression, scores -> P(label = 1)), then on unlabelled current rows treat each
calibrated probability as the chance that the row is a positive. The expected confusion counts
at every threshold follow, and with them the expected ROC curve, its AUC and the accuracy.

It holds under covariate shift (the inputs move, P(label | score) does not); under concept
drift it cannot see the change, which is why the realised metric (`decay`) stays the check once
labels arrive. Implemented here rather than taken from the `nannyml` package, which would pull
FLAML, plotly/kaleido, cloud file systems and a telemetry client into the monitor.

The interval is the spread of the metric over label sets drawn from the calibrated
probabilities (Monte Carlo, seeded): the realised value's sampling uncertainty given the
estimate's assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class Estimate:
    """An estimated metric with its central interval (`level`, e.g. 0.9)."""

    metric: str
    value: float
    low: float
    high: float
    level: float
    n_rows: int

    def contains(self, realised: float) -> bool:
        return self.low <= realised <= self.high


@dataclass(frozen=True)
class Calibrator:
    """Scores -> P(label = 1), fitted on the labelled reference window."""

    model: IsotonicRegression
    n_reference: int

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.clip(self.model.predict(np.asarray(scores, dtype=float)), 0.0, 1.0)


def calibrate(scores: np.ndarray, labels: np.ndarray, min_rows: int = 100) -> Calibrator:
    """Fit the isotonic calibration of `scores` to the 0/1 `labels` of the reference window."""
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    if len(scores) < min_rows:
        raise UserError(
            f"the reference window has {len(scores)} labelled rows; CBPE needs at least {min_rows}",
            "widen the reference (test) window, or use the `decay` policy",
        )
    if len(np.unique(labels)) != 2 or not np.isin(labels, (0, 1)).all():
        raise UserError(
            "the reference window's labels are not both 0 and 1",
            "estimate performance against a reference window holding both classes",
        )
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    model.fit(scores, labels.astype(float))
    return Calibrator(model, len(scores))


def expected_roc_auc(scores: np.ndarray, probabilities: np.ndarray) -> float:
    """AUC of the expected ROC curve: sum over pairs i != j of p_i (1 - p_j) [s_i > s_j]
    (ties count half), over sum(p) * sum(1 - p) less the self pairs."""
    import numpy as np

    s, p = np.asarray(scores, dtype=float), np.asarray(probabilities, dtype=float)
    order = np.argsort(s, kind="mergesort")
    s, p = s[order], p[order]
    q = 1.0 - p
    # negatives' weight strictly below each row's score, and within its tie group
    starts = np.searchsorted(s, s, side="left")
    ends = np.searchsorted(s, s, side="right")
    cum_q = np.r_[0.0, np.cumsum(q)]
    below = cum_q[starts]
    tied = cum_q[ends] - cum_q[starts] - q  # the tie group without the row itself
    pairs = p.sum() * q.sum() - (p * q).sum()
    if pairs <= 0:
        return float("nan")
    return float((p * (below + 0.5 * tied)).sum() / pairs)


def expected_accuracy(probabilities: np.ndarray, predicted_positive: np.ndarray) -> float:
    import numpy as np

    p = np.asarray(probabilities, dtype=float)
    return float(np.where(predicted_positive, p, 1.0 - p).mean())


def _label_draws(probabilities: np.ndarray, draws: int, seed: int) -> Iterator[np.ndarray]:
    """`draws` label sets drawn row by row from the calibrated probabilities (seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for _ in range(draws):
        yield rng.random(len(probabilities)) < probabilities


def _interval(sampled: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` interval of the sampled metric values (NaN when there are none)."""
    import numpy as np

    if not len(sampled):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(sampled, [tail, 1 - tail])
    return float(low), float(high)


def _sampled_roc_auc(
    scores: np.ndarray, probabilities: np.ndarray, draws: int, seed: int
) -> np.ndarray:
    """ROC AUC of `draws` label sets drawn from the probabilities (Mann-Whitney on midranks)."""
    import numpy as np
    from scipy.stats import rankdata

    ranks = rankdata(scores)  # midranks: ties count half
    rng = np.random.default_rng(seed)
    values = np.empty(draws)
    chunk = max(1, 2_000_000 // max(1, len(scores)))
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        labels = rng.random((k, len(scores))) < probabilities
        n_pos = labels.sum(axis=1)
        n_neg = len(scores) - n_pos
        rank_sum = labels @ ranks
        with np.errstate(divide="ignore", invalid="ignore"):
            values[start : start + k] = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return values


def estimate_roc_auc(
    calibrator: Calibrator,
    scores: np.ndarray,
    *,
    level: float = 0.9,
    draws: int = 300,
    seed: int = 0,
) -> Estimate:
    """The champion's ROC AUC on unlabelled `scores`, with a `level` interval."""
    import numpy as np

    scores = np.asarray(scores, dtype=float)
    if len(scores) == 0:
        raise UserError("no current rows to estimate on", "check the monitor's current window")
    p = calibrator.probabilities(scores)
    sampled = _sampled_roc_auc(scores, p, draws, seed)
    sampled = sampled[np.isfinite(sampled)]
    low, high = _interval(sampled, level)
    return Estimate("roc_auc", expected_roc_auc(scores, p), low, high, level, len(scores))


def estimate_accuracy(
    calibrator: Calibrator,
    scores: np.ndarray,
    threshold: float,
    *,
    level: float = 0.9,
    draws: int = 300,
    seed: int = 0,
) -> Estimate:
    """Expected accuracy at the model's `threshold` on unlabelled `scores`."""
    import numpy as np

    scores = np.asarray(scores, dtype=float)
    p = calibrator.probabilities(scores)
    predicted = scores >= threshold
    sampled = np.array([(labels == predicted).mean() for labels in _label_draws(p, draws, seed)])
    low, high = _interval(sampled, level)
    return Estimate("accuracy", expected_accuracy(p, predicted), low, high, level, len(p))


# -- other classification metrics: the expected per-row loss under the calibrated probability --


def estimate_expected_loss(
    calibrator: Calibrator,
    scores: np.ndarray,
    metric: str,
    *,
    level: float = 0.9,
    draws: int = 300,
    seed: int = 0,
) -> Estimate:
    """Brier score or log loss on unlabelled `scores`: each row's loss if it is a positive and
    if it is a negative, weighted by the calibrated probability; the interval from label sets
    drawn from those probabilities."""
    import numpy as np

    from retrain.metrics import EPS

    s = np.asarray(scores, dtype=float)
    if len(s) == 0:
        raise UserError("no current rows to estimate on", "check the monitor's current window")
    p = calibrator.probabilities(s)
    if metric == "brier":
        loss1, loss0 = (1.0 - s) ** 2, s**2
    elif metric == "log_loss":
        q = np.clip(s, EPS, 1 - EPS)
        loss1, loss0 = -np.log(q), -np.log(1 - q)
    else:
        raise UserError(
            f"no label-free estimate of {metric!r}",
            "use roc_auc, brier or log_loss as train.metric.classification, or the decay policy",
        )
    sampled = np.array(
        [np.where(labels, loss1, loss0).mean() for labels in _label_draws(p, draws, seed)]
    )
    low, high = _interval(sampled, level)
    value = float((p * loss1 + (1 - p) * loss0).mean())
    return Estimate(metric, value, low, high, level, len(s))


def estimate_classification(
    metric: str,
    calibrator: Calibrator,
    scores: np.ndarray,
    *,
    level: float = 0.9,
    draws: int = 300,
    seed: int = 0,
) -> Estimate:
    if metric == "roc_auc":
        return estimate_roc_auc(calibrator, scores, level=level, draws=draws, seed=seed)
    return estimate_expected_loss(calibrator, scores, metric, level=level, draws=draws, seed=seed)


# -- regression: direct loss estimation (DLE, as NannyML's) ------------------------------------
# A model of each row's loss (squared error for rmse, absolute error for mae) fitted on the
# labelled reference window from the champion's prediction and the numeric inputs, predicted on
# the unlabelled current rows. The interval: the spread of the realised mean loss around the
# predicted one, from the out-of-fold residual spread of the loss model on the reference.

LOSS_METRICS = ("rmse", "mae")


@dataclass(frozen=True)
class LossModel:
    metric: str
    model: object  # a fitted HistGradientBoostingRegressor
    columns: tuple[str, ...]
    residual_sd: float  # out-of-fold sd of (actual - predicted) per-row loss on the reference
    n_reference: int


def _loss_inputs(predictions: np.ndarray, features: object, columns: tuple[str, ...]) -> object:
    import numpy as np

    parts = [np.asarray(predictions, dtype=float)[:, None]]
    if columns:
        frame = features  # a DataFrame with these columns
        parts.append(frame[list(columns)].to_numpy(dtype=float, na_value=np.nan))  # type: ignore[index]
    return np.hstack(parts)


def _row_loss(metric: str, labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    import numpy as np

    error = np.asarray(predictions, dtype=float) - np.asarray(labels, dtype=float)
    return error**2 if metric == "rmse" else np.abs(error)


def fit_direct_loss(
    metric: str,
    labels: np.ndarray,
    predictions: np.ndarray,
    features: object = None,
    *,
    seed: int = 0,
    min_rows: int = 100,
) -> LossModel:
    """Fit the loss model on the labelled reference rows (`features`: a DataFrame or None)."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    if metric not in LOSS_METRICS:
        raise UserError(
            f"no label-free estimate of {metric!r}",
            "use rmse or mae as train.metric.regression, or the decay policy",
        )
    if len(labels) < min_rows:
        raise UserError(
            f"the reference window has {len(labels)} labelled rows; the direct-loss estimate "
            f"needs at least {min_rows}",
            "widen the reference (test) window, or use the `decay` policy",
        )
    columns: tuple[str, ...] = ()
    if isinstance(features, pd.DataFrame):
        columns = tuple(
            str(c)
            for c in features.columns
            if pd.api.types.is_numeric_dtype(features[c])
            and not pd.api.types.is_bool_dtype(features[c])
        )
    x = _loss_inputs(predictions, features, columns)
    loss = _row_loss(metric, labels, predictions)
    model = HistGradientBoostingRegressor(max_iter=100, min_samples_leaf=20, random_state=seed)
    folds = KFold(3, shuffle=True, random_state=seed)
    # one thread: four small fits; OpenMP threads on a busy machine cost 10x the fit
    with threadpool_limits(1):
        oof = cross_val_predict(model, x, loss, cv=folds)
        model.fit(x, loss)
    return LossModel(metric, model, columns, float(np.std(loss - oof)), len(loss))


def estimate_direct_loss(
    loss_model: LossModel, predictions: np.ndarray, features: object = None, *, level: float = 0.9
) -> Estimate:
    """RMSE or MAE of the champion on unlabelled rows, with a `level` interval."""
    import numpy as np
    from scipy.stats import norm
    from threadpoolctl import threadpool_limits

    if len(predictions) == 0:
        raise UserError("no current rows to estimate on", "check the monitor's current window")
    x = _loss_inputs(predictions, features, loss_model.columns)
    with threadpool_limits(1):
        predicted = loss_model.model.predict(x)  # type: ignore[attr-defined]
    mean = float(np.clip(predicted, 0, None).mean())
    half = float(norm.ppf(0.5 + level / 2)) * loss_model.residual_sd / np.sqrt(len(predictions))
    low, high = max(0.0, mean - half), mean + half
    if loss_model.metric == "rmse":
        mean, low, high = float(np.sqrt(mean)), float(np.sqrt(low)), float(np.sqrt(high))
    return Estimate(loss_model.metric, mean, low, high, level, len(predictions))
