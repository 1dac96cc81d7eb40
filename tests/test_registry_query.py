"""The alias fast path (no mlflow import) answers exactly what MLflow's client answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retrain.registry_query import QueryUnsupported, read_alias

MODEL = "fast-path-model"


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _client_alias(uri: str, model: str, alias: str):
    """(version, tags) the MLflow client reports, or None."""
    from mlflow.exceptions import MlflowException

    try:
        mv = _client(uri).get_model_version_by_alias(model, alias)
    except MlflowException:
        return None
    return str(mv.version), dict(mv.tags)


def _fast_alias(uri: str, model: str, alias: str):
    return read_alias(uri, model, alias)


def _history(uri: str, model: str) -> list[tuple[str, object, object]]:
    """Build a registry history step by step; after each step record both answers."""
    client = _client(uri)
    seen = []

    def both(step: str) -> None:
        for alias in ("champion", "challenger"):
            seen.append(
                (
                    f"{step}/{alias}",
                    _client_alias(uri, model, alias),
                    _fast_alias(uri, model, alias),
                )
            )

    both("no model")
    client.create_registered_model(model)
    both("model, no versions")
    for n in (1, 2, 3):
        client.create_model_version(model, f"s3://retrain-none/{n}", tags={"sha256": f"s{n}"})
    client.set_model_version_tag(model, "2", "data_hash", "abc")
    client.set_registered_model_alias(model, "champion", "1")
    both("champion v1")
    client.set_registered_model_alias(model, "champion", "2")
    client.set_registered_model_alias(model, "challenger", "3")
    both("moved to v2")
    client.delete_registered_model_alias(model, "champion")
    both("alias deleted")
    client.set_registered_model_alias(model, "champion", "3")
    client.delete_model_version(model, "3")
    both("version deleted")
    return seen


def test_sqlite_fast_path_matches_the_client_at_every_step(registry_store: str) -> None:
    # Given a real sqlite store, when the registry changes step by step,
    # then the fast path reports the same version and tags as MLflow's client each time.
    seen = _history(registry_store, MODEL)
    assert [client for _, client, _ in seen] == [fast for _, _, fast in seen], seen
    # and the history really exercised both outcomes
    assert any(c is None for _, c, _ in seen) and any(c is not None for _, c, _ in seen)
    assert ("moved to v2/champion", ("2", {"sha256": "s2", "data_hash": "abc"})) in [
        (step, fast) for step, _, fast in seen
    ]


def test_a_missing_store_has_no_champion_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    assert read_alias(f"sqlite:///{db}", MODEL, "champion") is None
    assert not db.exists()


def test_an_unknown_schema_falls_back_to_the_client(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("CREATE TABLE registered_model_aliases (x TEXT)")
    with pytest.raises(QueryUnsupported):
        read_alias(f"sqlite:///{db}", MODEL, "champion")


@pytest.mark.parametrize("uri", ["postgresql://u@127.0.0.1/db", "databricks", "file:///tmp/x"])
def test_other_backends_fall_back_to_the_client(uri: str) -> None:
    with pytest.raises(QueryUnsupported):
        read_alias(uri, MODEL, "champion")


def test_client_only_settings_fall_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    with pytest.raises(QueryUnsupported):
        read_alias(f"sqlite:///{tmp_path / 'x.db'}", MODEL, "champion")


def test_reading_the_champion_does_not_import_mlflow(registry_store: str) -> None:
    # Given a store with a champion, when a fresh process asks the registry for it,
    # then mlflow is never imported (the no-op `dvc repro` pays no import).
    client = _client(registry_store)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, "s3://retrain-none/1", tags={"sha256": "s1"})
    client.set_registered_model_alias(MODEL, "champion", "1")
    code = (
        "import sys; from retrain.registry import connect;"
        f"ref = connect({registry_store!r}).champion({MODEL!r});"
        "print(ref.version, ref.sha256, 'mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "s1", "False"], out.stderr


@pytest.mark.integration
@pytest.mark.server
@pytest.mark.slow
def test_rest_fast_path_matches_the_client_against_a_real_server(mlflow_server: str) -> None:
    seen = _history(mlflow_server, f"{MODEL}-rest")
    assert [client for _, client, _ in seen] == [fast for _, _, fast in seen], seen
    assert any(c is not None for _, c, _ in seen)


def test_an_unreachable_server_falls_back_to_the_client() -> None:
    from registry_support import free_port

    with pytest.raises(QueryUnsupported):
        read_alias(f"http://127.0.0.1:{free_port()}", MODEL, "champion")
