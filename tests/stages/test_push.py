from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from registry_support import (
    MODEL,
    TEST,
    exported_model,
    fit_pipeline,
    free_port,
    write_search,
)
from retrain.cli import main
from retrain.config.gate import GateSection
from retrain.fileio import write_json as write_json_atomic
from retrain.gating import evaluate_gate, window_of
from retrain.registry import MlflowRegistry as Registry

CONTRACT_TAGS = {
    "git_commit",
    "data_hash",
    "params_hash",
    "run_id",
    "sha256",
    "baseline_version",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "primary_metric",
}


# Fits here are tiny; default OpenMP threads spin on a busy 2-core box (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def candidate() -> tuple[Path, str]:
    return exported_model("hgb")


def make_gate_json(
    path: Path, sha: str, *, champion_version: str | None = None, blessed: bool = True
) -> Path:
    """gate.json as the gate stage writes it (real verdict on the fixture window)."""
    test = pd.read_parquet(TEST)
    rules = GateSection(values={"roc_auc": {"min": 0.0 if blessed else 0.99}})
    verdict = evaluate_gate(rules, "classification", test, fit_pipeline("hgb"), None, None, 1)
    result = verdict.model_copy(
        update={
            "champion_version": champion_version,
            "model": MODEL,
            "candidate_sha256": sha,
            "champion_sha256": None,
            "test_window": window_of(test, "event_time"),
        }
    ).to_dict()
    assert result["blessed"] is blessed
    write_json_atomic(path, result)
    return path


def _inputs(tmp_path: Path, sha: str, **gate) -> list[str]:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"base": {"model_name": MODEL}}))
    gate_json = make_gate_json(tmp_path / "gate.json", sha, **gate)
    search = write_search(tmp_path / "search.json", run_id="train-run-1")
    return ["--gate", str(gate_json), "--search", str(search), "--params", str(params)]


def test_blessed_push_registers_challenger_with_lineage(
    tmp_path, registry_store, candidate
) -> None:
    export_dir, sha = candidate
    out = tmp_path / "registry.json"
    args = ["push", "--export", str(export_dir), "--out", str(out), *_inputs(tmp_path, sha)]
    assert main(args) == 0
    record = json.loads(out.read_text())
    assert record == {
        "schema": 1,
        "model": MODEL,
        "version": "1",
        "model_uri": f"models:/{MODEL}/1",
        "sha256": sha,
        "baseline_version": None,
        "run_id": "train-run-1",
        "blessed": True,
    }
    registry = Registry(registry_store)
    ref = registry.alias(MODEL, "challenger")
    assert ref is not None and ref.version == "1"
    assert set(ref.tags) >= CONTRACT_TAGS - {"baseline_version"}
    # a first model has no baseline: the tag is absent (no "none" sentinel)
    assert ref.tags["sha256"] == sha and "baseline_version" not in ref.tags
    assert ref.tags["run_id"] == "train-run-1" and ref.tags["test_start"].startswith("2013-10")
    assert float(ref.tags["metric.roc_auc"]) > 0.6
    assert len(ref.tags["params_hash"]) == 64

    # idempotent: same inputs -> the same version, registry.json byte-identical
    before = out.read_bytes()
    assert main(args) == 0
    assert out.read_bytes() == before
    assert [r.version for r in registry.find(MODEL, {})] == ["1"]

    # a different baseline is a different gate decision -> a new version
    other = tmp_path / "other"
    other.mkdir()
    args2 = ["push", "--export", str(export_dir), "--out", str(other / "registry.json")]
    assert main([*args2, *_inputs(other, sha, champion_version="1")]) == 0
    record2 = json.loads((other / "registry.json").read_text())
    assert record2["version"] == "2" and record2["baseline_version"] == "1"


def test_not_blessed_registers_nothing(tmp_path, registry_store, candidate) -> None:
    export_dir, sha = candidate
    out = tmp_path / "registry.json"
    args = ["push", "--export", str(export_dir), "--out", str(out)]
    assert main([*args, *_inputs(tmp_path, sha, champion_version="3", blessed=False)]) == 0
    record = json.loads(out.read_text())
    assert record["blessed"] is False and record["version"] is None
    assert record["model_uri"] is None and record["baseline_version"] == "3"
    assert Registry(registry_store).find(MODEL, {}) == []


def test_two_concurrent_pushes_make_one_version(tmp_path, registry_store, candidate) -> None:
    export_dir, sha = candidate
    inputs = _inputs(tmp_path, sha)
    Registry(registry_store).champion(
        MODEL
    )  # the registry_store exists before the pushes (as in real use)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "retrain",
                "push",
                "--export",
                str(export_dir),
                "--out",
                str(tmp_path / f"registry-{i}.json"),
                *inputs,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    records = [json.loads((tmp_path / f"registry-{i}.json").read_text()) for i in range(2)]
    assert records[0] == records[1]
    assert [r.version for r in Registry(registry_store).find(MODEL, {"sha256": sha})] == [
        records[0]["version"]
    ]


def test_tampered_or_mismatched_export_refused(tmp_path, registry_store, candidate) -> None:
    import shutil

    export_dir, sha = candidate
    copy = tmp_path / "model"
    shutil.copytree(export_dir, copy)
    out = tmp_path / "registry.json"
    out.write_text("unchanged")
    inputs = _inputs(tmp_path, sha)
    skops = copy / "artifacts" / "model.skops"
    skops.write_bytes(skops.read_bytes() + b"\0")
    assert main(["push", "--export", str(copy), "--out", str(out), *inputs]) == 2
    # an export of another model than the one the gate blessed
    assert (
        main(["push", "--export", str(export_dir), "--out", str(out), *_inputs(tmp_path, "f" * 64)])
        == 2
    )
    assert main(["push", "--export", str(tmp_path), "--out", str(out), *inputs]) == 2
    assert out.read_text() == "unchanged"
    assert Registry(registry_store).find(MODEL, {}) == []


def test_bad_gate_and_search_files(tmp_path, registry_store, candidate, capsys) -> None:
    export_dir, sha = candidate
    inputs = _inputs(tmp_path, sha)
    out = tmp_path / "registry.json"
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    base = ["push", "--export", str(export_dir), "--out", str(out)]
    for flag in ("--gate", "--search"):
        swapped = [str(broken) if inputs[i - 1] == flag else a for i, a in enumerate(inputs)]
        assert main([*base, *swapped]) == 2
        assert "is not valid JSON" in capsys.readouterr().err
    old_schema = tmp_path / "old.json"
    old_schema.write_text(json.dumps({"schema": 0}))
    assert main([*base, "--gate", str(old_schema), *inputs[2:]]) == 2
    assert not out.exists()


def test_unreachable_registry_writes_nothing(
    tmp_path, candidate, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    export_dir, sha = candidate
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    out = tmp_path / "registry.json"
    out.write_text('{"schema": 1, "version": "4"}')
    code = main(["push", "--export", str(export_dir), "--out", str(out), *_inputs(tmp_path, sha)])
    assert code == 3
    assert "unreachable" in capsys.readouterr().err
    assert out.read_text() == '{"schema": 1, "version": "4"}'


@pytest.mark.integration
@pytest.mark.server
@pytest.mark.slow
def test_push_against_server_is_idempotent(
    tmp_path, candidate, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_dir, sha = candidate
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    params = tmp_path / "params.yaml"
    name = f"{MODEL}-push-server"
    params.write_text(yaml.safe_dump({"base": {"model_name": name}}))
    gate = json.loads(make_gate_json(tmp_path / "gate.json", sha).read_text())
    gate["model"] = name
    write_json_atomic(tmp_path / "gate.json", gate)
    search = write_search(tmp_path / "search.json")
    out = tmp_path / "registry.json"
    args = [
        "push",
        "--export",
        str(export_dir),
        "--out",
        str(out),
        "--gate",
        str(tmp_path / "gate.json"),
    ]
    args += ["--search", str(search), "--params", str(params)]
    assert main(args) == 0 and main(args) == 0
    registry = Registry(mlflow_server)
    versions = registry.find(name, {"sha256": sha})
    assert len(versions) == 1 and registry.alias(name, "challenger") == versions[0]
    assert registry.load_pipeline(versions[0]) is not None
