"""Someone else's table, params only, from extract to a served champion: every stage's real
code (`retrain <stage>` in-process), a real MLflow sqlite registry, a real git ref for promote.

Tables are scikit-learn's bundled ones (offline): diabetes (regression, no key, a synthetic
visit date for the time-indexed run), breast cancer (binary, text labels, no key, no time) and
wine (multiclass, the cultivars as text, no key, a synthetic tasting date).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from retrain.cli import main
from retrain.config.base import ROW_ID
from retrain.metrics import score
from retrain.model_io import load_model
from retrain.scoring import score_frame
from retrain.splitting import hash_unit

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def diabetes_table(with_time: bool) -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    if with_time:  # one visit a day from 2020-01-01: train Jan-Oct 2020, test after
        frame.insert(0, "visit", pd.date_range("2020-01-01", periods=len(frame), freq="D"))
    return frame


def cancer_table() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, [0, 1, 2, 3, 4, 5, 20, 21, 22, 27]].copy()
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame["diagnosis"] = np.where(data.target == 0, "malignant", "benign")
    return frame


def params_for(table: str, **base: object) -> dict:
    """What a user writes for their table: no flights name left anywhere."""
    return {
        "base": {"seed": 1, "model_name": Path(table).stem, "positive_above": None,
                 "key": None, "event_time": None, **base},
        "extract": {"source": "table", "table": {"path": table}},
        "validate": {"rows": {"min": 50}},
        "prepare": {"drop_columns": [], "test_size": 0.25},
        "train": {"budget": {"trials": 3, "seconds": 60}, "cv": {"folds": 3},
                  "ensemble": {"enabled": False}},
        "evaluate": {"slices": [], "importance": {"rows": 100, "repeats": 1}},
        "gate": {"slices": {"columns": []}, "bootstrap": {"resamples": 200}},
        "monitor": {"exclude": []},
    }  # fmt: skip


def write_params(project: Path, params: dict) -> None:
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_stages(project: Path) -> dict:
    """extract → … → push, each as `retrain <stage>` with dvc.yaml's paths; registry.json."""
    stages = [
        ["extract", "--data", ".", "--out", "build/features/features.parquet"],
        ["validate", "--features", "build/features/features.parquet", "--out", "build/validation"],
        ["prepare", "--features", "build/features/features.parquet",
         "--validation", "build/validation/result.json", "--out", "build/prepared"],
        ["train", "--train", "build/prepared/train.parquet", "--out", "build/train"],
        ["evaluate", "--model", "build/train/model.skops", "--search", "build/train/search.json",
         "--test", "build/prepared/test.parquet", "--metrics", "metrics/evaluate.json",
         "--slices", "metrics/slices.json", "--plots", "plots"],
        ["gate", "--lookup-champion", "--out", "build/champion"],
        ["gate", "--model", "build/train/model.skops", "--test", "build/prepared/test.parquet",
         "--train", "build/prepared/train.parquet", "--search", "build/train/search.json",
         "--champion", "build/champion", "--out", "metrics/gate.json"],
        ["export", "--model", "build/train/model.skops", "--test", "build/prepared/test.parquet",
         "--search", "build/train/search.json", "--out", "build/export/model"],
        ["push", "--export", "build/export/model", "--gate", "metrics/gate.json",
         "--search", "build/train/search.json", "--out", "registry.json"],
    ]  # fmt: skip
    for argv in stages:
        assert main(argv) == 0, argv
    return json.loads((project / "registry.json").read_text())


def promote(project: Path) -> None:
    subprocess.run([*GIT, "add", "registry.json"], cwd=project, check=True)
    subprocess.run([*GIT, "commit", "-qm", "model"], cwd=project, check=True)
    assert main(["promote", "--ref", "HEAD"]) == 0


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str) -> Path:
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q", "."], cwd=tmp_path, check=True)
    return tmp_path


def test_regression_table_without_key_or_time_reaches_a_served_champion(project: Path) -> None:
    import mlflow.pyfunc

    # given the diabetes table with no id column and no time column, and params for it only
    diabetes_table(with_time=False).to_csv(project / "diabetes.csv", index=False)
    write_params(project, params_for("diabetes.csv", task="regression", target="progression"))
    # when the whole pipeline runs and the registered model is promoted
    record = run_stages(project)
    assert record["blessed"] and record["version"] == "1"
    promote(project)
    # then the champion serves from raw feature rows: no key column asked for, predictions
    features = pd.read_parquet(project / "build/features/features.parquet")
    assert features[ROW_ID].is_unique
    model = mlflow.pyfunc.load_model("models:/diabetes@champion")
    inputs = [c["name"] for c in json.loads(model.metadata.get_input_schema().to_json())]
    assert ROW_ID not in inputs and "progression" not in inputs
    rows = diabetes_table(with_time=False).drop(columns="progression").head(5)
    predicted = model.predict(rows)["prediction"].to_numpy()
    assert predicted.shape == (5,) and np.isfinite(predicted).all()
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert metrics["r2"] > 0.2  # learned something real on a held-out quarter

    # and when a second run has a new seed and a larger test share
    test_v1 = pd.read_parquet(project / "build/prepared/test.parquet")
    params = params_for("diabetes.csv", task="regression", target="progression", seed=7)
    params["prepare"]["test_size"] = 0.4
    write_params(project, params)
    run_stages(project)
    # then the test side only grew, and the gate scored exactly the rows v1 held out too:
    # none of v1's training rows
    test_v2 = pd.read_parquet(project / "build/prepared/test.parquet")
    assert set(test_v1[ROW_ID]) < set(test_v2[ROW_ID])
    gate = json.loads((project / "metrics/gate.json").read_text())
    assert gate["champion_version"] == "1"
    holdout = test_v2.loc[hash_unit(test_v2[ROW_ID]) < 0.25]
    assert set(holdout[ROW_ID]) == set(test_v1[ROW_ID])
    assert gate["test_window"]["n"] == len(test_v1) < len(test_v2)
    candidate = load_model(project / "build/train/model.skops")
    rmse = score("rmse", holdout["label"], score_frame(candidate, holdout, "regression"))
    assert gate["candidate"]["rmse"] == pytest.approx(rmse)


def test_time_indexed_regression_table_is_monitored_from_the_table_itself(
    project: Path,
) -> None:
    # given diabetes with a visit date, time windows in params, and the champion promoted
    diabetes_table(with_time=True).to_csv(project / "visits.csv", index=False)
    params = params_for("visits.csv", task="regression", target="progression", event_time="visit")
    params["extract"]["window"] = {"start": "2020-01-01", "end": "2021-04-01"}
    params["prepare"]["train_window"] = {"start": "2020-01-01", "end": "2020-11-01"}
    params["prepare"]["test_window"] = {"start": "2020-11-01", "end": "2021-04-01"}
    params["train"]["cv"]["period"] = "month"
    params["monitor"]["current"] = {"start": "2020-11-01", "end": "2021-04-01"}
    params["monitor"]["trigger"] = {"persistence": 1}
    write_params(project, params)
    assert run_stages(project)["version"] == "1"
    promote(project)
    # when the monitor runs on the same table as extract (no --features)
    code = main(["monitor", "--out", "build/monitor"])
    # then it scores the champion in the metric's own units and decides from that
    drift = json.loads((project / "build/monitor/drift.json").read_text())
    perf = drift["performance"]
    assert perf["metric"] == "rmse" and perf["n_labelled"] > 100
    # default decay for rmse: 10 % of the registered value, not 0.03 of the target's units
    assert drift["trigger"]["decay"] == pytest.approx(0.10 * perf["registered"])
    assert code in (0, 10)
    assert {f["feature"] for f in drift["features"]}.isdisjoint({"visit", "progression"})
    # and the pull-request report renders the regression run and its drift check
    assert main(["report", "--drift", "build/monitor/drift.json", "--trigger", "none"]) == 0
    report = (project / "build/report/report.md").read_text()
    assert "rmse" in report and "visits" in report


def test_text_labels_without_key_binary_end_to_end(project: Path) -> None:
    import mlflow.pyfunc

    # given breast cancer with "malignant"/"benign" labels, no key, no time
    cancer_table().to_csv(project / "cancer.csv", index=False)
    params = params_for("cancer.csv", target="diagnosis", positive_label="malignant")
    write_params(project, params)
    # when the pipeline runs and the model is promoted
    record = run_stages(project)
    promote(project)
    # then the label is 1 for malignant, the model is good and it serves probabilities
    train = pd.read_parquet(project / "build/prepared/train.parquet")
    assert set(train["label"]) == {0, 1}
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert metrics["roc_auc"] > 0.9 and record["blessed"]
    model = mlflow.pyfunc.load_model("models:/cancer@champion")
    out = model.predict(cancer_table().drop(columns="diagnosis").head(4))
    assert set(out.columns) == {"probability", "prediction"}


def wine_table() -> pd.DataFrame:
    """scikit-learn's wine (three cultivars, 178 rows), cultivar names as text labels, rows
    shuffled (the bundled order is sorted by class) and one tasting a day from 2020-01-01."""
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame["cultivar"] = np.asarray(["barolo", "grignolino", "barbera"])[data.target]
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame.insert(0, "tasted", pd.date_range("2020-01-01", periods=len(frame), freq="D"))
    return frame


def test_multiclass_table_end_to_end_with_monitor(project: Path) -> None:
    import mlflow.pyfunc

    # given wine with three text classes, no key, a tasting date, params for it only
    wine_table().to_csv(project / "wine.csv", index=False)
    classes = ["barolo", "grignolino", "barbera"]
    params = params_for(
        "wine.csv", task="multiclass", target="cultivar", classes=classes, event_time="tasted"
    )
    params["extract"]["window"] = {"start": "2020-01-01", "end": "2020-07-01"}
    params["prepare"]["train_window"] = {"start": "2020-01-01", "end": "2020-05-01"}
    params["prepare"]["test_window"] = {"start": "2020-05-01", "end": "2020-07-01"}
    params["train"]["cv"] = {"folds": 2, "period": "month"}
    params["gate"]["values"] = {"roc_auc_ovr": {"min": 0.8}}
    params["gate"]["changes"] = [{"metric": "log_loss", "max_regression_abs": 0.5}]
    params["monitor"]["current"] = {"start": "2020-05-01", "end": "2020-07-01"}
    params["monitor"]["trigger"] = {"persistence": 1}
    write_params(project, params)
    # when the whole pipeline runs and the model is promoted
    record = run_stages(project)
    assert record["blessed"] and record["version"] == "1"
    promote(project)
    # then the label is the class's position in base.classes and the metrics are multiclass
    train = pd.read_parquet(project / "build/prepared/train.parquet")
    assert set(train["label"]) == {0, 1, 2}
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert metrics["roc_auc_ovr"] > 0.9 and metrics["accuracy"] > 0.8
    assert set(metrics["class_share"]) == set(classes)
    assert not (project / "plots/roc.json").exists()  # binary-only curves are not drawn
    confusion = (project / "plots/confusion.csv").read_text().splitlines()
    assert confusion[0] == "actual,predicted" and {r.split(",")[0] for r in confusion[1:]} <= set(
        classes
    )
    gate = json.loads((project / "metrics/gate.json").read_text())
    assert set(gate["candidate"]) == {"log_loss", "roc_auc_ovr", "accuracy", "f1_macro"}
    # and the champion serves class names with one probability column per class
    model = mlflow.pyfunc.load_model("models:/wine@champion")
    rows = wine_table().drop(columns=["cultivar"]).head(6)
    out = model.predict(rows)
    assert list(out.columns) == ["prediction", *(f"probability_{c}" for c in classes)]
    assert set(out["prediction"]) <= set(classes)
    assert np.allclose(out[[f"probability_{c}" for c in classes]].sum(axis=1), 1.0)

    # and when a second run has a new seed, the gate compares on the multiclass metrics
    params["base"]["seed"] = 7
    write_params(project, params)
    run_stages(project)
    gate = json.loads((project / "metrics/gate.json").read_text())
    assert gate["champion_version"] == "1"
    assert any(c["name"].startswith("change.log_loss") for c in gate["checks"])

    # and the monitor scores the champion on the table itself: class shares, multiclass decay
    code = main(["monitor", "--out", "build/monitor"])
    assert code in (0, 10)
    drift = json.loads((project / "build/monitor/drift.json").read_text())
    assert drift["performance"]["metric"] == "roc_auc_ovr"
    assert drift["prediction"]["statistic"] == "jensenshannon"
    assert {f["feature"] for f in drift["features"]}.isdisjoint({"tasted", "cultivar"})
    assert main(["report", "--drift", "build/monitor/drift.json", "--trigger", "none"]) == 0
    report = (project / "build/report/report.md").read_text()
    assert "roc_auc_ovr" in report and "wine" in report
