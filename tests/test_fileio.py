"""fileio readers against hostile files: oversized JSON, paths outside the allowed roots."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from retrain import fileio
from retrain.errors import UserError


def test_oversized_json_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "payload.json"
    with path.open("wb") as fh:  # sparse: 257 MiB on paper, nothing on disk
        fh.truncate(fileio.MAX_JSON_BYTES + 1024**2)
    started = time.perf_counter()
    with pytest.raises(UserError, match="JSON inputs may have at most"):
        fileio.read_json(path, "payload file", "pass the monitor's drift.json")
    assert time.perf_counter() - started < 0.5


def test_small_json_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text('{"a": 1}')
    assert fileio.read_json(path, "x", "y") == {"a": 1}


def test_confined_follows_symlinks_and_dotdot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(fileio.DATA_ROOTS_ENV, raising=False)
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "data").mkdir(parents=True)
    outside.mkdir()
    (outside / "f.csv").write_text("x\n")
    (project / "data" / "in.csv").write_text("x\n")
    (project / "data" / "link.csv").symlink_to(outside / "f.csv")
    (project / "data" / "dirlink").symlink_to(outside)
    roots = fileio.data_roots(project)

    assert fileio.confined(project / "data" / "in.csv", roots, "k") == project / "data" / "in.csv"
    for bad in ("data/link.csv", "data/dirlink/f.csv", "../outside/f.csv", "/etc/passwd"):
        with pytest.raises(UserError, match="k .* resolves outside the project"):
            fileio.confined(project / bad, roots, "k")

    monkeypatch.setenv(fileio.DATA_ROOTS_ENV, os.pathsep.join(["", str(outside)]))
    allowed = fileio.data_roots(project)
    assert fileio.confined(project / "data" / "link.csv", allowed, "k") == outside / "f.csv"
