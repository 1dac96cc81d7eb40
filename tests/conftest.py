"""Fixtures shared by every area. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain.logs import quiet_environment

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

quiet_environment()


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, real MLflow sqlite store for one test (MLFLOW_TRACKING_URI points at it)."""
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` process on 127.0.0.1 (sqlite backend, local artifact root),
    shared by the session; yields its URL and is killed at the end (see registry_support)."""
    from registry_support import mlflow_server_process

    with mlflow_server_process(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 (Debian's binaries, a temp cluster) for the
    session; yields a SQLAlchemy URL (psycopg 3). Skips loudly when either is missing."""
    import importlib.util

    from postgres_support import postgres_bin, postgres_server

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed: apt-get install -y postgresql")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("the psycopg driver is not installed (team dependency group: psycopg[binary])")
    with postgres_server() as url:
        yield url


@pytest.fixture
def registry_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Like mlflow_uri, but starts from a copy of an already-migrated empty store (fast)."""
    from registry_support import fresh_store

    uri = fresh_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(autouse=True)
def _forget_mlflow_process_uri() -> Iterator[None]:
    """mlflow.set_tracking_uri()/set_registry_uri() are process-wide, outrank the environment
    and also write MLFLOW_REGISTRY_URI into os.environ: a test that configured them must not
    point the next test's client at its (deleted) store."""
    import os
    import sys

    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if "mlflow" in sys.modules:
        import mlflow.tracking._model_registry.utils as registry_utils
        import mlflow.tracking._tracking_service.utils as tracking_utils

        tracking_utils._tracking_uri = None
        registry_utils._registry_uri = None


@pytest.fixture
def single_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread: on a busy 2-core box default threads spin-wait, so a 0.1 s fit
    can take 10 s. Modules that fit models opt in with `pytestmark`."""
    from registry_support import one_thread

    with one_thread():
        yield
