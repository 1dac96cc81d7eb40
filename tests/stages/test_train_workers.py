"""Distributed search: `retrain train --search-only` workers on one PostgreSQL study, then one
`retrain train --finalize` decision (best trial + ensemble from all trials, one refit)."""

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
DECISION = (
    "study_name",
    "best_trial",
    "best_family",
    "best_params",
    "model",
    "ensemble",
    "cv_score",
    "threshold",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str) -> Path:
    shutil.copy(FIXTURES / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(FIXTURES / "train.parquet", tmp_path / "train.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _set_train(project: Path, **train: object) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(train)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _retrain(project: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        ["retrain", "train", "--train", "train.parquet", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(*procs: subprocess.Popen[str]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err


def _decision(out: Path) -> dict:
    search = json.loads((out / "search.json").read_text())
    return {k: search[k] for k in DECISION} | {"n_trials": search["n_trials"]}


def test_finalize_or_search_only_without_a_shared_storage_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], mlflow_uri: str
) -> None:
    # Given the default params (train.storage: null)
    for flag in ("--finalize", "--search-only"):
        # When a worker or the finalize step is started
        code = main(["train", "--train", "train.parquet", "--out", "build/train", flag])
        # Then it fails naming the key, writes nothing and opens no MLflow run
        assert code == 2
        err = capsys.readouterr().err
        assert "train.storage" in err and "fix:" in err
    assert not (project / "build").exists()
    mlflow.set_tracking_uri(mlflow_uri)
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
    # And --out stays required for everything but a worker
    with pytest.raises(SystemExit):
        main(["train", "--train", "train.parquet"])


@pytest.mark.integration
@pytest.mark.server
@pytest.mark.slow
def test_two_workers_and_one_finalize_on_postgresql(project: Path, postgres_url: str) -> None:
    budget = 3  # trials per worker
    _set_train(
        project,
        storage=postgres_url,
        budget={"trials": budget, "seconds": 600},
        ensemble={"min_gain": 0.0},
        # Boosting and linear only (the fast families of the fixture).
        families={
            name: spec
            for name, spec in yaml.safe_load((project / "params.yaml").read_text())["train"][
                "families"
            ].items()
            if name in ("hist_gradient_boosting", "linear")
        },
    )
    tracking.ensure_experiment("flight-delay", project)  # before concurrent workers
    # Given two worker processes on one PostgreSQL study, run at the same time
    _wait(*(_retrain(project, "--search-only", "--worker", str(w)) for w in (0, 1)))
    assert not any(project.glob("out*")), "a worker writes no model"
    # When the study is finalized twice (another process, then this one: e.g. a re-run CI job)
    _wait(_retrain(project, "--finalize", "--out", "final1"))
    assert main(["train", "--train", "train.parquet", "--finalize", "--out", "final2"]) == 0
    # Then both decisions are from all trials and identical, down to the model's predictions
    first, second = _decision(project / "final1"), _decision(project / "final2")
    assert first == second
    assert first["n_trials"] == 2 * budget
    frame = pd.read_parquet(project / "train.parquet")
    X = frame.drop(columns=["label"])
    pred = [load_model(project / f / "model.skops").predict_proba(X) for f in ("final1", "final2")]
    np.testing.assert_array_equal(pred[0], pred[1])
    # And the defaults were measured once, not once per worker
    study = optuna.load_study(study_name=first["study_name"], storage=postgres_url)
    defaults = [t for t in study.trials if "fixed_params" in t.system_attrs]
    assert sorted(t.params["family"] for t in defaults) == ["hist_gradient_boosting", "linear"]

    # And the decision is at least as good as the best trial either worker ran (each worker
    # alone would have shipped only its own best, as before the finalize step)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # (a worker whose trials were all pruned, which depends on timing, has nothing to compare)
    assert complete
    for worker in (0, 1):
        own = [t.value for t in complete if t.user_attrs["worker"] == worker]
        assert not own or first["cv_score"] >= max(own)
