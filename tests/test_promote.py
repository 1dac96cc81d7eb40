"""Promotion by merge, rollback by revert: a real git repository and a real MLflow store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from registry_support import (
    FEATURES,
    MODEL,
    TEST,
    exported_model,
    fit_pipeline,
    free_port,
    register,
)
from retrain.artifacts import RegistryRecord
from retrain.cli import main
from retrain.errors import UserError
from retrain.promote import PromotionRefused, parse_record, promote
from retrain.registry import MlflowRegistry as Registry

# Fits here are tiny; default OpenMP threads spin on a busy 2-core box (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def exports() -> list[tuple[Path, str]]:
    """Three different real models, exported once per session."""
    return [exported_model("hgb", 0), exported_model("logreg", 0), exported_model("hgb", 1)]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "T")
    (path / "README.md").write_text("x\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "init")
    return path


def record(ref, baseline: str | None) -> RegistryRecord:
    return RegistryRecord.model_validate(
        {
            "schema": 1,
            "model": MODEL,
            "version": ref.version,
            "model_uri": ref.uri,
            "sha256": ref.sha256,
            "baseline_version": baseline,
            "run_id": "r",
            "blessed": True,
        }
    )


def merge_pr(repo: Path, branch: str, content: dict | RegistryRecord) -> str:
    """A retrain PR: branch, commit registry.json, merge with a merge commit."""
    git(repo, "checkout", "-q", "-b", branch)
    if isinstance(content, RegistryRecord):
        content = content.to_dict()
    (repo / "registry.json").write_text(json.dumps(content, indent=2) + "\n")
    git(repo, "add", "registry.json")
    git(repo, "commit", "-q", "-m", f"retrain: {branch}")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", branch, "-m", f"Merge {branch}")
    return git(repo, "rev-parse", "HEAD")


def run_promote(repo: Path, ref: str = "main", *extra: str) -> int:
    return main(["promote", "--repo", str(repo), "--ref", ref, *extra])


def test_promote_by_merge_and_rollback_by_revert(repo: Path, registry_store: str, exports) -> None:
    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    merge1 = merge_pr(repo, "retrain-1", record(v1, None))
    assert run_promote(repo) == 0
    assert registry.champion(MODEL).version == v1.version
    assert registry.alias(MODEL, "previous") is None

    v2 = register(registry, *exports[1], baseline=v1.version)
    registry.set_alias(MODEL, "challenger", v2.version)
    merge2 = merge_pr(repo, "retrain-2", record(v2, v1.version))
    assert run_promote(repo) == 0
    assert registry.champion(MODEL).version == v2.version
    assert registry.alias(MODEL, "previous").version == v1.version
    assert registry.alias(MODEL, "challenger") is None  # promoted: no longer awaiting review
    trail = registry.audit(MODEL)
    assert [(r["from"], r["to"], r["kind"]) for r in trail] == [
        (None, v1.version, "promoted"),
        (v1.version, v2.version, "promoted"),
    ]
    assert trail[1]["commit"] == merge2 and trail[1]["forced"] is False and trail[1]["who"]

    # re-running is a no-op: nothing moves, nothing is written
    assert run_promote(repo) == 0
    assert len(registry.audit(MODEL)) == 2 and registry.champion(MODEL).version == v2.version

    # revert the merge: registry.json names v1 again -> champion moves back
    git(repo, "revert", "--no-edit", "-m", "1", merge2)
    assert json.loads((repo / "registry.json").read_text())["version"] == v1.version
    assert run_promote(repo) == 0
    assert registry.champion(MODEL).version == v1.version
    assert registry.alias(MODEL, "previous").version == v2.version
    assert registry.audit(MODEL)[-1]["kind"] == "rolled_back"
    assert "rolled_back" in registry.version(MODEL, v2.version).tags
    assert run_promote(repo) == 0 and len(registry.audit(MODEL)) == 3  # no-op again

    # re-running the old merge's promotion does not bring the reverted model back...
    assert run_promote(repo, merge2) == 2
    assert registry.champion(MODEL).version == v1.version
    # ...unless forced, with a reason in the audit trail
    assert run_promote(repo, merge2, "--force", "--reason", "fixed upstream data") == 0
    last = registry.audit(MODEL)[-1]
    assert last["forced"] is True and last["reason"] == "fixed upstream data"
    assert registry.champion(MODEL).version == v2.version
    assert merge1 != merge2


def test_reverting_the_first_models_pr_withdraws_it(
    repo: Path, registry_store: str, exports
) -> None:
    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    merge1 = merge_pr(repo, "retrain-1", record(v1, None))
    assert run_promote(repo) == 0 and registry.champion(MODEL).version == v1.version

    # Before the first model main had no registry.json, so the revert deletes it.
    git(repo, "revert", "--no-edit", "-m", "1", merge1)
    assert not (repo / "registry.json").exists()
    assert run_promote(repo) == 0
    assert registry.champion(MODEL) is None
    assert registry.alias(MODEL, "previous").version == v1.version
    assert "rolled_back" in registry.version(MODEL, v1.version).tags
    last = registry.audit(MODEL)[-1]
    assert (last["from"], last["to"], last["kind"]) == (v1.version, None, "rolled_back")
    assert run_promote(repo) == 0 and len(registry.audit(MODEL)) == 2  # no-op again
    # The old merge cannot bring it back silently.
    assert run_promote(repo, merge1) == 2 and registry.champion(MODEL) is None


def test_deleting_registry_json_of_a_later_model_or_under_another_champion_is_refused(
    repo: Path, registry_store: str, exports, capsys
) -> None:
    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    v2 = register(registry, *exports[1], baseline=v1.version)
    merge1 = merge_pr(repo, "retrain-1", record(v1, None))
    assert run_promote(repo) == 0
    registry.set_alias(MODEL, "champion", v2.version)  # moved by hand meanwhile
    git(repo, "revert", "--no-edit", "-m", "1", merge1)
    assert run_promote(repo) == 2
    assert "champion is now v" in capsys.readouterr().err
    assert registry.champion(MODEL).version == v2.version  # nothing moved

    # A registry.json naming a model with a baseline, then deleted: no safe meaning.
    (repo / "registry.json").write_text(record(v2, v1.version).to_json())
    git(repo, "add", "registry.json")
    git(repo, "commit", "-q", "-m", "v2")
    git(repo, "rm", "-q", "registry.json")
    git(repo, "commit", "-q", "-m", "delete")
    assert run_promote(repo) == 2
    assert "revert the retrain PR instead" in capsys.readouterr().err
    assert registry.champion(MODEL).version == v2.version


def test_cas_refuses_when_the_champion_moved(
    repo: Path, registry_store: str, exports, capsys
) -> None:
    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    v2 = register(registry, *exports[1], baseline=v1.version)
    v3 = register(registry, *exports[2], baseline=v1.version)  # gated against v1, too
    registry.set_alias(MODEL, "champion", v2.version)  # but v2 won the race
    merge_pr(repo, "retrain-3", record(v3, v1.version))
    assert run_promote(repo) == 2
    err = capsys.readouterr().err
    assert f"champion moved from v{v1.version} to v{v2.version} since this PR was validated" in err
    assert "re-run the retrain" in err
    assert registry.champion(MODEL).version == v2.version and registry.audit(MODEL) == []
    # an explicit override is possible and recorded
    assert run_promote(repo, "main", "--force", "--reason", "v2 broke checkout") == 0
    assert registry.champion(MODEL).version == v3.version
    assert registry.audit(MODEL)[-1]["forced"] is True


def test_tampered_artifact_and_sha_mismatch_refused(
    repo: Path, registry_store: str, tmp_path: Path, exports
) -> None:
    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    wrong = record(v1, None).model_copy(update={"sha256": "0" * 64})
    with pytest.raises(PromotionRefused, match="not the validated model"):
        promote(registry, wrong, commit="c", who="t")
    stored = next((tmp_path / "mlartifacts").rglob("model.skops"))
    stored.write_bytes(stored.read_bytes() + b"\0")
    merge_pr(repo, "retrain-t", record(v1, None))
    assert run_promote(repo, "main", "--force", "--reason", "try") == 2  # never overridable
    assert registry.champion(MODEL) is None and registry.audit(MODEL) == []


def test_champion_serves_raw_feature_rows(registry_store: str, exports) -> None:
    import mlflow.pyfunc

    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    promote(registry, record(v1, None), commit="c", who="t")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    raw = pd.read_parquet(TEST).head(20)  # every column, label and keys included
    out = model.predict(raw)
    expected = fit_pipeline("hgb", seed=0).predict_proba(raw[FEATURES])[:, 1]
    assert list(out.columns) == ["probability", "prediction"]
    assert out["probability"].tolist() == pytest.approx(expected.tolist(), abs=0)


def test_bad_inputs(repo: Path, registry_store: str, capsys) -> None:
    assert run_promote(repo, "no-such-branch") == 2
    assert "pass an existing ref" in capsys.readouterr().err
    assert run_promote(repo, "main") == 2  # no registry.json at that commit
    assert "does not exist at main" in capsys.readouterr().err
    assert main(["promote", "--repo", str(repo), "--ref=--upload-pack=evil"]) == 2
    assert "invalid ref" in capsys.readouterr().err
    assert main(["promote", "--ref", "main", "--force"]) == 2
    assert "--force needs --reason" in capsys.readouterr().err
    for text, message in [
        ("{", "not valid JSON"),
        ('{"schema": 2}', "not a schema-1"),
        ('{"schema": 1, "model": "m"}', "lacks 'version'"),
        (
            '{"schema":1,"model":"m","version":"x","sha256":"s","baseline_version":null,"blessed":true}',
            "version number or null",
        ),
        (
            '{"schema":1,"model":"m","version":"3","sha256":null,"baseline_version":null,"blessed":true}',
            "without its sha256",
        ),
    ]:
        with pytest.raises(UserError, match=message):
            parse_record(text, "registry.json")
    # a registry.json of a rejected candidate promotes nothing
    not_blessed = {
        "schema": 1,
        "model": MODEL,
        "version": None,
        "model_uri": None,
        "sha256": "a" * 64,
        "baseline_version": "1",
        "run_id": "r",
        "blessed": False,
    }
    merge_pr(repo, "rejected", not_blessed)
    assert run_promote(repo) == 0
    assert Registry(registry_store).champion(MODEL) is None


def test_unreachable_registry_changes_nothing(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    merge_pr(
        repo,
        "r",
        {
            "schema": 1,
            "model": MODEL,
            "version": "1",
            "model_uri": "models:/x/1",
            "sha256": "a" * 64,
            "baseline_version": None,
            "run_id": "r",
            "blessed": True,
        },
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert run_promote(repo) == 3
    assert "unreachable" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.server
@pytest.mark.slow
def test_promote_against_server(repo: Path, mlflow_server: str, exports, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    registry = Registry(mlflow_server)
    name = f"{MODEL}-promote-server"
    v1, _ = registry.register(name, exports[0][0], {"sha256": exports[0][1]})
    content = record(v1, None).model_copy(update={"model": name})
    merge = merge_pr(repo, "s", content)
    assert run_promote(repo) == 0 and run_promote(repo) == 0
    assert registry.champion(name).version == v1.version
    assert [r["commit"] for r in registry.audit(name)] == [merge]


@pytest.mark.integration
@pytest.mark.slow
def test_mlflow_models_serve_answers_http(registry_store: str, exports, tmp_path: Path) -> None:
    """`mlflow models serve --env-manager local` on the champion, one real HTTP call."""
    import os
    import shutil
    import signal
    import sys
    import time
    import urllib.request

    registry = Registry(registry_store)
    v1 = register(registry, *exports[0])
    registry.set_alias(MODEL, "champion", v1.version)
    port = free_port()
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry_store}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "models",
            "serve",
            "-m",
            f"models:/{MODEL}@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        rows = pd.read_parquet(TEST).head(3)[FEATURES]
        body = json.dumps({"dataframe_split": json.loads(rows.to_json(orient="split"))}).encode()
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as resp:
                    answer = json.loads(resp.read())
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(1)
        predictions = answer["predictions"]
        expected = fit_pipeline("hgb", seed=0).predict_proba(rows)[:, 1]
        assert [p["probability"] for p in predictions] == pytest.approx(expected.tolist())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
