"""Where MLflow lives: `MLFLOW_TRACKING_URI` if set, else a local sqlite file (zero set-up).

The file store is in maintenance mode in MLflow 3, so the embedded default is sqlite, with
artifacts in a sibling folder. Team mode: point MLFLOW_TRACKING_URI at an `mlflow server`.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = "mlruns.db"
DEFAULT_ARTIFACTS = "mlartifacts"


def tracking_uri(root: Path | None = None) -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = (root or Path.cwd()).resolve()
    return f"sqlite:///{root / DEFAULT_DB}"


def artifact_location(root: Path | None = None) -> str | None:
    """Artifact root for new experiments: next to the sqlite file; None lets a server (or any
    other backend) decide."""
    uri = tracking_uri(root)
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///") :]).parent / DEFAULT_ARTIFACTS).as_uri()


def configure(root: Path | None = None) -> str:
    """Point the mlflow client at the project's store; returns the URI in use."""
    import mlflow

    uri = tracking_uri(root)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str, root: Path | None = None) -> str:
    """Get or create an experiment whose artifacts sit next to the sqlite file."""
    import mlflow

    configure(root)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_location(root))
