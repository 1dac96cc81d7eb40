"""Where MLflow lives: `MLFLOW_TRACKING_URI` if set, else a local sqlite file (zero set-up).

The file store is in maintenance mode in MLflow 3, so the embedded default is sqlite, with
artifacts in a sibling folder. Team mode: point MLFLOW_TRACKING_URI at an `mlflow server`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_DB = "mlruns.db"
DEFAULT_ARTIFACTS = "mlartifacts"

# Fail in seconds, not minutes, when a tracking server is down (MLflow's defaults retry with
# exponential back-off for several minutes). The user's own settings win.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


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


def set_http_defaults() -> None:
    """HTTP_DEFAULTS into the environment, where the user has not set them (no mlflow import)."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)


def prepare_client(uri: str) -> None:
    """Before the first MLflow client talks to `uri`: the HTTP timeout/retry defaults above
    (every client of the project: registry, training tracker), and for a server no feast
    request-header plugin."""
    set_http_defaults()
    if uri.startswith(("http://", "https://")):
        skip_feast_header_plugin()


def skip_feast_header_plugin() -> None:
    """Keep feast's MLflow request-header plugin from loading.

    feast registers an `mlflow.request_header_provider` entry point; MLflow loads every such
    plugin on the first HTTP request, which imports all of feast (5-10 s here) to add headers
    this project never uses. Filter that one entry point while MLflow builds its registry.
    """
    if "mlflow.tracking.request_header.registry" in sys.modules:
        return
    import mlflow.utils.plugins as plugins

    original = plugins.get_entry_points

    def without_feast(group: str) -> list[Any]:
        found = list(original(group))
        if group == "mlflow.request_header_provider":
            found = [ep for ep in found if not ep.value.startswith("feast.")]
        return found

    plugins.get_entry_points = without_feast
    try:
        import mlflow.tracking.request_header.registry  # noqa: F401
    finally:
        plugins.get_entry_points = original


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
