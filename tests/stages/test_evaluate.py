"""`retrain evaluate` on a model trained once on the tiny fixture: metrics, slices, plots, errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.artifacts import SearchSummary
from retrain.cli import main
from retrain.config import load_params
from retrain.evaluation import evaluate
from retrain.model_io import load_model, save_model
from retrain.search.study import SearchSettings
from retrain.search.tracker import NullTracker
from retrain.training import train

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "train"
METRIC_KEYS = {
    "roc_auc", "pr_auc", "log_loss", "brier", "f1", "precision", "recall", "threshold",
    "n_test", "positive_rate", "predicted_positive_rate",
}  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """build/train/{model.skops, search.json} from a 3-trial search (no MLflow needed)."""
    root = tmp_path_factory.mktemp("trained")
    params = load_params(FIXTURES / "params.yaml")
    budget = params.train.budget.model_copy(update={"trials": 3})
    settings = SearchSettings.from_params(
        params.model_copy(update={"train": params.train.model_copy(update={"budget": budget})})
    )
    outcome = train(pd.read_parquet(FIXTURES / "train.parquet"), settings, NullTracker())
    save_model(outcome.model, root / "model.skops")
    outcome.search.write(root / "search.json")
    return root


@pytest.fixture
def project(tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("model.skops", "search.json"):
        shutil.copy(trained / name, tmp_path / name)
    shutil.copy(FIXTURES / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(FIXTURES / "test.parquet", tmp_path / "test.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


ARGV = [
    "evaluate", "--model", "model.skops", "--search", "search.json", "--test", "test.parquet",
    "--metrics", "metrics/evaluate.json", "--slices", "metrics/slices.json", "--plots", "plots",
]  # fmt: skip


def test_metrics_slices_and_plots(project: Path) -> None:
    assert main(ARGV) == 0
    search = json.loads((project / "search.json").read_text())
    test = pd.read_parquet(project / "test.parquet")
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert set(metrics) == METRIC_KEYS
    assert metrics["threshold"] == search["threshold"]  # chosen on train CV, not on test
    assert metrics["n_test"] == len(test)
    assert metrics["positive_rate"] == pytest.approx(test["label"].mean())
    assert 0.5 < metrics["roc_auc"] <= 1.0 and 0.0 <= metrics["f1"] <= 1.0
    assert oct(Path(project / "metrics/evaluate.json").stat().st_mode)[-3:] == "644"

    slices = json.loads((project / "metrics/slices.json").read_text())
    assert set(slices) == {"carrier", "origin"}
    assert sum(level["n"] for level in slices["origin"].values()) == len(test)
    assert set(slices["origin"]) == set(test["origin"])
    small = [v for v in slices["carrier"].values() if v["n"] < 20]
    assert small and all(set(v) == {"n"} for v in small)  # too few rows: count only

    plots = project / "plots"
    assert sorted(p.name for p in plots.iterdir()) == [
        "calibration.json", "confusion.csv", "importance.json", "precision_recall.json", "roc.json",
    ]  # fmt: skip
    roc = json.loads((plots / "roc.json").read_text())
    assert roc[0]["fpr"] == 0.0 and roc[-1]["tpr"] == 1.0 and len(roc) <= 50
    assert {"recall", "precision"} <= set(
        json.loads((plots / "precision_recall.json").read_text())[0]
    )
    assert {"mean_predicted", "fraction_positive"} <= set(
        json.loads((plots / "calibration.json").read_text())[0]
    )
    with (plots / "confusion.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(test) and set(rows[0]) == {"actual", "predicted"}
    predicted_rate = np.mean([int(r["predicted"]) for r in rows])
    assert predicted_rate == pytest.approx(metrics["predicted_positive_rate"])
    importance = json.loads((plots / "importance.json").read_text())
    values = [r["importance"] for r in importance]
    assert values == sorted(values, reverse=True)
    assert "flight_id" not in {r["feature"] for r in importance}  # not a model input


def test_metrics_follow_the_labels(project: Path, trained: Path) -> None:
    """Flipping the test labels turns ROC AUC into 1 - AUC: the metric reads the data."""
    model = load_model(trained / "model.skops")
    search = SearchSummary.read(trained / "search.json", "fixture")
    params = load_params(FIXTURES / "params.yaml")
    test = pd.read_parquet(FIXTURES / "test.parquet")
    kwargs = {"task": "classification", "options": params.evaluate, "seed": 1}
    straight = evaluate(model, test, search, **kwargs).metrics["roc_auc"]
    flipped = evaluate(model, test.assign(label=1 - test["label"]), search, **kwargs)
    assert flipped.metrics["roc_auc"] == pytest.approx(1.0 - straight)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: _test(p, lambda f: f.assign(label=0)), "single class"),
        (lambda p: _test(p, lambda f: f.iloc[0:0]), "test set is empty"),
        (lambda p: _test(p, lambda f: f.drop(columns="origin")), "['origin'] are not in"),
        (lambda p: _search(p, task="regression"), "trained for task 'regression'"),
        (lambda p: _search(p, threshold=1.5), "not a probability"),
        (lambda p: _search(p, schema=9), "unknown schema"),
        (lambda p: (p / "search.json").write_text("{"), "not valid JSON"),
        (lambda p: (p / "model.skops").write_bytes(b"junk"), "not a readable skops file"),
        (lambda p: (p / "test.parquet").unlink(), "test table test.parquet not found"),
    ],
    ids=[
        "one-class", "empty", "slice-column", "task-mismatch", "threshold", "schema",
        "search-json", "model-file", "no-test",
    ],
)  # fmt: skip
def test_bad_inputs_fail_clearly_and_write_nothing(
    project: Path, setup, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    setup(project)
    assert main(ARGV) == 2
    assert message in capsys.readouterr().err
    assert not (project / "metrics").exists() and not (project / "plots").exists()


def _test(project: Path, mutate) -> None:
    mutate(pd.read_parquet(project / "test.parquet")).to_parquet(project / "test.parquet")


def _search(project: Path, **changes: object) -> None:
    search = json.loads((project / "search.json").read_text())
    (project / "search.json").write_text(json.dumps({**search, **changes}))
