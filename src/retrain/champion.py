"""The champion as files: its identity (`champion.json`) and its sha256-verified artifact.

The registry is read by the champion stage only (`lookup_champion`): the gate itself is local
computation on files DVC tracks (`read_champion`), so it needs no registry credentials and no
`import mlflow`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.artifacts import ChampionInfo, VersionTags
from retrain.errors import UserError

if TYPE_CHECKING:
    from retrain.registry import Registry

CHAMPION_INFO = "champion.json"
CHAMPION_MODEL = "model.skops"
_RERUN_CHAMPION = "re-run the champion stage (dvc repro champion)"


def lookup_champion(model: str, out_dir: Path, registry: Registry) -> ChampionInfo:
    """Write the champion's identity and artifact into `out_dir`; return the identity.

    The artifact is downloaded (and verified against the registry's sha256 tag) only when the
    file there is not already that champion's, so an unchanged champion costs one query.
    On any failure the directory keeps its previous contents.
    """
    from retrain.model_io import sha256_file

    ref = registry.champion(model)
    info = ChampionInfo(
        model=model,
        version=None if ref is None else ref.version,
        sha256=None if ref is None else ref.sha256,
        **({} if ref is None else split_of(ref.tags)),
        registered={} if ref is None else registered_of(ref.tags),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    # The directory persists between runs (dvc.yaml `persist: true`): a download a killed run
    # left behind must not become part of the output.
    for stale in out_dir.glob(".download-*"):
        shutil.rmtree(stale, ignore_errors=True)
    target = out_dir / CHAMPION_MODEL
    if ref is not None and not (target.is_file() and sha256_file(target) == ref.sha256):
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".download-") as tmp:
            os.replace(registry.download_skops(ref, Path(tmp)), target)
    elif ref is None:
        target.unlink(missing_ok=True)
    info.write(out_dir / CHAMPION_INFO)
    return info


def split_of(tags: dict[str, str]) -> dict[str, Any]:
    """The champion's recorded split (`split`, `test_size`, `train_end` version tags)."""
    out: dict[str, Any] = {}
    if tags.get("split") in ("time", "hash"):
        out["split"] = tags["split"]
    if tags.get("test_size"):
        out["test_size"] = float(tags["test_size"])
    if tags.get("train_end"):
        out["train_end"] = tags["train_end"]
    return out


def registered_of(tags: dict[str, str]) -> dict[str, float]:
    """The metrics the champion was registered with (`metric.<name>` version tags)."""
    return VersionTags.from_tags(tags).known_metrics()


def champion_info(champion_dir: Path) -> ChampionInfo:
    """champion.json as the champion stage wrote it (call after read_champion)."""
    return ChampionInfo.read(champion_dir / CHAMPION_INFO, _RERUN_CHAMPION)


def read_champion(champion_dir: Path, model: str) -> tuple[Any | None, str | None, str | None]:
    """(pipeline, version, sha256) of the champion the champion stage wrote; Nones if none."""
    if not champion_dir.is_dir():
        raise UserError(
            f"--champion {champion_dir} is not the champion stage's directory", _RERUN_CHAMPION
        )
    info = ChampionInfo.read(champion_dir / CHAMPION_INFO, _RERUN_CHAMPION)
    if info.model != model:
        raise UserError(
            f"champion file names model {info.model!r}, params say {model!r}",
            _RERUN_CHAMPION,
        )
    if info.version is None:
        return None, None, None
    from retrain.model_io import load_model

    path = champion_dir / CHAMPION_MODEL
    if not path.is_file() or info.sha256 is None:
        raise UserError(
            f"champion v{info.version} has no verified artifact in {champion_dir}",
            _RERUN_CHAMPION,
        )
    return load_model(path, expected_sha256=info.sha256), info.version, info.sha256
