"""How a fitted model scores rows: ONE implementation for the search, evaluate, the gate, the
monitor and the exported (serving) model.

A score is the positive-class probability (classification), the probability matrix (multiclass:
rows x classes, columns in base.classes order) or the prediction (regression).
Columns are matched by name to what the Pipeline was fitted on (`feature_names_in_`), so extra
columns (key, event time, label) are ignored and a missing one is reported by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


class MissingColumns(KeyError):
    """The frame lacks columns the model was fitted on (`columns` names them)."""

    def __init__(self, columns: list[str]) -> None:
        super().__init__(", ".join(columns))
        self.columns = columns


def feature_columns(model: Any, frame: pd.DataFrame, label: str = "label") -> list[str]:
    """Columns the model was fitted on (`feature_names_in_`), else all but the label."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    return [str(c) for c in frame.columns if c != label]


def feature_frame(model: Any, frame: pd.DataFrame, label: str = "label") -> pd.DataFrame:
    """The model's input columns of `frame`; `MissingColumns` when some are absent."""
    columns = feature_columns(model, frame, label)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumns(missing)
    return frame[columns]


def positive_scores(model: Any, features: Any) -> np.ndarray:
    """Probability of the positive class (label 1) per row."""
    import numpy as np

    return np.asarray(model.predict_proba(features)[:, 1], dtype=np.float64)


def predict_scores(model: Any, features: Any, task: str) -> np.ndarray:
    """Positive-class probability (classification) or prediction (regression), on features
    already selected."""
    import numpy as np

    if task == "classification":
        return positive_scores(model, features)
    if task == "multiclass":
        return np.asarray(model.predict_proba(features), dtype=np.float64)
    return np.asarray(model.predict(features), dtype=np.float64)


def score_frame(model: Any, frame: pd.DataFrame, task: str, label: str = "label") -> np.ndarray:
    """`predict_scores` on the model's columns of `frame` (raises `MissingColumns`)."""
    return predict_scores(model, feature_frame(model, frame, label), task)
