"""`retrain data`: a fresh clone with no DVC remote rebuilds data/ so `dvc status` is clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from retrain.data import FILES, ensure, md5, package_data_dir, rebuild
from retrain.errors import UserError


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    written = rebuild(tmp_path / "data")
    assert sorted(p.name for p in written) == sorted(FILES)
    for name in FILES:
        assert md5(tmp_path / "data" / name) == md5(package_data_dir() / name)
    assert rebuild(tmp_path / "data") == []  # second run copies nothing


def test_rebuild_repairs_a_changed_file(tmp_path: Path) -> None:
    rebuild(tmp_path / "data")
    (tmp_path / "data" / "planes.csv").write_text("tampered\n")
    assert [p.name for p in rebuild(tmp_path / "data")] == ["planes.csv"]


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)


@pytest.mark.integration
def test_fresh_clone_rebuilds_data_and_dvc_status_is_clean(
    project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clone has data.dvc but neither data/ nor a DVC cache.
    repo = tmp_path / "clone"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run(["dvc", "init", "-q"], repo)
    shutil.copy(project_root / "data.dvc", repo / "data.dvc")
    monkeypatch.chdir(repo)
    ensure(Path("data"), Path("data.dvc"))
    status = _run(["dvc", "status", "--json", "data.dvc"], repo)
    assert status.stdout.strip() == "{}"
    assert (repo / "data.dvc").read_text() == (project_root / "data.dvc").read_text()


@pytest.mark.integration
def test_mismatch_with_data_dvc_is_an_error_and_data_dvc_untouched(
    project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "clone"
    repo.mkdir()
    _run(["git", "init", "-q"], repo)
    _run(["dvc", "init", "-q"], repo)
    original = (project_root / "data.dvc").read_text()
    (repo / "data.dvc").write_text(original.replace("114536280611ae61bec4c2bf2226b17b", "0" * 32))
    _run(["git", "add", "-A"], repo)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], repo)
    before = (repo / "data.dvc").read_text()
    monkeypatch.chdir(repo)
    with pytest.raises(UserError, match="does not match data.dvc"):
        ensure(Path("data"), Path("data.dvc"))
    assert (repo / "data.dvc").read_text() == before


def test_data_is_left_alone_when_the_source_is_your_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain.cli import main

    # given params for the user's own table and their file in data/
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.csv").write_text("x,y\n1,2\n")
    (tmp_path / "params.yaml").write_text(
        "extract: {source: table, table: {path: data/mine.csv}}\n"
    )
    # when `retrain data` runs (as `make pipeline` does first)
    assert main(["data"]) == 0
    # then no flights file is written next to the user's table
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["mine.csv"]
    # and with the bundled source it rebuilds the flights tables
    (tmp_path / "params.yaml").write_text("extract: {source: feast}\n")
    assert main(["data", "--dvc-file", "none.dvc"]) == 0
    assert {p.name for p in (tmp_path / "data").iterdir()} == {"mine.csv", *FILES}
