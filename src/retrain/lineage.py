"""Where a model came from: git commit, data hash (dvc.lock / data.dvc) and params hash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml


def git_commit(root: Path | None = None) -> str:
    """HEAD commit, suffixed `-dirty` when tracked files differ; `unknown` outside git."""
    cwd = root or Path.cwd()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def data_hash(root: Path | None = None) -> str:
    """The md5 DVC records for data/ (data.dvc), i.e. the raw data the pipeline read."""
    root = root or Path.cwd()
    dvc_file = root / "data.dvc"
    if dvc_file.is_file():
        outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or []
        if outs and outs[0].get("md5"):
            return str(outs[0]["md5"])
    return "unknown"
