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


def _fresh(code: str) -> str:
    """stdout of `code` run by a fresh interpreter (skops.io not yet imported)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_pinned_skops_trust_list_equals_skops_own_scan() -> None:
    """The pinned list is exactly what skops' import computes with all_estimators(), for the
    installed versions; through skops_io() skops trusts the same types, without the scan."""
    import json
    from importlib.metadata import version

    import sklearn

    from retrain import sklearn_estimators as pinned

    # given the installed versions are the pinned ones (else skops_io() scans as usual)
    versions = [sklearn.__version__, version("skops")]
    assert versions == [pinned.SKLEARN_VERSION, pinned.SKOPS_VERSION], (
        "scikit-learn or skops changed: regenerate src/retrain/sklearn_estimators.py"
    )
    # when skops.io is imported plainly, and through skops_io(), each in a fresh process
    read = "import json, skops.io._trusted_types as t; print(json.dumps(t.SKLEARN_ESTIMATOR_TYPE_NAMES))"
    scanned = json.loads(_fresh(read))
    via = json.loads(_fresh("from retrain.model_io import skops_io; skops_io(); " + read))
    # then both lists are the pinned one
    assert sorted(scanned) == sorted(pinned.ESTIMATOR_TYPES)
    assert sorted(via) == sorted(pinned.ESTIMATOR_TYPES)


def test_skops_io_skips_the_estimator_scan_and_still_refuses_unlisted_types(
    tmp_path: Path,
) -> None:
    # given a saved model (pipeline with one-hot encoding and HGB)
    model, _ = _pipeline()
    path = tmp_path / "m.skops"
    save_model(model, path)
    # when a fresh process loads it through model_io (then again with a narrowed allow-list),
    # and another imports skops.io plainly
    probe = (
        "import sys; print(sorted(m for m in ('sklearn.gaussian_process', "
        "'sklearn.semi_supervised') if m in sys.modules))"
    )
    loaded = _fresh(
        "import retrain.model_io as m\n"
        "from retrain.errors import UserError\n"
        f"m.load_model({str(path)!r})\n"
        f"{probe}\n"
        "m.trusted_types = lambda: ['numpy.dtype']\n"
        f"try:\n    m.load_model({str(path)!r})\nexcept UserError as e:\n    print(e)\n"
    )
    plain = _fresh(f"import skops.io; {probe}")
    # then the load imported no estimator module the model does not use (the scan imports all)
    assert loaded.splitlines()[0] == "[]"
    assert plain.strip() != "[]"
    # and an unlisted type is still refused by a process that never scanned
    assert "outside the allow-list" in loaded and "TreePredictor" in loaded
