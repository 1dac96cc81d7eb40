"""CODEOWNERS: the gate's rules, the pipeline and the workflows need an owner's review."""

from __future__ import annotations

import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _owners(path: str) -> list[str]:
    """GitHub's rule: the LAST matching pattern wins (anchored patterns, `dir/` = everything
    under it)."""
    found: list[str] = []
    for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *owners = line.split()
        pattern = pattern.lstrip("/")
        if pattern.endswith("/"):
            hit = path.startswith(pattern)
        else:
            hit = fnmatch.fnmatchcase(path, pattern)
        if hit:
            found = owners
    return found


def test_safety_relevant_files_need_an_owner() -> None:
    for path in ("params.yaml", "dvc.yaml", ".github/workflows/retrain.yml", ".github/CODEOWNERS"):
        owners = _owners(path)
        assert owners and all(o.startswith("@") for o in owners), path


def test_ordinary_code_needs_no_owner() -> None:
    assert _owners("src/retrain/report.py") == []
    assert _owners("README.md") == []
