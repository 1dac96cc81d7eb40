"""Experiment tracking as a service object: one MLflow parent run per training, one child per trial.

Logging stays cheap: each trial is one `create_run` + one `log_batch` + one `set_terminated`
(no model artifacts per trial). `NullTracker` lets callers (replay, tests) run the search with
no store at all.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

from retrain.search.records import TrialRecord


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
        from mlflow import MlflowClient

        from retrain import tracking

        try:
            self.experiment_id = tracking.ensure_experiment(experiment, root)
        except Exception:  # another worker created it between our get and our create
            time.sleep(1.0)
            self.experiment_id = tracking.ensure_experiment(experiment, root)
        self.client = MlflowClient(tracking.tracking_uri(root))
        self.run_id: str | None = None

    def start(self, *, run_name: str, tags: dict[str, str], params: dict[str, Any]) -> None:
        run = self.client.create_run(
            self.experiment_id, run_name=run_name, tags={"retrain.kind": "training", **tags}
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
