"""`retrain evaluate`: test-window metrics, slice metrics and DVC plot data for the trained model.

Reads build/train/model.skops + search.json (task, primary metric, the threshold chosen on train
CV out-of-fold predictions) and build/prepared/test.parquet. Writes metrics/evaluate.json (flat,
for `dvc metrics diff`), metrics/slices.json and plots/ (declared in dvc.yaml `plots:`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config.evaluate import EvaluateSection

log = logging.getLogger("retrain.evaluate")

LABEL = "label"
MISSING_LEVEL = "(missing)"


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


def check_search_summary(search: dict[str, Any], task: str) -> None:
    if not isinstance(search, dict) or search.get("schema") != 1:
        raise UserError(
            "search.json has an unknown schema (expected schema 1)", "re-run the train stage"
        )
    if search.get("task") != task:
        raise UserError(
            f"the model was trained for task {search.get('task')!r} but base.task is {task!r}",
            "re-run the train stage (dvc repro) after changing base.task",
        )
    threshold = search.get("threshold")
    if task == "classification" and not (
        isinstance(threshold, int | float) and 0.0 <= threshold <= 1.0
    ):
        raise UserError(
            f"search.json threshold {threshold!r} is not a probability in [0, 1]",
            "re-run the train stage",
        )


def _classification_metrics(y: Any, proba: Any, threshold: float) -> dict[str, Any]:
    import numpy as np
    from sklearn import metrics as skm

    from retrain.search.metrics import score

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


def _regression_metrics(y: Any, pred: Any) -> dict[str, Any]:
    from retrain.search.metrics import score

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

    from retrain.search.metrics import score

    out: dict[str, Any] = {"n": len(y)}
    if len(y) < min_rows:
        return out
    if task == "regression":
        return out | {"rmse": score("rmse", y, scores), "mae": score("mae", y, scores)}
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

    from retrain.search.families import predict_scores
    from retrain.search.metrics import GREATER_IS_BETTER, score

    rng = np.random.default_rng(seed)
    sample = frame
    if len(frame) > options.importance.rows:
        sample = frame.iloc[np.sort(rng.choice(len(frame), options.importance.rows, replace=False))]
    y = sample[LABEL].to_numpy()
    X = sample.drop(columns=[LABEL]).reset_index(drop=True)
    if task == "classification" and len(np.unique(y)) < 2:
        return []
    sign = 1.0 if GREATER_IS_BETTER[metric] else -1.0
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
    search: dict[str, Any],
    *,
    task: str,
    options: EvaluateSection,
    seed: int,
) -> Evaluation:
    """The pure core: metrics, slices and plot data of `model` on the test rows."""
    import numpy as np

    from retrain.search.families import predict_scores

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
    threshold = search.get("threshold")
    if task == "classification":
        metrics = _classification_metrics(y, scores, float(threshold))  # type: ignore[arg-type]
        plots = _curve_plots(y, scores, float(threshold), options)  # type: ignore[arg-type]
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
        model, frame, task, search["primary_metric"], options, seed
    )
    slices: dict[str, dict[str, dict[str, Any]]] = {}
    for column in options.slices:
        levels = frame[column].astype("object").where(frame[column].notna(), MISSING_LEVEL)
        per_level = {}
        for level in sorted(levels.unique(), key=str):
            mask = (levels == level).to_numpy()
            per_level[str(level)] = _slice_metrics(
                y[mask], scores[mask], task, threshold, options.min_slice_rows
            )
        slices[column] = per_level
    return Evaluation(metrics=metrics, slices=slices, plots=plots)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary repo files
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_plots(plots: dict[str, Any], directory: Path) -> None:
    """Replace `directory` as a whole (no stale file from another task survives)."""
    import csv

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    staging.chmod(0o755)  # mkdtemp creates 0700
    try:
        for name, payload in plots.items():
            if name.endswith(".csv"):
                with (staging / name).open("w", newline="", encoding="utf-8") as fh:
                    csv.writer(fh).writerows(payload)
            else:
                (staging / name).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(prog="retrain evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="build/train/model.skops")
    parser.add_argument("--search", type=Path, required=True, help="build/train/search.json")
    parser.add_argument("--test", type=Path, required=True, help="prepared test.parquet")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--slices", type=Path, required=True, help="slice metrics JSON to write")
    parser.add_argument("--plots", type=Path, required=True, help="directory for plot data")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logs.setup(args.verbose)

    from retrain.config import load_params
    from retrain.model_io import load_model
    from retrain.stages.train import read_table

    params = load_params(args.params)
    if not args.search.is_file():
        raise UserError(f"search summary {args.search} not found", "run the train stage first")
    try:
        search = json.loads(args.search.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{args.search} is not valid JSON: {exc}", "re-run the train stage"
        ) from None
    check_search_summary(search, params.base.task)
    frame = read_table(args.test, "test table")
    model = load_model(args.model)
    result = evaluate(
        model,
        frame,
        search,
        task=params.base.task,
        options=params.evaluate,
        seed=params.base.seed,
    )
    _write_json(args.metrics, result.metrics)
    _write_json(args.slices, result.slices)
    write_plots(result.plots, args.plots)
    headline = "roc_auc" if params.base.task == "classification" else "rmse"
    log.info(
        "test %s %.4f on %d rows; %d slice column(s); %d plot file(s) in %s",
        headline,
        result.metrics[headline],
        result.metrics["n_test"],
        len(result.slices),
        len(result.plots),
        args.plots,
    )
    return 0
