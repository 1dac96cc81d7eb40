"""The serving output of a multiclass model: class names and one probability per class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrain.exporting import predict_frame


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
