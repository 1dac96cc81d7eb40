from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from registry_support import (
    FEATURES,
    MODEL,
    TEST,
    exported_model,
    fit_pipeline,
    free_port,
)
from retrain.errors import ServiceUnavailable, UserError
from retrain.registry import MlflowRegistry as Registry
from retrain.registry import ModelRef

# Fits here are tiny; default OpenMP threads spin on a busy 2-core box (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def exported() -> tuple[Path, str]:
    return exported_model("hgb")


def _roundtrip(registry: Registry, exported: tuple[Path, str], model: str = MODEL) -> ModelRef:
    """The API H5/H6 rely on, end to end against one registry_store."""
    export_dir, sha = exported
    assert registry.champion(model) is None
    assert registry.alias(model, "challenger") is None
    tags = {"sha256": sha, "baseline_version": "none", "git_commit": "abc"}
    ref, created = registry.register(model, export_dir, tags)
    assert created and ref == registry.version(model, ref.version)
    assert ref.sha256 == sha and ref.uri == f"models:/{model}/{ref.version}"
    assert ref.tags["git_commit"] == "abc"
    again, created_again = registry.register(model, export_dir, tags)
    assert again == ref and not created_again
    assert registry.find(model, {"sha256": sha}) == [ref]
    assert registry.find(model, {"sha256": "0" * 64}) == []
    registry.set_alias(model, "champion", ref.version)
    assert registry.champion(model) == ref
    pipeline = registry.load_pipeline(registry.champion(model))
    frame = pd.read_parquet(TEST)
    np.testing.assert_array_equal(
        pipeline.predict_proba(frame[FEATURES]),
        fit_pipeline("hgb").predict_proba(frame[FEATURES]),
    )
    key = registry.add_audit(model, {"who": "t", "to": ref.version})
    registry.add_audit(model, {"who": "t", "to": "later"})
    trail = registry.audit(model)
    assert [r["to"] for r in trail] == [ref.version, "later"]
    assert trail[0]["at"] == key.removeprefix("audit.")
    return ref


def test_sqlite_roundtrip(registry_store: str, exported) -> None:
    _roundtrip(Registry(registry_store), exported)


def test_default_uri_is_the_tracking_setting(registry_store: str) -> None:
    assert Registry().uri == registry_store


@pytest.mark.integration
@pytest.mark.server
@pytest.mark.slow
def test_server_roundtrip(mlflow_server: str, exported) -> None:
    # The session's server is shared with other modules: a model name of its own.
    _roundtrip(Registry(mlflow_server), exported, model=f"{MODEL}-registry-test")


def test_unknown_version_is_a_user_error(registry_store: str, exported) -> None:
    registry = Registry(registry_store)
    with pytest.raises(UserError, match="has no version 7"):
        registry.version(MODEL, 7)


def test_tampered_stored_artifact_refused(registry_store: str, tmp_path: Path, exported) -> None:
    registry = Registry(registry_store)
    export_dir, sha = exported
    ref, _ = registry.register(MODEL, export_dir, {"sha256": sha, "baseline_version": "none"})
    stored = next((tmp_path / "mlartifacts").rglob("model.skops"))
    stored.write_bytes(stored.read_bytes()[:-1] + b"x")
    with pytest.raises(UserError, match="changed after registration"):
        registry.load_pipeline(ref)
    unsigned = ModelRef(MODEL, ref.version, None, {}, ref.uri)
    with pytest.raises(UserError, match="no sha256 tag"):
        registry.load_pipeline(unsigned)


def test_concurrent_register_dedupes_to_the_oldest(
    registry_store: str, exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, made deterministic: this pusher's look-up ran before the other's registration
    landed, so it registers too, then sees both and removes its own duplicate."""
    registry = Registry(registry_store)
    export_dir, sha = exported
    tags = {"sha256": sha, "baseline_version": "none"}
    first, _ = registry.register(MODEL, export_dir, tags)
    real_find = registry.find
    calls = []

    def stale_first_lookup(model: str, wanted: dict[str, str]) -> list[ModelRef]:
        calls.append(wanted)
        return [] if len(calls) == 1 else real_find(model, wanted)

    monkeypatch.setattr(registry, "find", stale_first_lookup)
    second, created = registry.register(MODEL, export_dir, tags)
    assert second == first and not created
    monkeypatch.undo()
    from mlflow.tracking import MlflowClient

    versions = MlflowClient(registry_store).search_model_versions(f"name = '{MODEL}'")
    assert [str(v.version) for v in versions] == [first.version]  # the duplicate was deleted


def test_unreachable_server_fails_fast_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry = Registry(f"http://user:s3cret@127.0.0.1:{free_port()}")
    with pytest.raises(ServiceUnavailable, match="unreachable while trying to read alias") as err:
        registry.champion(MODEL)
    assert "s3cret" not in str(err.value) and err.value.exit_code == 3
