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

The interval has two parts. The spread of the metric over label sets drawn from the calibrated
probabilities (Monte Carlo, seeded) is the realised value's sampling noise *given* the
calibration. The calibration's own error is measured, not assumed, by cross-fitting on the
reference (`cross_fit_errors`): the labelled reference is cut into blocks (contiguous in time
when the rows carry their event time, else a seeded shuffle), each block's metric is estimated
without its labels from a calibration fitted on the other blocks and compared with its
realised value. The rule (`widened`): the sampling interval, widened on each side by the
`level` quantile of those |fold errors|. A plain sum, not quadrature: the errors are mostly the
calibration's bias for the period, not noise independent of the sampling. It leans wide: a
block's error also holds that block's own sampling noise (its rows are fewer than a period's).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    margin: float = 0.0  # the widening for the estimator's own error (0: sampling only)

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


def _row_losses(metric: str, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's loss if it is a positive, and if it is a negative."""
    import numpy as np

    from retrain.metrics import EPS

    if metric == "brier":
        return (1.0 - scores) ** 2, scores**2
    if metric == "log_loss":
        q = np.clip(scores, EPS, 1 - EPS)
        return -np.log(q), -np.log(1 - q)
    raise UserError(
        f"no label-free estimate of {metric!r}",
        "use roc_auc, brier or log_loss as train.metric.classification, or the decay policy",
    )


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

    s = np.asarray(scores, dtype=float)
    if len(s) == 0:
        raise UserError("no current rows to estimate on", "check the monitor's current window")
    p = calibrator.probabilities(s)
    loss1, loss0 = _row_losses(metric, s)
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
    errors: np.ndarray | None = None,
) -> Estimate:
    """`metric` on unlabelled `scores`; its interval widened by the cross-fitted `errors` of
    the estimator when given (`cross_fit_errors`), else the label-sampling interval alone."""
    if metric == "roc_auc":
        found = estimate_roc_auc(calibrator, scores, level=level, draws=draws, seed=seed)
    else:
        found = estimate_expected_loss(
            calibrator, scores, metric, level=level, draws=draws, seed=seed
        )
    return found if errors is None else widened(found, errors)


# -- the estimator's own error: cross-fitting on the labelled reference -----------------------


def fold_blocks(n: int, folds: int, order: object = None, seed: int = 0) -> list[np.ndarray]:
    """Row indices of `folds` held-out blocks of `n` rows: contiguous runs of `order` (e.g.
    the rows' event times) when given, else a seeded shuffle."""
    import numpy as np

    if order is not None:
        index = np.argsort(np.asarray(order), kind="stable")
    else:
        index = np.random.default_rng(seed).permutation(n)
    return [block for block in np.array_split(index, folds) if len(block)]


def point_estimate(metric: str, calibrator: Calibrator, scores: np.ndarray) -> float:
    """The label-free estimate of `metric` alone (no interval): what cross-fitting checks."""
    import numpy as np

    s = np.asarray(scores, dtype=float)
    p = calibrator.probabilities(s)
    if metric == "roc_auc":
        return expected_roc_auc(s, p)
    loss1, loss0 = _row_losses(metric, s)
    return float((p * loss1 + (1 - p) * loss0).mean())


def cross_fit_errors(
    metric: str,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    folds: int = 5,
    order: object = None,
    seed: int = 0,
    min_rows: int = 100,
) -> np.ndarray:
    """Estimate minus realised `metric` on each of `folds` held-out blocks of the reference,
    each estimated from a calibration fitted on the other blocks. Blocks whose rows or the
    rest's cannot be calibrated / scored (one class only, too few rows) are left out."""
    import numpy as np

    from retrain.metrics import score

    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels)
    errors = []
    for held in fold_blocks(len(scores), folds, order, seed):
        rest = np.ones(len(scores), dtype=bool)
        rest[held] = False
        one_class = len(np.unique(labels[rest])) != 2 or len(np.unique(labels[held])) != 2
        if rest.sum() < min_rows or one_class:
            continue
        calibrator = calibrate(scores[rest], labels[rest], min_rows)
        estimated = point_estimate(metric, calibrator, scores[held])
        errors.append(estimated - score(metric, labels[held], scores[held]))
    return np.array(errors, dtype=float)


UNIT_METRICS = ("roc_auc", "accuracy", "brier")  # metrics that cannot exceed 1


def error_margin(errors: np.ndarray | None, level: float) -> float:
    """The `level` quantile of the |fold errors| (0 when there are none)."""
    import numpy as np

    if errors is None or not len(errors):
        return 0.0
    return float(np.quantile(np.abs(errors), level))


def widened(estimate: Estimate, errors: np.ndarray | None) -> Estimate:
    """The sampling interval widened on each side by the `level` quantile of |fold errors|,
    kept inside the metric's range."""
    margin = error_margin(errors, estimate.level)
    high = estimate.high + margin
    if estimate.metric in UNIT_METRICS:
        high = min(high, 1.0)
    return replace(estimate, low=max(estimate.low - margin, 0.0), high=high, margin=margin)


# -- regression: direct loss estimation (DLE, as NannyML's) ------------------------------------
# A model of each row's loss (squared error for rmse, absolute error for mae) fitted on the
# labelled reference window from the champion's prediction and the numeric inputs, predicted on
# the unlabelled current rows. The interval: the spread of the realised mean loss around the
# predicted one, from the out-of-fold residual spread of the loss model on the reference,
# widened (as CBPE's) by the `level` quantile of |predicted - realised mean loss| over the
# same out-of-fold blocks (time-ordered when the rows carry their event time): the loss
# model's own error, measured by the cross-fit it already does.

LOSS_METRICS = ("rmse", "mae")


@dataclass(frozen=True)
class LossModel:
    metric: str
    model: object  # a fitted HistGradientBoostingRegressor
    columns: tuple[str, ...]
    residual_sd: float  # out-of-fold sd of (actual - predicted) per-row loss on the reference
    n_reference: int
    # per out-of-fold block: predicted minus realised mean loss (the estimator's own error)
    fold_errors: tuple[float, ...] = ()


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
    folds: int = 3,
    order: object = None,
) -> LossModel:
    """Fit the loss model on the labelled reference rows (`features`: a DataFrame or None),
    with its out-of-fold errors on `folds` blocks (contiguous runs of `order` when given)."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import cross_val_predict
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
    blocks = fold_blocks(len(loss), max(2, folds), order, seed)
    every = np.arange(len(loss))
    splits = [(np.setdiff1d(every, held), held) for held in blocks]
    # one thread: a few small fits; OpenMP threads on a busy machine cost 10x the fit
    with threadpool_limits(1):
        oof = cross_val_predict(model, x, loss, cv=splits)
        model.fit(x, loss)
    errors = tuple(float(oof[held].mean() - loss[held].mean()) for held in blocks)
    return LossModel(metric, model, columns, float(np.std(loss - oof)), len(loss), errors)


def estimate_direct_loss(
    loss_model: LossModel,
    predictions: np.ndarray,
    features: object = None,
    *,
    level: float = 0.9,
    cross_fit: bool = True,
) -> Estimate:
    """RMSE or MAE of the champion on unlabelled rows, with a `level` interval (widened by the
    loss model's out-of-fold errors unless `cross_fit` is off)."""
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
    margin = error_margin(np.array(loss_model.fold_errors), level) if cross_fit else 0.0
    low, high = max(0.0, mean - half - margin), mean + half + margin
    if loss_model.metric == "rmse":  # the margin in the metric's units, as the interval
        margin = float(np.sqrt(mean + margin) - np.sqrt(mean))
        mean, low, high = float(np.sqrt(mean)), float(np.sqrt(low)), float(np.sqrt(high))
    return Estimate(loss_model.metric, mean, low, high, level, len(predictions), margin)
