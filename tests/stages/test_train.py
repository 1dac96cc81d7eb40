"""`retrain train` end to end on the tiny fixture: outputs, tracking, bad inputs, scale-out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from retrain import tracking
from retrain.cli import main
from retrain.model_io import load_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "train"
SEARCH_KEYS = {
    "schema", "primary_metric", "best_family", "best_params", "cv_score", "threshold",
    "n_trials", "n_pruned", "elapsed_s", "mlflow_run_id", "train_start", "train_end", "n_train",
}  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str) -> Path:
    """A working directory with the fixture params and train table; MLflow in tmp_path."""
    shutil.copy(FIXTURES / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(FIXTURES / "train.parquet", tmp_path / "train.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit_params(path: Path, **sections: dict) -> None:
    params = yaml.safe_load(path.read_text())
    for name, values in sections.items():
        params.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def test_train_writes_contract_outputs_and_one_parent_run_with_a_child_per_trial(
    project: Path, mlflow_uri: str
) -> None:
    assert main(["train", "--train", "train.parquet", "--out", "build/train"]) == 0

    search = json.loads((project / "build/train/search.json").read_text())
    assert set(search) >= SEARCH_KEYS and search["schema"] == 1
    assert search["primary_metric"] == "roc_auc" and search["n_trials"] == 4
    assert 0.0 < search["threshold"] < 1.0
    assert search["n_train"] == len(pd.read_parquet(project / "train.parquet"))
    assert search["train_start"].startswith("2013-01") and search["train_end"].startswith("2013-")
    board = json.loads((project / "build/train/leaderboard.json").read_text())
    assert board["trials"][0]["number"] == search["best_trial"]
    assert board["trials"][0]["family"] == search["best_family"]
    assert {"rank", "number", "family", "params", "cv_score", "fit_time_s", "state"} <= set(
        board["trials"][0]
    )
    model = load_model(project / "build/train/model.skops")
    rows = pd.read_parquet(FIXTURES / "test.parquet").drop(columns="label")
    assert model.predict_proba(rows).shape == (len(rows), 2)  # raw feature rows in

    mlflow.set_tracking_uri(mlflow_uri)
    runs = mlflow.search_runs(experiment_names=["flight-delay"], output_format="list")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [p.info.run_id for p in parents] == [search["mlflow_run_id"]]
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert {"git_commit", "data_hash", "params_hash", "best_family"} <= set(parent.data.tags)
    assert parent.data.params["best.family"] == search["best_family"]
    assert parent.data.metrics["cv_roc_auc"] == pytest.approx(search["cv_score"])
    # the stage's own cost, from the OS, on the parent run
    assert parent.data.metrics["cost.cpu_s"] > 0 and parent.data.metrics["cost.peak_rss_mb"] > 50
    assert parent.data.metrics["cost.usd"] == pytest.approx(
        parent.data.metrics["cost.cpu_s"] / 3600 * 0.18, rel=1e-3
    )
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"leaderboard.json", "search.json"} <= artifacts
    assert len(runs) - 1 == search["n_trials"]  # one child per trial


def _one_class(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(label=0)


def _nan_target(f: pd.DataFrame) -> pd.DataFrame:
    g = f.copy().astype({"label": "float64"})
    g.loc[g.index[:3], "label"] = np.nan
    return g


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_one_class, "single class"),
        (_nan_target, "3 missing value"),
        (lambda f: f.iloc[0:0], "train set is empty"),
        (lambda f: f.drop(columns="label"), "no 'label' column"),
        (lambda f: f.assign(label=f["label"] * 2), "needs a 0/1 target"),
        (lambda f: f.drop(columns="event_time"), "no 'event_time' column"),
        (lambda f: f[f["event_time"] < "2013-02-01"], "at least 3 distinct months"),
    ],
    ids=["one-class", "nan-target", "empty", "no-label", "not-binary", "no-time", "few-months"],
)
def test_bad_train_data_fails_before_any_training(
    project: Path, mutate, message: str, capsys: pytest.CaptureFixture[str], mlflow_uri: str
) -> None:
    mutate(pd.read_parquet(project / "train.parquet")).to_parquet(project / "train.parquet")
    assert main(["train", "--train", "train.parquet", "--out", "build/train"]) == 2
    err = capsys.readouterr().err
    assert message in err and "fix:" in err
    assert not (project / "build").exists()
    mlflow.set_tracking_uri(mlflow_uri)
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []


@pytest.mark.parametrize(
    ("train_section", "message"),
    [
        ({"families": {"xgboost": {}}}, "train.families.xgboost"),
        (
            {"families": {"linear": {"space": {"alpha": {"type": "float", "low": 2, "high": 1}}}}},
            "low (2.0) is greater than high (1.0)",
        ),
        (
            {"families": {"linear": {"space": {"alpha": {"type": "float", "low": 0, "high": 1, "log": True}}}}},
            "log-scaled range needs low > 0",
        ),
        ({"families": {"linear": {"enabled": False}}}, "no model family is enabled"),
        (
            {"families": {"linear": {"space": {"C": {"type": "float", "low": 1, "high": 2}}}}},
            "unknown parameter(s): C",
        ),
        ({"budget": {"trials": 0}}, "'train.budget.trials'"),
        ({"ensemble": {"max_members": 1}}, "'train.ensemble.max_members'"),
        ({"ensemble": {"min_gain": -0.1}}, "'train.ensemble.min_gain'"),
        ({"ensemble": {"size": 3}}, "unknown key 'size' in section 'train.ensemble'"),
    ],
    ids=["unknown-family", "low-gt-high", "log-nonpositive", "none-enabled", "bad-param", "zero-trials",
         "one-member", "negative-gain", "unknown-ensemble-key"],
)  # fmt: skip
def test_bad_train_params_fail_with_a_clear_message(
    project: Path, train_section: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(train_section)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["train", "--train", "train.parquet", "--out", "build/train"]) == 2
    assert message in capsys.readouterr().err
    assert not (project / "build").exists()


def test_missing_or_broken_train_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--train", "nope.parquet", "--out", "build/train"]) == 2
    assert "train table nope.parquet not found" in capsys.readouterr().err
    (project / "broken.parquet").write_text("not parquet")
    assert main(["train", "--train", "broken.parquet", "--out", "build/train"]) == 2
    assert "not a readable parquet file" in capsys.readouterr().err


def test_a_seconds_budget_bounds_the_whole_stage_refit_included(project: Path) -> None:
    # given a budget of a few seconds and no limit on the trials
    edit_params(project / "params.yaml", train={"budget": {"trials": 10_000, "seconds": 4}})
    # when the stage runs
    assert main(["train", "--train", "train.parquet", "--out", "build/train"]) == 0
    search = json.loads((project / "build/train/search.json").read_text())
    # then the seconds stopped the search, and the refit was planned into the same budget:
    # checks + search + refit within it (slack for a busy machine: no trial is interrupted)
    assert search["stopped_by"] == "seconds" and search["budget_s"] == 4
    refit = search["refit"]
    assert refit["actual_s"] == search["refit_s"] and refit["estimate_s"] > 0
    # (which members and rows fit depends on the machine's speed: the plan's arithmetic is
    # tests/search/test_budget.py)
    assert refit["members"][0] == search["best_trial"] and refit["rows"] <= search["n_train"]
    assert search["search_s"] + search["refit_s"] <= search["elapsed_s"] <= 4 * 1.1 + 3


def test_regression_end_to_end_by_params_only(project: Path) -> None:
    """base.task + target changed in params; train and evaluate switch metrics and plots."""
    for name in ("train", "test"):
        frame = pd.read_parquet(FIXTURES / f"{name}.parquet")
        # what prepare writes for task regression: label = the numeric target itself
        frame["label"] = frame["distance"] / 50.0 + frame["dep_hour"]
        frame.to_parquet(project / f"{name}.parquet")
    edit_params(project / "params.yaml", base={"task": "regression", "positive_above": None})
    edit_params(project / "params.yaml", train={"budget": {"trials": 3, "seconds": 600}})
    assert main(["train", "--train", "train.parquet", "--out", "build/train"]) == 0
    search = json.loads((project / "build/train/search.json").read_text())
    assert search["primary_metric"] == "rmse" and search["threshold"] is None
    argv = [
        "evaluate", "--model", "build/train/model.skops", "--search", "build/train/search.json",
        "--test", "test.parquet", "--metrics", "metrics/evaluate.json",
        "--slices", "metrics/slices.json", "--plots", "plots",
    ]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((project / "metrics/evaluate.json").read_text())
    assert set(metrics) == {"rmse", "mae", "r2", "n_test"}
    assert metrics["r2"] > 0.5  # a learnable target is learned
    assert sorted(p.name for p in (project / "plots").iterdir()) == [
        "importance.json",
        "residuals.json",
    ]
    slices = json.loads((project / "metrics/slices.json").read_text())
    assert "rmse" in next(iter(slices["origin"].values()))


@pytest.mark.integration
@pytest.mark.slow
def test_two_workers_share_one_sqlite_study_and_their_trials_add_up(project: Path) -> None:
    storage = f"sqlite:///{project / 'optuna.db'}"
    edit_params(
        project / "params.yaml",
        train={"storage": storage, "budget": {"trials": 3, "seconds": 600}},
    )
    # The MLflow store exists before the workers start (two processes creating a fresh sqlite
    # store at the same instant race on its schema; a team store is a server anyway).
    tracking.ensure_experiment("flight-delay", project)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    workers = [
        subprocess.Popen(
            ["retrain", "train", "--train", "train.parquet", "--out", f"out{w}", "--worker", str(w)],
            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in (0, 1)
    ]  # fmt: skip
    for proc in workers:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    summaries = [json.loads((project / f"out{w}/search.json").read_text()) for w in (0, 1)]
    assert [s["n_trials_this_worker"] for s in summaries] == [3, 3]
    assert summaries[0]["study_name"] == summaries[1]["study_name"]
    study = optuna.load_study(study_name=summaries[0]["study_name"], storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 6
    assert sorted(t.number for t in finished) == list(range(6))
    assert sorted(t.user_attrs["worker"] for t in finished) == [0, 0, 0, 1, 1, 1]
