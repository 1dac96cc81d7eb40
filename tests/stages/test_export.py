from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry_support import FEATURES, MODEL, TEST, fit_pipeline, save, write_search
from retrain.cli import main
from retrain.errors import UserError

# Fits here are tiny; default OpenMP threads spin on a busy 2-core box (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, str]:
    """One real export through the CLI: (export dir, skops path, sha256)."""
    import yaml

    tmp = tmp_path_factory.mktemp("export")
    skops = tmp / "model.skops"
    sha = save(fit_pipeline("hgb"), skops)
    params = tmp / "params.yaml"
    params.write_text(
        yaml.safe_dump({"base": {"model_name": MODEL}, "export": {"parity_rows": 100}})
    )
    out = tmp / "build" / "export" / "model"
    search = write_search(tmp / "search.json")
    code = main(
        [
            "export",
            "--model",
            str(skops),
            "--test",
            str(TEST),
            "--search",
            str(search),
            "--out",
            str(out),
            "--params",
            str(params),
        ]
    )
    assert code == 0
    return out, skops, sha


def test_model_directory_layout(exported) -> None:
    out, _, sha = exported
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {
        "MLmodel",
        "python_model.py",
        "artifacts/model.skops",
        "artifacts/sha256.txt",
        "artifacts/types.txt",
        "input_example.json",
        "serving_input_example.json",
        "requirements.txt",
    } <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle"))]  # no pickle anywhere
    assert "uv.lock" not in names
    assert (out / "artifacts" / "sha256.txt").read_text().split()[0] == sha
    types = (out / "artifacts" / "types.txt").read_text().split()
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in types
    requirements = (out / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "skops==" in requirements
    assert not list(out.parent.glob(".model.tmp-*"))  # staging directory cleaned up


def test_reload_prediction_parity_and_threshold(exported) -> None:
    import mlflow.pyfunc

    out, _skops, _ = exported
    frame = pd.read_parquet(TEST)
    model = mlflow.pyfunc.load_model(str(out))
    got = model.predict(frame)  # raw rows: extra columns are ignored
    expected = fit_pipeline("hgb").predict_proba(frame[FEATURES])[:, 1]
    np.testing.assert_array_equal(got["probability"].to_numpy(), expected)
    np.testing.assert_array_equal(got["prediction"].to_numpy(), (expected >= 0.4).astype(int))
    inputs = [c["name"] for c in json.loads(model.metadata.get_input_schema().to_json())]
    assert inputs == FEATURES


def test_tampered_artifact_refused_on_load(exported, tmp_path: Path) -> None:
    import shutil

    import mlflow.pyfunc

    out, _, _ = exported
    copy = tmp_path / "model"
    shutil.copytree(out, copy)
    skops = copy / "artifacts" / "model.skops"
    skops.write_bytes(skops.read_bytes() + b"\0")
    with pytest.raises(UserError, match="changed after it was recorded"):
        mlflow.pyfunc.load_model(str(copy))


def test_allow_list_comes_from_the_repo_not_the_artifact(
    exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.pyfunc

    out, _, _ = exported
    # types.txt inside the artifact lists everything; the repo's list is what counts.
    monkeypatch.setattr("retrain.model_io.trusted_types", lambda: ["numpy.dtype"])
    with pytest.raises(UserError, match="outside the allow-list"):
        mlflow.pyfunc.load_model(str(out))


def test_bad_inputs_write_nothing(tmp_path: Path, capsys) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("base: {model_name: flight-delay}\n")
    skops = tmp_path / "model.skops"
    save(fit_pipeline("hgb"), skops)
    out = tmp_path / "export"
    no_features = tmp_path / "narrow.parquet"
    pd.read_parquet(TEST).drop(columns=["temp"]).to_parquet(no_features)
    bad_search = tmp_path / "search.json"
    bad_search.write_text(json.dumps({"schema": 1}))
    cases = [
        (["--model", str(tmp_path / "absent.skops"), "--test", str(TEST)], "model file not found"),
        (["--model", str(skops), "--test", str(tmp_path / "absent.parquet")], "test file not"),
        (["--model", str(skops), "--test", str(no_features)], "lacks the model's feature"),
        (
            ["--model", str(skops), "--test", str(TEST), "--search", str(bad_search)],
            "is not a valid search result",
        ),
    ]
    for args, message in cases:
        assert main(["export", *args, "--out", str(out), "--params", str(params)]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()
        assert list(tmp_path.glob(".export.tmp-*")) == []
