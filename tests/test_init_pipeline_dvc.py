"""`retrain init` then the real `dvc repro`, unchanged but for a small budget, in a fresh git +
DVC repo, on four public tables that ship inside packages (not the flights), each through the
issue's whole proof: `init`, `dvc repro`, `retrain promote`, a second `dvc repro` with a new
seed gated against that champion, `retrain promote` again, then `retrain monitor`.

- breast cancer (scikit-learn): binary, text labels, no key, no time;
- diabetes (scikit-learn): regression, no key, no time;
- Stocks.csv (matplotlib): time-indexed regression with missing values and no key;
- wine (scikit-learn): multiclass with text classes and a tasting date.

The tables without a time column are monitored on a file of new rows held out before `init`
(`retrain monitor --current-rows`), the timed ones on the table itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


NEW_ROWS = 150  # rows held out of a table without time before `init`: the monitor's new data


def held_out(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table `init` sees, NEW_ROWS new rows it never holds)."""
    new = frame.sample(NEW_ROWS, random_state=0)
    return frame.drop(index=new.index), new


def commit_and_promote(repo: Path, message: str) -> str:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "--allow-empty", "-m", message], repo)
    done = run(["retrain", "promote", "--ref", "HEAD"], repo)
    return done.stdout + done.stderr


def first_and_second_run(repo: Path, metric: str) -> dict:
    """dvc repro → blessed v1 → promote; seed 42 → 7 → dvc repro gated against v1 → promote.
    Returns the second run's gate.json."""
    done = run(["dvc", "repro"], repo)
    for stage in ("extract", "validate", "prepare", "train", "evaluate", "gate", "push"):
        assert f"Running stage '{stage}'" in done.stdout, done.stdout
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert gate["blessed"] and gate["first_model"], gate["summary"]
    assert json.loads((repo / "registry.json").read_text())["version"] == "1"
    assert "champion none → v1" in commit_and_promote(repo, "pipeline ran")

    params = (repo / "params.yaml").read_text()
    assert params.count("  seed: 42\n") == 1
    (repo / "params.yaml").write_text(params.replace("  seed: 42\n", "  seed: 7\n"))
    run(["dvc", "repro"], repo)
    gate = json.loads((repo / "metrics" / "gate.json").read_text())
    assert gate["champion_version"] == "1" and not gate["first_model"], gate["summary"]
    assert metric in gate["champion"] and metric in gate["candidate"]
    record = json.loads((repo / "registry.json").read_text())
    promoted = commit_and_promote(repo, "second run")
    if record["blessed"]:  # a better seed-7 model replaces v1, else v1 stays
        assert f"champion v1 → v{record['version']}" in promoted, promoted
    else:
        assert "names no blessed version" in promoted, promoted
    return gate


def monitored(repo: Path, *args: str) -> dict:
    """`retrain monitor` (exit 0: calm, 10: retrain) and its drift.json."""
    run(["retrain", "monitor", "--out", "build/monitor", *args], repo, ok=(0, 10))
    return json.loads((repo / "build" / "monitor" / "drift.json").read_text())


def test_binary_text_labels_no_key_no_time_whole_proof(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "stages"))
    from test_own_table import cancer_table

    # given breast cancer with malignant/benign labels, no key, no time, 150 rows held back
    table, new = held_out(cancer_table())
    repo = project(
        tmp_path, "cancer.csv", table, "--target", "diagnosis", "--positive", "malignant"
    )
    params = (repo / "params.yaml").read_text()
    assert "key: null" in params and "event_time: null" in params
    # when init's params run twice through dvc repro and each blessed model is promoted
    first_and_second_run(repo, "roc_auc")
    metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
    # the hash split puts ~20 % of the rows on the test side (binomial: within 4 sd)
    n = len(table)
    assert abs(metrics["n_test"] - 0.2 * n) < 4 * (n * 0.2 * 0.8) ** 0.5
    assert metrics["roc_auc"] > 0.9
    # then the monitor compares the held-out new rows with the champion's training rows
    new.to_csv(repo / "data" / "new.csv", index=False)
    drift = monitored(repo, "--current-rows", "data/new.csv")
    assert drift["performance"]["metric"] == "roc_auc"
    assert drift["performance"]["n_labelled"] == NEW_ROWS


def test_regression_no_key_no_time_whole_proof(tmp_path: Path) -> None:
    from sklearn.datasets import load_diabetes

    # given diabetes (regression), no key, no time, 150 rows held back
    frame = load_diabetes(as_frame=True, scaled=False).frame
    table, new = held_out(frame.rename(columns={"target": "progression"}))
    repo = project(tmp_path, "diabetes.csv", table, "--target", "progression")
    assert "task: regression" in (repo / "params.yaml").read_text()
    # when init's params run twice through dvc repro, export and push included
    first_and_second_run(repo, "rmse")
    # then the monitor scores the champion on the new rows in RMSE
    new.to_csv(repo / "data" / "new.csv", index=False)
    drift = monitored(repo, "--current-rows", "data/new.csv")
    assert drift["performance"]["metric"] == "rmse" and drift["performance"]["current"] > 0


def test_time_indexed_regression_with_missing_values_whole_proof(tmp_path: Path) -> None:
    import matplotlib

    # given matplotlib's monthly stock table: a date, gaps (missing cells), no key
    stocks = Path(matplotlib.get_data_path()) / "sample_data" / "Stocks.csv"
    frame = pd.read_csv(stocks, comment="#")
    assert frame.isna().to_numpy().any()
    repo = project(tmp_path, "stocks.csv", frame, "--target", "^GSPC", "--time", "Date")
    # when init's params run twice through dvc repro (export, push, promote)
    first_and_second_run(repo, "rmse")
    test = pd.read_parquet(repo / "build" / "prepared" / "test.parquet")
    train = pd.read_parquet(repo / "build" / "prepared" / "train.parquet")
    assert train["Date"].max() < test["Date"].min()  # time-ordered
    assert 0.1 <= len(test) / (len(test) + len(train)) <= 0.3
    # then the monitor reads the table itself and scores the champion in RMSE
    drift = monitored(repo)
    assert drift["performance"]["metric"] == "rmse"


def test_multiclass_table_init_dvc_repro_new_seed_promote_monitor(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "stages"))
    from test_own_table import wine_table

    # given wine (three cultivars as text, no key) with a tasting date, and init's params
    repo = project(tmp_path, "wine.csv", wine_table(), "--target", "cultivar", "--time", "tasted")
    params = (repo / "params.yaml").read_text()
    assert "task: multiclass" in params and "classes: [barbera, barolo, grignolino]" in params
    # when it runs twice through dvc repro, each blessed model promoted
    gate = first_and_second_run(repo, "roc_auc_ovr")
    assert "log_loss" in gate["champion"]
    metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
    assert metrics["roc_auc_ovr"] > 0.9, metrics
    # then the monitor scores the champion on the table itself
    drift = monitored(repo)
    assert drift["performance"]["metric"] == "roc_auc_ovr"
    assert drift["prediction"]["statistic"] == "jensenshannon"
