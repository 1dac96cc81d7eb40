"""Experiment tracking as a service object: one MLflow parent run per training, one child per trial.

Logging stays cheap: each trial is one `create_run` + one `log_batch` + one `set_terminated`
(no model artifacts per trial). `NullTracker` lets callers (replay, tests) run the search with
no store at all.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Protocol

from retrain.search.records import TrialRecord

log = logging.getLogger("retrain.train")

# Tags on every training run: which process on which host owns it while it is RUNNING.
PID_TAG, HOST_TAG, PID_START_TAG = "retrain.pid", "retrain.host", "retrain.pid_start"
CLOSED_TAG = "retrain.closed_by"


def host_id() -> str:
    """This machine as seen by its pids: the host name plus the pid namespace (two containers
    with one host name do not see each other's pids, so their runs count as another host's)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # e.g. pid:[4026531836]
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace}"


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (Linux /proc, clock ticks since boot): tells a reused
    pid from the original process. None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[19] if fields[0] != "Z" else "zombie"


def _process_gone(pid: int, started: str | None) -> bool:
    """True only when the process that owned a run surely no longer runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    now = process_start(pid)
    if now == "zombie":
        return True
    return started is not None and now is not None and now != started  # pid reused


def stale_runs(runs: list[Any], host: str, max_age_hours: float, now_ms: int) -> dict[str, str]:
    """run_id -> why it is stale, among RUNNING training runs and their trials.

    A training run is stale when its process is gone from this host (pid tag, checked with
    the process start time), or, owned by another host or untagged, when it started more than
    `max_age_hours` ago (a live worker elsewhere cannot be checked, so it gets that long).
    A trial run still RUNNING is stale when its parent is stale or no longer RUNNING.
    """
    by_id = {run.info.run_id: run for run in runs}
    stale: dict[str, str] = {}
    for run in runs:
        tags = run.data.tags
        if tags.get("retrain.kind") != "training" or run.info.status != "RUNNING":
            continue
        pid, owner = tags.get(PID_TAG), tags.get(HOST_TAG)
        age_h = (now_ms - (run.info.start_time or now_ms)) / 3_600_000
        if owner == host and pid and pid.isdigit():
            if _process_gone(int(pid), tags.get(PID_START_TAG) or None):
                stale[run.info.run_id] = f"process {pid} on {host} is gone"
        elif age_h > max_age_hours:
            stale[run.info.run_id] = f"RUNNING for {age_h:.1f} h (> train.stale_run_hours)"
    for run in runs:
        tags = run.data.tags
        if tags.get("retrain.kind") != "trial" or run.info.status != "RUNNING":
            continue
        parent = tags.get("mlflow.parentRunId")
        if parent in stale:
            stale[run.info.run_id] = f"its training run {parent} was closed"
        elif parent in by_id and by_id[parent].info.status != "RUNNING":
            stale[run.info.run_id] = f"its training run {parent} has ended"
    return stale


def _param_value(value: Any) -> str:
    return str(value)[:6000]  # MLflow's param value limit


class Tracker(Protocol):
    run_id: str | None

    def start(self, *, run_name: str, tags: dict[str, str], params: dict[str, Any]) -> None: ...

    def log_trial(self, record: TrialRecord, metric: str) -> None: ...

    def finish(
        self,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, Any],
    ) -> None: ...

    def fail(self) -> None: ...


class NullTracker:
    """Tracks nothing (for callers that only want the search)."""

    run_id: str | None = None

    def start(self, *, run_name: str, tags: dict[str, str], params: dict[str, Any]) -> None:
        return None

    def log_trial(self, record: TrialRecord, metric: str) -> None:
        return None

    def finish(self, **_: Any) -> None:
        return None

    def fail(self) -> None:
        return None


class MlflowTracker:
    """MLflow runs in the project's store (`retrain.tracking`: $MLFLOW_TRACKING_URI or sqlite)."""

    def __init__(self, experiment: str, root: Path | None = None) -> None:
        from retrain import tracking

        # a server gets the registry's HTTP timeout/retries and no feast plugin import
        tracking.prepare_client(tracking.tracking_uri(root))
        from mlflow import MlflowClient

        try:
            self.experiment_id = tracking.ensure_experiment(experiment, root)
        except Exception:  # another worker created it between our get and our create
            time.sleep(1.0)
            self.experiment_id = tracking.ensure_experiment(experiment, root)
        self.client = MlflowClient(tracking.tracking_uri(root))
        self.run_id: str | None = None

    def close_stale_runs(self, max_age_hours: float = 24.0) -> dict[str, str]:
        """Mark KILLED the runs of this experiment a killed process left RUNNING (see
        `stale_runs`); returns run_id -> reason. A live worker's run is left alone."""
        from mlflow.entities import ViewType

        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string="attributes.status = 'RUNNING'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=5000,
        )
        stale = stale_runs(list(runs), host_id(), max_age_hours, int(time.time() * 1000))
        for run_id, reason in stale.items():
            self.client.set_tag(run_id, CLOSED_TAG, f"stale run sweep: {reason}")
            self.client.set_terminated(run_id, status="KILLED")
            log.warning("MLflow run %s was left RUNNING (%s): marked KILLED", run_id, reason)
        return stale

    def start(self, *, run_name: str, tags: dict[str, str], params: dict[str, Any]) -> None:
        owner = {
            PID_TAG: str(os.getpid()),
            HOST_TAG: host_id(),
            PID_START_TAG: process_start(os.getpid()) or "",
        }
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags={"retrain.kind": "training", **owner, **tags},
        )
        self.run_id = run.info.run_id
        self._batch(self.run_id, params=params)

    def log_trial(self, record: TrialRecord, metric: str) -> None:
        if self.run_id is None:
            raise RuntimeError("MlflowTracker.start() must run before log_trial()")
        tags = {
            "mlflow.parentRunId": self.run_id,
            "retrain.kind": "trial",
            "family": record.family,
            "state": record.state,
            "trial_number": str(record.number),
        }
        if record.pruned_reason:
            tags["pruned_reason"] = record.pruned_reason
        child = self.client.create_run(
            self.experiment_id, run_name=f"trial-{record.number:03d}", tags=tags
        )
        metrics: dict[str, float] = {"fit_time_s": record.fit_time_s}
        if record.cv_score is not None:
            metrics[f"cv_{metric}"] = record.cv_score
        if record.threshold is not None:
            metrics["threshold"] = record.threshold
        for i, value in enumerate(record.fold_scores):
            metrics[f"fold{i}_{metric}"] = value
        self._batch(
            child.info.run_id,
            params={"family": record.family, **record.params},
            metrics=metrics,
            steps={f"cv_fold_{metric}": record.fold_scores},
        )
        self.client.set_terminated(child.info.run_id, status="FINISHED")

    def finish(
        self,
        *,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, Any],
    ) -> None:
        assert self.run_id is not None
        self._batch(self.run_id, params=params, metrics=metrics, tags=tags)
        for name, payload in artifacts.items():
            self.client.log_dict(self.run_id, payload, name)
        self.client.set_terminated(self.run_id, status="FINISHED")

    def fail(self) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status="FAILED")

    def _batch(
        self,
        run_id: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
        steps: dict[str, list[float]] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        metric_rows = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        for key, values in (steps or {}).items():
            metric_rows += [Metric(key, float(v), now, step) for step, v in enumerate(values)]
        self.client.log_batch(
            run_id,
            metrics=metric_rows,
            params=[Param(k, _param_value(v)) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )
