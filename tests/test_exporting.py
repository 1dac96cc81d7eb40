"""The serving output of a multiclass model (class names, one probability per class) and the
served model's requirements (the families' extra packages, only where the model holds them)."""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry_support import TEST, TRAIN, exported_model, one_thread, save
from retrain.exporting import export_model, naive_utc, predict_frame


def test_multiclass_serving_returns_class_names_and_probability_columns() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    # given a classifier fitted on class codes 0..2 and the names base.classes gives them
    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=500).fit(data.data, data.target)
    names = ["setosa", "versicolor", "virginica"]
    config = {"task": "multiclass", "classes": names, "features": list(data.data.columns)}
    # when rows are served
    out = predict_frame(model, data.data.iloc[[0, 60, 120]], config)
    # then each row gets its most likely class by name and a probability per class
    assert list(out.columns) == ["prediction", *(f"probability_{n}" for n in names)]
    assert out["prediction"].tolist() == ["setosa", "versicolor", "virginica"]
    proba = out[[f"probability_{n}" for n in names]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    expected = model.predict_proba(data.data.iloc[[0, 60, 120]])
    np.testing.assert_allclose(proba, expected)
    assert isinstance(out, pd.DataFrame)


@pytest.mark.skipif(
    importlib.util.find_spec("lightgbm") is None,
    reason="lightgbm missing: it is in the bench group (uv sync --all-groups)",
)
def test_a_lightgbm_model_is_served_with_lightgbm_pinned(tmp_path: Path) -> None:
    import mlflow.pyfunc

    from retrain.search.families import build_pipeline
    from retrain.search.preprocess import feature_columns

    # given a lightgbm family Pipeline fitted on the fixture window and saved with skops
    train = pd.read_parquet(TRAIN)
    frame = train.drop(columns=["label"])
    columns = feature_columns(
        frame, exclude={"flight_id"}, event_time="event_time", calendar=False, max_categories=60
    )
    with one_thread():
        model = build_pipeline(
            "lightgbm", {"n_estimators": 10}, task="classification", columns=columns, seed=0,
            timezone="UTC",
        ).fit(frame, train["label"])  # fmt: skip
    save(model, tmp_path / "model.skops")
    # when it is exported (the export itself reloads it through pyfunc and checks parity)
    out = tmp_path / "model"
    export_model(
        tmp_path / "model.skops", TEST, out, task="classification", threshold=0.5,
        input_example_rows=3, parity_rows=50,
    )  # fmt: skip
    # then its requirements pin the lightgbm that trained it, and MLflow serves it
    requirements = (out / "requirements.txt").read_text().split()
    assert f"lightgbm=={version('lightgbm')}" in requirements
    rows = naive_utc(pd.read_parquet(TEST).drop(columns=["label"]).head(5))  # as served
    served = mlflow.pyfunc.load_model(str(out)).predict(rows)
    assert served["probability"].between(0, 1).all()


def test_a_scikit_learn_model_does_not_require_lightgbm() -> None:
    # given the export of a scikit-learn-only Pipeline
    out, _ = exported_model("hgb")
    # then its requirements name no family package it does not hold
    requirements = (out / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "lightgbm" not in requirements
