"""Push: register a blessed candidate as the challenger and build its registry.json record."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from retrain.artifacts import GateVerdict, RegistryRecord, SearchSummary, VersionTags
from retrain.errors import UserError

if TYPE_CHECKING:
    from retrain.registry import Registry


def version_tags(
    gate: GateVerdict,
    search: SearchSummary,
    sha256: str,
    *,
    git_commit: str | None,
    data_hash: str | None,
    params_hash: str | None,
    split: str | None = None,
    test_size: float | None = None,
) -> VersionTags:
    """The lineage and verdict a registered version carries."""
    window = gate.test_window
    return VersionTags(
        git_commit=git_commit,
        data_hash=data_hash,
        params_hash=params_hash,
        run_id=search.mlflow_run_id,
        sha256=sha256,
        baseline_version=gate.champion_version,
        train_start=search.train_start,
        train_end=search.train_end,
        test_start=window.start if window else None,
        test_end=window.end if window else None,
        primary_metric=search.primary_metric,
        split=split,
        test_size=test_size if split == "hash" else None,
        gate_mode=gate.mode,
        gate_checks_passed=gate.checks_passed,
        first_model=gate.first_model,
        metrics=gate.candidate,
    )


def push(
    export_dir: Path,
    gate: GateVerdict,
    search: SearchSummary,
    *,
    model: str,
    experiment: str,
    lineage: dict[str, str | None],
    registry: Registry | None = None,
    split: tuple[str, float] | None = None,
) -> tuple[RegistryRecord, bool]:
    """Register (if blessed); return the registry.json record and whether a version was
    created (False: not blessed, or that version already existed)."""
    from retrain.registry import CHALLENGER, connect, exported_sha256

    if gate.model is not None and gate.model != model:
        raise UserError(
            f"gate.json is for model {gate.model!r}, params say {model!r}",
            "re-run the gate stage",
        )
    record = RegistryRecord(
        model=model,
        sha256=gate.candidate_sha256,
        baseline_version=gate.champion_version,
        run_id=search.mlflow_run_id,
        blessed=gate.blessed,
    )
    if not record.blessed:
        return record, False
    sha256 = exported_sha256(Path(export_dir))
    if gate.candidate_sha256 and gate.candidate_sha256 != sha256:
        raise UserError(
            f"the exported model (sha256 {sha256[:12]}…) is not the one the gate blessed "
            f"({gate.candidate_sha256[:12]}…)",
            "re-run gate and export from the same build/train/model.skops (dvc repro)",
        )
    mode, test_size = split if split is not None else (None, None)
    tags = version_tags(gate, search, sha256, **lineage, split=mode, test_size=test_size).to_tags()
    registry = registry or connect()
    ref, created = registry.register(model, Path(export_dir), tags, experiment=experiment)
    champion = registry.champion(model)
    # A re-run after the merge must not mark the production model as awaiting review again.
    if champion is None or champion.version != ref.version:
        registry.set_alias(model, CHALLENGER, ref.version)
    record = record.model_copy(
        update={"version": ref.version, "model_uri": ref.uri, "sha256": sha256}
    )
    return record, created
