"""Metric functions by name, shared by the search (CV scores) and the evaluate stage."""

from __future__ import annotations

from typing import Any

import numpy as np

# Whether a larger value is better (Optuna direction, leaderboard order).
GREATER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
    "r2": True,
}


def score(metric: str, y_true: Any, y_score: Any) -> float:
    """`y_score`: positive-class probability (classification) or prediction (regression)."""
    from sklearn import metrics as skm

    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y_true, y_score))
    if metric == "pr_auc":
        return float(skm.average_precision_score(y_true, y_score))
    if metric == "log_loss":
        return float(skm.log_loss(y_true, np.clip(y_score, 1e-15, 1 - 1e-15), labels=[0, 1]))
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
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(np.asarray(y_true), y_score)
    # The last precision/recall pair has no threshold.
    p, r = precision[:-1], recall[:-1]
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(thresholds[int(np.argmax(f1))]) if len(thresholds) else 0.5
