from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrain.tracking import artifact_location, tracking_uri


def test_default_is_a_sqlite_file_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlruns.db'}"
    assert artifact_location(tmp_path) == (tmp_path.resolve() / "mlartifacts").as_uri()


def test_artifacts_sit_next_to_any_sqlite_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere' / 'm.db'}")
    assert (
        artifact_location(Path("/somewhere/else"))
        == (tmp_path / "elsewhere" / "mlartifacts").as_uri()
    )


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "postgresql://u@h/db"])
def test_a_server_decides_where_artifacts_go(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert tracking_uri() == uri
    assert artifact_location() is None


def test_prepare_client_sets_http_defaults_but_the_users_settings_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from retrain.tracking import HTTP_DEFAULTS, prepare_client

    for key in HTTP_DEFAULTS:  # absent now, and again after the test
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    prepare_client("sqlite:///x.db")
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
