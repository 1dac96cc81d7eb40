"""Stage `push`: register a blessed candidate as the `challenger` and write `registry.json`.

`registry.json` is committed by the retrain pull request; merging it promotes the version it
names (`retrain promote`). Not blessed → `registry.json` says so (`version: null`) and nothing
is registered.

Idempotent: a version is identified by its artifact sha256 and the champion version it was
gated against; re-running with the same inputs returns the existing version, and two
concurrent pushes end with one version (see Registry.register). A failure (registry down,
tampered export) leaves `registry.json` untouched.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from retrain.errors import UserError

log = logging.getLogger("retrain.push")

SCHEMA = 1


def _export_sha256(export_dir: Path) -> str:
    """sha256 of the exported skops file, checked against the export's own sha256.txt."""
    from retrain.model_io import sha256_file
    from retrain.registry import SKOPS_IN_MODEL_DIR

    skops = export_dir / SKOPS_IN_MODEL_DIR
    recorded = export_dir / "artifacts" / "sha256.txt"
    if not (export_dir / "MLmodel").is_file() or not skops.is_file() or not recorded.is_file():
        raise UserError(
            f"{export_dir} is not a model directory written by `retrain export`",
            "run the export stage (dvc repro export)",
        )
    actual = sha256_file(skops)
    expected = recorded.read_text(encoding="utf-8").split()[0] if recorded.stat().st_size else ""
    if actual != expected:
        raise UserError(
            f"{skops} has sha256 {actual[:12]}…, but the export recorded {expected[:12]}…",
            "re-run the export stage; never edit exported models by hand",
        )
    return actual


def version_tags(
    gate: dict[str, Any],
    search: dict[str, Any],
    sha256: str,
    *,
    git_commit: str,
    data_hash: str,
    params_hash: str,
) -> dict[str, str]:
    """The lineage and verdict a registered version carries (all values strings)."""
    from retrain.registry import NO_VERSION

    window = gate.get("test_window") or {}
    tags = {
        "git_commit": git_commit,
        "data_hash": data_hash,
        "params_hash": params_hash,
        "run_id": str(search.get("mlflow_run_id") or ""),
        "sha256": sha256,
        "baseline_version": str(gate.get("champion_version") or NO_VERSION),
        "train_start": str(search.get("train_start") or ""),
        "train_end": str(search.get("train_end") or ""),
        "test_start": str(window.get("start") or ""),
        "test_end": str(window.get("end") or ""),
        "primary_metric": str(search.get("primary_metric") or ""),
        "gate_mode": str(gate.get("mode")),
        "gate_checks_passed": str(bool(gate.get("checks_passed", gate.get("blessed")))).lower(),
        "first_model": str(bool(gate.get("first_model"))).lower(),
    }
    for name, value in (gate.get("candidate") or {}).items():
        if value is not None:
            tags[f"metric.{name}"] = f"{float(value):.6g}"
    return tags


def push(
    export_dir: Path,
    gate: dict[str, Any],
    search: dict[str, Any],
    *,
    model: str,
    experiment: str,
    lineage: dict[str, str],
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    """Register (if blessed) and return the registry.json content."""
    from retrain.registry import CHALLENGER, Registry

    if gate.get("model", model) != model:
        raise UserError(
            f"gate.json is for model {gate.get('model')!r}, params say {model!r}",
            "re-run the gate stage",
        )
    baseline = gate.get("champion_version")
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "model": model,
        "version": None,
        "model_uri": None,
        "sha256": gate.get("candidate_sha256"),
        "baseline_version": None if baseline is None else str(baseline),
        "run_id": search.get("mlflow_run_id"),
        "blessed": bool(gate.get("blessed")),
    }
    if not record["blessed"]:
        return record
    sha256 = _export_sha256(Path(export_dir))
    if gate.get("candidate_sha256") and gate["candidate_sha256"] != sha256:
        raise UserError(
            f"the exported model (sha256 {sha256[:12]}…) is not the one the gate blessed "
            f"({str(gate['candidate_sha256'])[:12]}…)",
            "re-run gate and export from the same build/train/model.skops (dvc repro)",
        )
    tags = version_tags(gate, search, sha256, **lineage)
    registry = Registry(tracking_uri)
    ref, created = registry.register(model, Path(export_dir), tags, experiment=experiment)
    champion = registry.champion(model)
    # A re-run after the merge must not mark the production model as awaiting review again.
    if champion is None or champion.version != ref.version:
        registry.set_alias(model, CHALLENGER, ref.version)
    record.update(version=ref.version, model_uri=ref.uri, sha256=sha256)
    record["created"] = created
    return record


def cli(argv: list[str]) -> int:
    from retrain import lineage, logs
    from retrain.config import load_params, params_hash
    from retrain.stages.gate import read_json, write_json_atomic

    parser = argparse.ArgumentParser(prog="retrain push", description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="build/export/model")
    parser.add_argument("--gate", type=Path, required=True, help="metrics/gate.json")
    parser.add_argument("--search", type=Path, required=True, help="build/train/search.json")
    parser.add_argument("--out", type=Path, required=True, help="registry.json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    gate = read_json(args.gate, "gate result", "run the gate stage (dvc repro gate)")
    search = read_json(args.search, "search result", "run the train stage (dvc repro train)")
    record = push(
        args.export,
        gate,
        search,
        model=params.base.model_name,
        experiment=params.registry.experiment,
        lineage={
            "git_commit": lineage.git_commit(),
            "data_hash": lineage.data_hash(),
            "params_hash": params_hash(params),
        },
    )
    created = record.pop("created", None)
    write_json_atomic(args.out, record)
    if record["version"] is None:
        log.info("not blessed (%s): nothing registered", gate.get("summary", "see gate.json"))
    else:
        log.info(
            "%s %s version %s as challenger (baseline %s)",
            "registered" if created else "already registered:",
            record["model"],
            record["version"],
            record["baseline_version"] or "none",
        )
    return 0
