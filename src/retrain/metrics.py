"""The metric registry: ONE home for what a metric is.

Shaped like scikit-learn's scorer registry and `monitor/stats.py`: each metric is a `Metric`
(name, task, direction, point function) in `METRICS`, and every part asks here: config
validation (`metric_names(task)`), the search and evaluate (`score`), the gate (`compute_metrics`
and the weighted variant `weighted_values` the paired bootstrap runs on), the monitor, the
replay and the report (`greater_is_better`). Importing this module imports no numpy (config
loads it); the functions import what they need.

Classification metrics take the positive-class probability, regression ones the prediction,
multiclass ones the probability matrix (rows x classes, columns in class-code order) with labels
as class codes 0..K-1 (`base.classes` order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

Task = Literal["classification", "multiclass", "regression"]
EPS = 1e-15  # probability clipping for log loss (as scikit-learn)


@dataclass(frozen=True)
class Metric:
    name: str
    tasks: tuple[Task, ...]
    greater_is_better: bool
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", ("classification",), True, "area under the ROC curve"),
        Metric("pr_auc", ("classification",), True, "average precision (area under the PR curve)"),
        Metric(
            "log_loss",
            ("classification", "multiclass"),
            False,
            "cross-entropy of the probabilities",
        ),
        Metric("brier", ("classification",), False, "mean squared error of the probabilities"),
        Metric(
            "roc_auc_ovr",
            ("multiclass",),
            True,
            "macro mean of each class's one-vs-rest ROC AUC",
        ),
        Metric("accuracy", ("multiclass",), True, "share of rows whose most likely class is right"),
        Metric("f1_macro", ("multiclass",), True, "macro mean of each class's F1 (argmax)"),
        Metric("rmse", ("regression",), False, "root mean squared error"),
        Metric("mae", ("regression",), False, "mean absolute error"),
        Metric("r2", ("regression",), True, "coefficient of determination"),
    )
}


# The monitor's decay trigger when monitor.trigger.decay and decay_relative are null: how much
# worse than its registered value the champion's metric may get. Bounded metrics: an amount in
# the metric's own units; error metrics in the target's units (rmse, mae): a share of the
# registered value (0.03 would be 3 cents on a price model).
DEFAULT_DECAY: dict[str, tuple[float, Literal["absolute", "relative"]]] = {
    "roc_auc": (0.03, "absolute"),
    "pr_auc": (0.03, "absolute"),
    "log_loss": (0.03, "absolute"),
    "brier": (0.01, "absolute"),
    "roc_auc_ovr": (0.03, "absolute"),
    "accuracy": (0.03, "absolute"),
    "f1_macro": (0.03, "absolute"),
    "rmse": (0.10, "relative"),
    "mae": (0.10, "relative"),
    "r2": (0.05, "absolute"),
}


def decay_threshold(
    name: str, registered: float, absolute: float | None, relative: float | None
) -> float:
    """The decay (positive = worse) at which the monitor fires for metric `name`."""
    if relative is not None:
        return relative * abs(registered)
    if absolute is not None:
        return absolute
    amount, kind = DEFAULT_DECAY[name]
    return amount * abs(registered) if kind == "relative" else amount


def metric_names(task: str | None = None) -> tuple[str, ...]:
    """All metric names, or those of one task, in registry order."""
    return tuple(n for n, m in METRICS.items() if task is None or task in m.tasks)


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def greater_is_better(name: str) -> bool:
    return get_metric(name).greater_is_better


def score(metric: str, y_true: Any, y_score: Any) -> float:
    """One metric on labels and scores, computed by scikit-learn."""
    import numpy as np
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if y_score.ndim == 2:  # multiclass: the registry's own implementation (tested vs sklearn)
        get_metric(metric)
        ones = np.ones((1, len(y_true)), dtype=np.float32)
        return float(weighted_values(metric, prepare_scores(y_true, y_score), ones)[0])
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y_true, y_score))
    if metric == "pr_auc":
        return float(skm.average_precision_score(y_true, y_score))
    if metric == "log_loss":
        return float(skm.log_loss(y_true, np.clip(y_score, EPS, 1 - EPS), labels=[0, 1]))
    if metric == "brier":
        return float(skm.brier_score_loss(y_true, y_score))
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y_true, y_score)))
    if metric == "mae":
        return float(skm.mean_absolute_error(y_true, y_score))
    if metric == "r2":
        return float(skm.r2_score(y_true, y_score))
    raise ValueError(f"unknown metric {metric!r}")


def best_f1_threshold(y_true: Any, y_score: Any) -> float:
    """The probability cut that maximises F1 on (out-of-fold) predictions."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), y_score)
    # The last precision/recall pair has no threshold.
    p, r = precision[:-1], recall[:-1]
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(thresholds[int(np.argmax(f1))]) if len(thresholds) else 0.5


# -- weighted variants: every metric under resampling weights (the gate's bootstrap) ----------
# Point estimates and the bootstrap share one implementation (vectorised: a block of resamples
# is a weight matrix, resamples x rows).


@dataclass(frozen=True)
class ScoredRows:
    """Labels and scores, pre-sorted once so every resample block reuses the order."""

    y: np.ndarray
    score: np.ndarray
    order: np.ndarray  # ascending score
    ends: np.ndarray  # last index (in `order`) of each group of tied scores
    y_sorted: np.ndarray  # float32, to multiply the float32 weights without up-casting
    # ROC AUC as Mann-Whitney: for each positive, how many negatives score below / tie it.
    pos: np.ndarray  # row indices of positives
    neg_sorted: np.ndarray  # row indices of negatives, ascending score
    below: np.ndarray  # per positive: number of negatives with a lower score
    below_or_tied: np.ndarray  # per positive: ... lower or equal score
    ties: bool  # any positive/negative score ties


@dataclass(frozen=True)
class ScoredClasses:
    """Multiclass labels (codes 0..K-1) and the probability matrix (rows x K)."""

    y: np.ndarray
    proba: np.ndarray
    onehot: np.ndarray  # float32 rows x K: 1 where the row's class is the column's
    predicted: np.ndarray  # float32 rows x K: 1 at the row's most likely class
    per_class: tuple[ScoredRows, ...]  # class k vs the rest, on column k


def prepare_scores(y: np.ndarray, score: np.ndarray) -> ScoredRows | ScoredClasses:
    """Pre-sorted labels and scores; a 2-D score is a multiclass probability matrix."""
    import numpy as np

    if np.ndim(score) == 2:
        y = np.asarray(y).astype(np.int64)
        proba = np.asarray(score, dtype=np.float64)
        k = proba.shape[1]
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise ValueError(f"class codes must lie in 0..{k - 1}, got {sorted(set(y.tolist()))}")
        eye = np.eye(k, dtype=np.float32)
        return ScoredClasses(
            y,
            proba,
            eye[y],
            eye[np.argmax(proba, axis=1)],
            tuple(_prepare_binary((y == c).astype(np.int64), proba[:, c]) for c in range(k)),
        )
    return _prepare_binary(y, score)


def _prepare_binary(y: np.ndarray, score: np.ndarray) -> ScoredRows:
    import numpy as np

    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    is_pos = y == 1
    pos = np.flatnonzero(is_pos)
    neg = np.flatnonzero(~is_pos)
    neg_sorted = neg[np.argsort(score[neg], kind="mergesort")]
    neg_scores = score[neg_sorted]
    below = np.searchsorted(neg_scores, score[pos], side="left")
    below_or_tied = np.searchsorted(neg_scores, score[pos], side="right")
    return ScoredRows(
        y,
        score,
        order,
        ends,
        y[order].astype(np.float32),
        pos,
        neg_sorted,
        below,
        below_or_tied,
        bool((below_or_tied != below).any()),
    )


def _weighted_roc_auc(d: ScoredRows, w: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUC per resample: sum over positives of their weight times the
    weight of negatives scoring below (+ half the ties), over W_pos x W_neg."""
    import numpy as np

    w_neg = np.take(w, d.neg_sorted, axis=1)
    # cumulative negative weight with a leading 0: column k = weight of the k lowest negatives
    cum = np.zeros((w.shape[0], len(d.neg_sorted) + 1), dtype=np.float64)
    np.cumsum(w_neg, axis=1, dtype=np.float64, out=cum[:, 1:])
    credit = np.take(cum, d.below, axis=1)
    if d.ties:
        credit += 0.5 * (np.take(cum, d.below_or_tied, axis=1) - credit)
    w_pos = np.take(w, d.pos, axis=1)
    n_pos, n_neg = w_pos.sum(axis=1, dtype=np.float64), cum[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.einsum("ij,ij->i", w_pos, credit) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), value, np.nan)


def _weighted_multiclass(name: str, d: ScoredClasses, w: np.ndarray) -> np.ndarray:
    """Multiclass metric `name` per resample (rows of `w`)."""
    import numpy as np

    total = w.sum(axis=1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "roc_auc_ovr":
            # macro mean over the classes that have positives and negatives in the resample
            per_class = np.stack([_weighted_roc_auc(c, w) for c in d.per_class], axis=1)
            defined = ~np.isnan(per_class)
            count = defined.sum(axis=1)
            value = np.where(defined, per_class, 0.0).sum(axis=1) / count
            return np.where(count > 0, value, np.nan)
        if name == "log_loss":
            right = np.clip(d.proba[np.arange(len(d.y)), d.y], EPS, 1.0)
            return (w @ -np.log(right)) / total
        if name == "accuracy":
            correct = (d.onehot * d.predicted).sum(axis=1)
            return (w @ correct) / total
        if name == "f1_macro":
            # per class: true positives, actual and predicted counts (weighted)
            tp = w @ (d.onehot * d.predicted)
            actual, predicted = w @ d.onehot, w @ d.predicted
            denom = actual + predicted
            f1 = np.where(denom > 0, 2 * tp / denom, np.nan)
            present = denom > 0  # as scikit-learn: labels in y_true or y_pred
            return np.where(present, f1, 0.0).sum(axis=1) / present.sum(axis=1)
    raise ValueError(f"metric {name!r} is not a multiclass metric")


def weighted_values(name: str, d: ScoredRows | ScoredClasses, w: np.ndarray) -> np.ndarray:
    """Metric `name` for each row of the weight matrix `w` (resamples x rows)."""
    import numpy as np

    if isinstance(d, ScoredClasses):
        return _weighted_multiclass(name, d, w)
    if name == "roc_auc":
        return _weighted_roc_auc(d, w)
    total = w.sum(axis=1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "pr_auc":
            # Per tied-score group: weighted positives and negatives, via running sums taken
            # at the group ends (much faster than a segmented reduce along the rows).
            ws = np.take(w, d.order, axis=1)
            pos_through = np.cumsum(ws * d.y_sorted, axis=1, dtype=np.float64)[:, d.ends]
            all_through = np.cumsum(ws, axis=1, dtype=np.float64)[:, d.ends]
            neg_through = all_through - pos_through
            pos = np.diff(pos_through, axis=1, prepend=0.0)
            neg = np.diff(neg_through, axis=1, prepend=0.0)
            n_pos = pos_through[:, -1]
            # Average precision: thresholds from the highest score down.
            tp = np.cumsum(pos[:, ::-1], axis=1)
            fp = np.cumsum(neg[:, ::-1], axis=1)
            precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            value = (pos[:, ::-1] * precision).sum(axis=1) / n_pos
            return np.where(n_pos > 0, value, np.nan)
        y, p = d.y.astype(np.float64), d.score.astype(np.float64)
        if name == "log_loss":
            q = np.clip(p, EPS, 1 - EPS)
            return (w @ -(y * np.log(q) + (1 - y) * np.log(1 - q))) / total
        if name == "brier":
            return (w @ (p - y) ** 2) / total
        if name == "rmse":
            return np.sqrt((w @ (p - y) ** 2) / total)
        if name == "mae":
            return (w @ np.abs(p - y)) / total
        if name == "r2":
            ss_res = w @ (p - y) ** 2
            ss_tot = w @ y**2 - (w @ y) ** 2 / total
            return np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
    raise ValueError(f"unknown metric {name}")


def compute_metrics(task: str, y: np.ndarray, score: np.ndarray) -> dict[str, float | None]:
    """Every metric of `task` on the whole window (None where undefined, e.g. AUC with one
    class)."""
    import numpy as np

    d = prepare_scores(y, score)
    ones = np.ones((1, len(y)), dtype=np.float32)
    out: dict[str, float | None] = {}
    for name in metric_names(task):
        value = float(weighted_values(name, d, ones)[0])
        out[name] = None if math.isnan(value) else value
    return out
