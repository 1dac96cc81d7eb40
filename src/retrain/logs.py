"""One logging set-up for every command: a line or two per stage, third-party noise muted."""

from __future__ import annotations

import logging
import os
import warnings

# Telemetry off before any of these libraries is imported (private by default).
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_LOGGING_LEVEL": "ERROR",  # mlflow re-configures its logger on import
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "FEAST_USAGE": "False",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "PYTHONWARNINGS": "ignore",
}

_NOISY = (
    "mlflow",
    "feast",
    "great_expectations",
    "alembic",
    "urllib3",
    "optuna",
    "numexpr",
    "matplotlib",
    "skops",
    "botocore",
    "sqlalchemy",
    "httpx",
    "git",
)


def quiet_environment() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def setup(verbose: bool = False) -> logging.Logger:
    quiet_environment()
    warnings.filterwarnings("ignore")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(name)s: %(message)s",
        force=True,
    )
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.ERROR)
    return logging.getLogger("retrain")
