from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from retrain.errors import UserError
from retrain.model_io import load_model, save_model, sha256_file


def _pipeline() -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(200), "c": rng.choice(["x", "y"], 200)})
    y = (X["a"] > 0.5).astype(int)
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])], remainder="passthrough"
    )
    model = Pipeline(
        [("pre", pre), ("model", HistGradientBoostingClassifier(max_iter=5, random_state=0))]
    )
    return model.fit(X, y), X


def test_roundtrip_predictions_identical(tmp_path: Path) -> None:
    model, X = _pipeline()
    sha = save_model(model, tmp_path / "m.skops")
    assert sha == sha256_file(tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops", expected_sha256=sha)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_tampered_file_refused(tmp_path: Path) -> None:
    model, _ = _pipeline()
    path = tmp_path / "m.skops"
    sha = save_model(model, path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(UserError, match="changed after it was recorded"):
        load_model(path, expected_sha256=sha)


def test_type_outside_allow_list_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = _pipeline()
    path = tmp_path / "m.skops"
    save_model(model, path)
    monkeypatch.setattr("retrain.model_io.trusted_types", lambda: ["numpy.dtype"])
    with pytest.raises(UserError, match="outside the allow-list: .*TreePredictor"):
        load_model(path)


def test_save_refuses_unlisted_types_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = _pipeline()
    monkeypatch.setattr("retrain.model_io.trusted_types", lambda: [])
    with pytest.raises(UserError, match="not in the allow-list"):
        save_model(model, tmp_path / "m.skops")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "m.skops"
    path.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="not a readable skops file"):
        load_model(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="model file not found"):
        load_model(tmp_path / "absent.skops")
