"""The real `dvc repro` through prepare (extract -> validate -> prepare) on the tiny fixture,
in a fresh git + DVC repo in tmp_path; a second `dvc repro` must do nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline_support import tool_env

ROOT = Path(__file__).resolve().parents[2]
FLIGHTS = ROOT / "tests" / "fixtures" / "flights"
TABLES = ("airlines.csv", "airports.csv", "flights.csv.zip", "planes.csv", "weather.csv")
NY = "America/New_York"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = tool_env(os.environ)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    # dvc.yaml lists source files as deps; the code that runs is the installed package.
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data").mkdir()
    for name in TABLES:  # the fixture under the real file names
        shutil.copy(FLIGHTS / name, repo / "data" / name)

    params = yaml.safe_load((repo / "params.yaml").read_text())
    # Jan 1 stays out of the window: it is the history the other days' rates look back on.
    params["extract"]["window"] = {"start": "2013-01-02", "end": "2013-01-05", "timezone": NY}
    params["prepare"]["train_window"] = {"start": "2013-01-02", "end": "2013-01-04", "timezone": NY}
    params["prepare"]["test_window"] = {"start": "2013-01-04", "end": "2013-01-05", "timezone": NY}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    run(["git", "init", "--quiet"], repo)
    run(["dvc", "init", "--quiet"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "-m", "fixture project"], repo)
    return repo


def test_dvc_repro_through_prepare_then_nothing_to_do(repo: Path) -> None:
    first = run(["dvc", "repro", "prepare"], repo)
    for stage in ("extract", "validate", "prepare"):
        assert f"Running stage '{stage}'" in first.stdout, first.stdout

    features = pd.read_parquet(repo / "build" / "features" / "features.parquet")
    raw = pd.read_csv(repo / "data" / "flights.csv.zip")
    assert len(features) == (raw["day"] >= 2).sum()  # fixture days 2..4
    assert features["carrier_delay_rate_7d"].notna().all()
    train = pd.read_parquet(repo / "build" / "prepared" / "train.parquet")
    test = pd.read_parquet(repo / "build" / "prepared" / "test.parquet")
    cutoff = pd.Timestamp("2013-01-04", tz=NY)
    assert train["event_time"].max() < cutoff <= test["event_time"].min()
    assert len(train) + len(test) == features["arr_delay"].notna().sum()
    assert "arr_delay" not in train.columns and "label" in train.columns
    assert (repo / "build" / "validation" / "result.json").is_file()
    assert not any((repo / "data").glob("*.parquet"))  # Feast's sources live in .feast/
    assert (repo / ".feast" / "registry.db").is_file()
    # every stage that ran recorded what its process cost, as the OS measured it
    from retrain.artifacts import StageCost

    for stage in ("extract", "validate", "prepare"):
        cost = StageCost.read(repo / "metrics" / "cost" / f"{stage}.json", "re-run")
        assert cost.stage == stage and cost.cpu_s > 0 and cost.wall_s > 0 and cost.peak_rss_mb > 50

    outputs = [
        repo / "build" / "features" / "features.parquet",
        repo / "build" / "prepared" / "train.parquet",
        repo / "build" / "prepared" / "test.parquet",
    ]
    stamps = [path.stat().st_mtime_ns for path in outputs]
    second = run(["dvc", "repro", "prepare"], repo)
    assert "Running stage" not in second.stdout, second.stdout
    assert [path.stat().st_mtime_ns for path in outputs] == stamps
    status = run(["dvc", "status", "prepare"], repo)
    assert "changed" not in status.stdout, status.stdout
