"""`retrain init` then the real `dvc repro`, unchanged but for a small budget, in a fresh git +
DVC repo: scikit-learn's breast-cancer table to a promoted model (the whole pipeline), and
matplotlib's monthly stock table (time-indexed regression with gaps) through the gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline_support import tool_env

ROOT = Path(__file__).resolve().parents[1]
BUDGET = "budget: {trials: 40, seconds: 60}"
SMALL = "budget: {trials: 3, seconds: 30}"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(args: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    }
    env = tool_env(env)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=2400)
    assert done.returncode in ok, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def project(tmp_path: Path, name: str, frame: pd.DataFrame, *init_args: str) -> Path:
    """A git + DVC repo holding the table under data/ and the params `retrain init` wrote."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for file in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / file, repo / file)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data").mkdir()
    frame.to_csv(repo / "data" / name, index=False)
    run(["retrain", "init", "--table", f"data/{name}", *init_args], repo)
    params = repo / "params.yaml"
    text = params.read_text()
    assert text.count(BUDGET) == 1
    params.write_text(text.replace(BUDGET, SMALL))  # the one edit: a small budget
    run(["git", "init", "--quiet"], repo)
    run(["dvc", "init", "--quiet"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "-m", "init"], repo)
    return repo


def test_binary_table_init_then_dvc_repro_registers_a_model(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    repo = project(tmp_path, "breast_cancer.csv", frame, "--target", "target")

    done = run(["dvc", "repro"], repo)
    for stage in ("extract", "validate", "prepare", "train", "evaluate", "gate", "push"):
        assert f"Running stage '{stage}'" in done.stdout, done.stdout
    metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
    # the hash split puts ~20 % of the 569 rows on the test side (binomial: within 4 sd)
    assert abs(metrics["n_test"] - 0.2 * 569) < 4 * (569 * 0.2 * 0.8) ** 0.5
    assert metrics["roc_auc"] > 0.9
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert gate["blessed"] and gate["first_model"], gate["summary"]
    record = json.loads((repo / "registry.json").read_text())
    assert record["model"] == "breast_cancer" and record["version"] == "1"

    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "-m", "pipeline ran"], repo)
    promoted = run(["retrain", "promote", "--ref", "HEAD"], repo)
    assert "champion none → v1" in promoted.stdout + promoted.stderr


def test_time_indexed_regression_table_runs_through_the_gate(tmp_path: Path) -> None:
    import matplotlib

    stocks = Path(matplotlib.get_data_path()) / "sample_data" / "Stocks.csv"
    frame = pd.read_csv(stocks, comment="#")
    frame.insert(0, "row_id", np.arange(len(frame)))
    repo = project(tmp_path, "stocks.csv", frame, "--target", "^GSPC", "--time", "Date")

    # Through the gate: this version's export cannot take a regression model (threshold null),
    # which the regression fix addresses.
    done = run(["dvc", "repro", "evaluate", "gate"], repo)
    assert "Running stage 'gate'" in done.stdout, done.stdout
    test = pd.read_parquet(repo / "build" / "prepared" / "test.parquet")
    train = pd.read_parquet(repo / "build" / "prepared" / "train.parquet")
    assert train["Date"].max() < test["Date"].min()  # time-ordered
    assert 0.1 <= len(test) / (len(test) + len(train)) <= 0.3
    metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert metrics["rmse"] > 0 and gate["candidate"]["rmse"] == pytest.approx(metrics["rmse"])


def test_multiclass_table_init_dvc_repro_new_seed_promote_monitor(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "stages"))
    from test_own_table import wine_table

    # given wine (three cultivars as text, no key) with a tasting date, and init's params
    repo = project(tmp_path, "wine.csv", wine_table(), "--target", "cultivar", "--time", "tasted")
    params = (repo / "params.yaml").read_text()
    assert "task: multiclass" in params and "classes: [barbera, barolo, grignolino]" in params

    # when dvc repro runs the whole pipeline and the model is promoted
    run(["dvc", "repro"], repo)
    metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
    assert metrics["roc_auc_ovr"] > 0.9, metrics
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert gate["blessed"] and gate["first_model"], gate["summary"]
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "-m", "pipeline ran"], repo)
    promoted = run(["retrain", "promote", "--ref", "HEAD"], repo)
    assert "champion none → v1" in promoted.stdout + promoted.stderr

    # and a second dvc repro with a new seed is gated against that champion
    assert params.count("  seed: 42\n") == 1
    (repo / "params.yaml").write_text(params.replace("  seed: 42\n", "  seed: 7\n"))
    run(["dvc", "repro"], repo)
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert gate["champion_version"] == "1", gate["summary"]
    assert {"roc_auc_ovr", "log_loss"} <= set(gate["champion"])

    # then the monitor scores the champion on the table itself (exit 0: calm, 10: retrain)
    run(["retrain", "monitor", "--out", "build/monitor"], repo, ok=(0, 10))
    drift = json.loads((repo / "build" / "monitor" / "drift.json").read_text())
    assert drift["performance"]["metric"] == "roc_auc_ovr"
    assert drift["prediction"]["statistic"] == "jensenshannon"
