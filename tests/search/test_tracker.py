"""Runs a killed training left RUNNING are closed by the next training; live ones are not.

Real sqlite MLflow store, real processes: a `retrain train` subprocess killed with SIGKILL
mid-search, and runs owned by this (live) test process or by another host.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from retrain.cli import main
from retrain.search.tracker import (
    CLOSED_TAG,
    HOST_TAG,
    PID_START_TAG,
    PID_TAG,
    MlflowTracker,
    host_id,
    process_start,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "train"
EXPERIMENT = "flight-delay"


def running_training_runs(client: MlflowClient, experiment_id: str) -> list:
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'")
    return [r for r in runs if r.data.tags.get("retrain.kind") == "training"]


@pytest.mark.integration
@pytest.mark.slow  # two real `retrain train` runs (~25 s each on a shared 2-core box)
def test_run_of_a_killed_train_is_marked_killed_by_the_next_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry_store: str
) -> None:
    mlflow_uri = registry_store  # an already-migrated sqlite store (no schema set-up time)
    shutil.copy(FIXTURES / "train.parquet", tmp_path / "train.parquet")
    params = yaml.safe_load((FIXTURES / "params.yaml").read_text())
    slow = {
        **params,
        "train": {**params.get("train", {}), "budget": {"trials": 10_000, "seconds": 600}},
    }
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(slow))
    quick = {**params, "train": {**params.get("train", {}), "budget": {"trials": 1, "seconds": 60}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(quick))
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(mlflow_uri)
    argv = ["train", "--train", "train.parquet", "--out", "build/killed"]

    victim = subprocess.Popen(
        [sys.executable, "-m", "retrain", *argv, "--params", "slow.yaml"],
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, runs = time.monotonic() + 120, []
        while time.monotonic() < deadline and not runs:
            time.sleep(0.5)
            experiment = client.get_experiment_by_name(EXPERIMENT)
            runs = running_training_runs(client, experiment.experiment_id) if experiment else []
            assert victim.poll() is None, "the training subprocess ended on its own"
        assert len(runs) == 1, "the training subprocess opened no run in time"
        killed = runs[0]
        assert killed.data.tags[PID_TAG] == str(victim.pid)
        assert killed.data.tags[HOST_TAG] == host_id()
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    assert client.get_run(killed.info.run_id).info.status == "RUNNING"  # left behind

    assert main(["train", "--train", "train.parquet", "--out", "build/train"]) == 0

    after = client.get_run(killed.info.run_id)
    assert after.info.status == "KILLED"
    assert after.data.tags[CLOSED_TAG] == f"stale run sweep: process {victim.pid} on " + (
        f"{host_id()} is gone"
    )
    assert running_training_runs(client, after.info.experiment_id) == []
    assert not (tmp_path / "build" / "killed").exists()  # the killed run wrote nothing


def test_live_and_recent_foreign_runs_stay_running_old_foreign_ones_are_closed(
    mlflow_uri: str, tmp_path: Path
) -> None:
    tracker = MlflowTracker("sweep", tmp_path)
    client = tracker.client
    now = int(time.time() * 1000)

    def run(tags: dict[str, str], hours_ago: float = 0.0, kind: str = "training") -> str:
        created = client.create_run(
            tracker.experiment_id,
            start_time=now - int(hours_ago * 3_600_000),
            tags={"retrain.kind": kind, **tags},
        )
        return created.info.run_id

    me = {PID_TAG: str(os.getpid()), HOST_TAG: host_id()}
    live = run({**me, PID_START_TAG: process_start(os.getpid()) or ""}, hours_ago=100)
    reused = run({**me, PID_START_TAG: "1"})  # this pid, but another process's start time
    foreign_recent = run({PID_TAG: "1", HOST_TAG: "other-host"}, hours_ago=1)
    foreign_old = run({PID_TAG: "1", HOST_TAG: "other-host"}, hours_ago=30)
    untagged_recent = run({})
    orphan_trial = run({"mlflow.parentRunId": foreign_old}, kind="trial")
    not_ours = run({}, hours_ago=100, kind="notebook")

    closed = tracker.close_stale_runs(max_age_hours=24)

    assert set(closed) == {reused, foreign_old, orphan_trial}
    status = {rid: client.get_run(rid).info.status for rid in closed}
    assert set(status.values()) == {"KILLED"}
    for rid in (live, foreign_recent, untagged_recent, not_ours):
        assert client.get_run(rid).info.status == "RUNNING"
        assert CLOSED_TAG not in client.get_run(rid).data.tags


def test_a_new_training_run_records_its_owner(mlflow_uri: str, tmp_path: Path) -> None:
    tracker = MlflowTracker("owner", tmp_path)
    tracker.start(run_name="t", tags={}, params={})
    tags = tracker.client.get_run(tracker.run_id).data.tags
    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == host_id()
    assert tags[PID_START_TAG] == process_start(os.getpid())
    assert tracker.close_stale_runs() == {}  # its own live run is never closed
    tracker.fail()


# What a `retrain train` process does against a server before its first trial: set up the
# tracker (the experiment look-up is its first HTTP request), then report what it imported.
_TRACKER_SETUP = """
import json, os, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "tracker":
    from retrain.search.tracker import MlflowTracker
    MlflowTracker("setup-check")
else:  # what the tracker did before: a plain client's first request
    from mlflow import MlflowClient
    MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).search_experiments()
print(json.dumps({
    "feast": "feast" in sys.modules,
    "timeout": os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT"),
    "retries": os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES"),
    "setup_s": time.perf_counter() - t0,
}))
"""


@pytest.mark.server
@pytest.mark.integration
@pytest.mark.slow  # two processes importing mlflow against a server
def test_tracker_against_a_server_gets_http_settings_and_no_feast(mlflow_server: str) -> None:
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    env["MLFLOW_TRACKING_URI"] = mlflow_server

    def setup(how: str) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", _TRACKER_SETUP, how],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    # given a server; when the training tracker sets up: the registry's HTTP settings, no feast
    ours = setup("tracker")
    assert ours["feast"] is False
    assert (ours["timeout"], ours["retries"]) == ("10", "1")
    # a plain MLflow client imports feast through plugin discovery (the check can fail)
    plain = setup("plain")
    assert plain["feast"] is True
    assert plain["timeout"] is None
