"""Evaluate: test-window metrics, slice metrics and DVC plot data of a trained model (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from retrain.artifacts import SearchSummary
from retrain.errors import UserError
from retrain.metrics import compute_metrics, greater_is_better, score
from retrain.scoring import predict_scores
from retrain.slices import slice_levels

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config.evaluate import EvaluateSection


LABEL = "label"


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, Any]
    slices: dict[str, dict[str, dict[str, Any]]]
    # file name in plots/ -> list of records (.json) or rows with a header row first (.csv)
    plots: dict[str, Any]


def check_test_data(frame: pd.DataFrame, task: str) -> None:
    import pandas as pd

    if frame.empty:
        raise UserError(
            "the test set is empty", "check prepare.test_window against the extracted window"
        )
    if LABEL not in frame.columns:
        raise UserError(f"the test table has no {LABEL!r} column", "re-run prepare")
    n_missing = int(frame[LABEL].isna().sum())
    if n_missing:
        raise UserError(
            f"the test target has {n_missing} missing value(s)",
            "prepare must drop rows without a known outcome",
        )
    if task == "multiclass" and not pd.api.types.is_integer_dtype(frame[LABEL]):
        raise UserError(
            f"multiclass needs class codes in the test label; it is {frame[LABEL].dtype}",
            "re-run prepare with the same base.task as train",
        )
    if task == "classification":
        levels = sorted(pd.unique(frame[LABEL]).tolist())
        if not set(levels) <= {0, 1}:
            raise UserError(
                f"classification needs a 0/1 test label; it holds {levels[:6]}",
                "re-run prepare with the same base.task as train",
            )
        if len(levels) < 2:
            raise UserError(
                f"the test set has a single class ({levels[0]}): ROC AUC is undefined",
                "widen prepare.test_window so both classes occur",
            )


def check_search_summary(search: SearchSummary, task: str) -> None:
    if search.task != task:
        raise UserError(
            f"the model was trained for task {search.task!r} but base.task is {task!r}",
            "re-run the train stage (dvc repro) after changing base.task",
        )
    threshold = search.threshold
    if task == "classification" and not (threshold is not None and 0.0 <= threshold <= 1.0):
        raise UserError(
            f"search.json threshold {threshold!r} is not a probability in [0, 1]",
            "re-run the train stage",
        )


def _classification_metrics(y: Any, proba: Any, threshold: float) -> dict[str, Any]:
    import numpy as np
    from sklearn import metrics as skm

    predicted = (proba >= threshold).astype(int)
    return {
        "roc_auc": score("roc_auc", y, proba),
        "pr_auc": score("pr_auc", y, proba),
        "log_loss": score("log_loss", y, proba),
        "brier": score("brier", y, proba),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "threshold": float(threshold),
        "n_test": len(y),
        "positive_rate": float(np.mean(y)),
        "predicted_positive_rate": float(np.mean(predicted)),
    }


def _multiclass_metrics(y: Any, proba: Any, classes: list[str]) -> dict[str, Any]:
    """The registry's multiclass metrics, plus each class's share actual and predicted."""
    import numpy as np

    values = compute_metrics("multiclass", y, proba)
    predicted = np.argmax(proba, axis=1)
    k = proba.shape[1]
    actual_share = (np.bincount(y, minlength=k) / len(y)).tolist()
    predicted_share = (np.bincount(predicted, minlength=k) / len(y)).tolist()
    return values | {
        "n_test": len(y),
        "class_share": dict(zip(classes, actual_share, strict=True)),
        "predicted_share": dict(zip(classes, predicted_share, strict=True)),
    }


def _confusion(y: Any, predicted: Any, names: list[str]) -> list[tuple[Any, ...]]:
    """One row per test row (DVC's confusion template counts them), with class names."""
    pairs = zip([names[i] for i in y], [names[i] for i in predicted], strict=True)
    return [("actual", "predicted"), *pairs]


def _regression_metrics(y: Any, pred: Any) -> dict[str, Any]:
    return {
        "rmse": score("rmse", y, pred),
        "mae": score("mae", y, pred),
        "r2": score("r2", y, pred),
        "n_test": len(y),
    }


def _slice_metrics(
    y: Any, scores: Any, task: str, threshold: float | None, min_rows: int
) -> dict[str, Any]:
    import numpy as np
    from sklearn import metrics as skm

    out: dict[str, Any] = {"n": len(y)}
    if len(y) < min_rows:
        return out
    if task == "regression":
        return out | {"rmse": score("rmse", y, scores), "mae": score("mae", y, scores)}
    if task == "multiclass":
        values = compute_metrics("multiclass", y, scores)
        return out | {m: values[m] for m in ("accuracy", "f1_macro", "roc_auc_ovr")}
    predicted = (scores >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return out | {
        "roc_auc": score("roc_auc", y, scores) if both else None,
        "pr_auc": score("pr_auc", y, scores) if both else None,
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "positive_rate": float(np.mean(y)),
        "predicted_positive_rate": float(np.mean(predicted)),
    }


def _thin(records: list[dict[str, Any]], points: int) -> list[dict[str, Any]]:
    """Evenly spaced subset (first and last kept) so plot files stay small."""
    import numpy as np

    if len(records) <= points:
        return records
    keep = np.unique(np.linspace(0, len(records) - 1, points).round().astype(int))
    return [records[i] for i in keep]


def _curve_plots(y: Any, proba: Any, threshold: float, options: EvaluateSection) -> dict[str, Any]:
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    fpr, tpr, roc_thr = roc_curve(y, proba)
    roc = [
        {"fpr": float(a), "tpr": float(b), "threshold": float(min(c, 1.0))}
        for a, b, c in zip(fpr, tpr, roc_thr, strict=True)
    ]
    precision, recall, pr_thr = precision_recall_curve(y, proba)
    pr = [
        {"recall": float(r), "precision": float(p), "threshold": float(t)}
        for p, r, t in zip(precision[:-1], recall[:-1], pr_thr, strict=True)
    ]
    frac_pos, mean_pred = calibration_curve(
        y, proba, n_bins=options.calibration_bins, strategy="quantile"
    )
    calibration = [
        {"mean_predicted": float(m), "fraction_positive": float(f)}
        for m, f in zip(mean_pred, frac_pos, strict=True)
    ]
    predicted = (proba >= threshold).astype(int)
    pairs = zip(np.asarray(y).astype(int).tolist(), predicted.tolist(), strict=True)
    confusion = [("actual", "predicted"), *pairs]
    return {
        "roc.json": _thin(roc, options.curve_points),
        "precision_recall.json": _thin(pr, options.curve_points),
        "calibration.json": calibration,
        "confusion.csv": confusion,
    }


def _used_columns(model: Any, frame: pd.DataFrame) -> list[str]:
    """The raw input columns the Pipeline's preprocessing actually reads."""
    try:
        transformers = model.named_steps["preprocess"].transformers_
    except (AttributeError, KeyError):
        return [c for c in frame.columns if c != LABEL]
    used: list[str] = []
    for name, _, columns in transformers:
        if name != "remainder":
            used += [c for c in columns if c in frame.columns and c not in used]
    return used


def permutation_importance(
    model: Any, frame: pd.DataFrame, task: str, metric: str, options: EvaluateSection, seed: int
) -> list[dict[str, Any]]:
    """Drop in the primary metric when one raw input column is shuffled (seeded sample)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sample = frame
    if len(frame) > options.importance.rows:
        sample = frame.iloc[np.sort(rng.choice(len(frame), options.importance.rows, replace=False))]
    y = sample[LABEL].to_numpy()
    X = sample.drop(columns=[LABEL]).reset_index(drop=True)
    if task != "regression" and len(np.unique(y)) < 2:
        return []
    sign = 1.0 if greater_is_better(metric) else -1.0
    baseline = score(metric, y, predict_scores(model, X, task))
    rows = []
    for column in _used_columns(model, X):
        drops = []
        for _ in range(options.importance.repeats):
            shuffled = X.copy()
            shuffled[column] = rng.permutation(shuffled[column].to_numpy())
            drops.append(
                sign * (baseline - score(metric, y, predict_scores(model, shuffled, task)))
            )
        rows.append(
            {"feature": column, "importance": float(np.mean(drops)), "std": float(np.std(drops))}
        )
    return sorted(rows, key=lambda r: -r["importance"])


def evaluate(
    model: Any,
    frame: pd.DataFrame,
    search: SearchSummary,
    *,
    task: str,
    options: EvaluateSection,
    seed: int,
    classes: tuple[str | int, ...] | None = None,
) -> Evaluation:
    """The pure core: metrics, slices and plot data of `model` on the test rows.

    Multiclass (`classes`: base.classes) writes the registry's multiclass metrics and a
    confusion matrix by class name; the binary-only curves (ROC, PR, calibration) are not
    drawn for it."""
    import numpy as np

    check_search_summary(search, task)
    check_test_data(frame, task)
    missing = [c for c in options.slices if c not in frame.columns]
    if missing:
        raise UserError(
            f"slice column(s) {missing} are not in the test table",
            "list existing columns in evaluate.slices (or [] for none)",
        )
    y = frame[LABEL].to_numpy()
    X = frame.drop(columns=[LABEL])
    try:
        scores = np.asarray(predict_scores(model, X, task), dtype=float)
    except (ValueError, KeyError) as exc:
        raise UserError(
            f"the model cannot score the test table: {exc}",
            "train and test must come from the same prepare run (dvc repro)",
        ) from None
    threshold = search.threshold
    if task == "classification":
        assert threshold is not None  # check_search_summary
        metrics = _classification_metrics(y, scores, threshold)
        plots = _curve_plots(y, scores, threshold, options)
    elif task == "multiclass":
        names = [str(c) for c in classes or range(scores.shape[1])]
        if scores.ndim != 2 or scores.shape[1] != len(names):
            raise UserError(
                f"the model scores {scores.shape[-1]} classes, base.classes lists {len(names)}",
                "re-run train after changing base.classes (dvc repro)",
            )
        y = y.astype(np.int64)
        metrics = _multiclass_metrics(y, scores, names)
        plots = {"confusion.csv": _confusion(y, np.argmax(scores, axis=1), names)}
    else:
        metrics = _regression_metrics(y, scores)
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(y), min(len(y), options.residual_points), replace=False))
        plots = {
            "residuals.json": [
                {
                    "predicted": float(scores[i]),
                    "actual": float(y[i]),
                    "residual": float(y[i] - scores[i]),
                }
                for i in idx
            ]
        }
    plots["importance.json"] = permutation_importance(
        model, frame, task, search.primary_metric, options, seed
    )
    slices: dict[str, dict[str, dict[str, Any]]] = {}
    for column in options.slices:
        slices[column] = {
            level: _slice_metrics(y[mask], scores[mask], task, threshold, options.min_slice_rows)
            for level, mask in slice_levels(frame[column])
        }
    return Evaluation(metrics=metrics, slices=slices, plots=plots)
