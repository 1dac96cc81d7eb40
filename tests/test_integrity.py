"""Data integrity against a real DVC remote: a corrupted remote object fails the pull (remote
`verify = true`) and, whatever the remote's settings, `retrain verify-data` afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retrain.cli import main
from retrain.integrity import check

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
DVC = [sys.executable, "-m", "dvc"]

# ~10 dvc start-ups: ~25 s alone, minutes on a loaded machine
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(cmd: list[str], cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def _remote_object(remote: Path, md5: str) -> Path:
    return remote / "files" / "md5" / md5[:2] / md5[2:]


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A repo whose stage writes a directory and a file output, pushed to a local remote that
    has `verify = true` in the committed .dvc/config (config written directly: fewer dvc
    start-ups)."""
    base = tmp_path_factory.mktemp("dvc")
    remote, repo = base / "remote", base / "repo"
    repo.mkdir()
    _run(["git", "init", "-q", "-b", "main"], repo)
    _run([*DVC, "init", "-q"], repo)
    (repo / ".dvc" / "config").write_text(
        "[core]\n    analytics = false\n    remote = store\n"
        f"['remote \"store\"']\n    url = {remote}\n    verify = true\n"
    )
    (repo / "src").mkdir()
    (repo / "src" / "flights.csv").write_text("id,delay\n1,5\n2,40\n")
    (repo / "src" / "planes.csv").write_text("tail,seats\nN1,100\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    cmd: cp -r src data && cp src/flights.csv train.csv\n"
        "    deps: [src]\n    outs: [data, train.csv]\n"
    )
    _run([*DVC, "repro", "-q"], repo)
    _run(["git", "add", "-A"], repo)
    _run([*GIT, "commit", "-q", "-m", "data"], repo)
    _run([*DVC, "push", "-q"], repo)
    return repo, remote


def test_intact_outputs_pass(pushed) -> None:
    repo, _ = pushed
    problems, skipped, verified = check(repo, repo / ".dvc" / "cache")
    assert problems == [] and skipped == [] and verified == 3


def test_corrupted_remote_object_fails_the_pull_and_the_check(
    pushed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    repo, remote = pushed
    # given bytes appended to the remote objects of a data file and of a stage output
    from retrain.integrity import file_md5

    for name in ("data/flights.csv", "train.csv"):
        obj = _remote_object(remote, file_md5(repo / name))
        obj.chmod(0o644)
        obj.write_bytes(obj.read_bytes() + b"9,999\n")
    try:
        # when a fresh clone pulls with the committed `verify = true`
        clone = tmp_path / "clone"
        _run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
        pulled = _run([*DVC, "pull"], clone, ok=False)
        # then the pull fails and the corrupted bytes never reach the workspace
        assert pulled.returncode != 0
        assert not (clone / "train.csv").exists()
        assert not (clone / "data" / "flights.csv").exists()

        # when a clone's remote does NOT verify (DVC's default), the pull succeeds...
        lax = tmp_path / "lax"
        _run(["git", "clone", "-q", str(repo), str(lax)], tmp_path)
        (lax / ".dvc" / "config.local").write_text("['remote \"store\"']\n    verify = false\n")
        assert _run([*DVC, "pull"], lax).returncode == 0
        assert (lax / "train.csv").read_text().endswith("9,999\n")  # corrupted, silently
        # ...but the explicit check after it fails, naming each corrupted file
        monkeypatch.chdir(lax)
        assert main(["verify-data"]) == 2
        err = capsys.readouterr().err
        assert "2 DVC-tracked file(s) differ from what the lock records" in err
        assert "data/flights.csv: md5" in err and "train.csv: md5" in err
        assert "verify true" in err
    finally:
        for name in ("data/flights.csv", "train.csv"):  # the module's remote, restored
            obj = _remote_object(remote, file_md5(repo / name))
            obj.write_bytes(obj.read_bytes()[: -len(b"9,999\n")])


def test_a_missing_extra_or_changed_file_in_a_directory_fails(pushed, tmp_path: Path) -> None:
    import shutil

    repo, _ = pushed
    work = tmp_path / "work"
    shutil.copytree(repo, work, symlinks=True)
    cache = repo / ".dvc" / "cache"
    (work / "data" / "planes.csv").unlink()
    (work / "data" / "extra.csv").write_text("x\n")
    problems, _, _ = check(work, cache)
    assert "data/planes.csv: missing (dvc.lock records it)" in problems
    assert "data/extra.csv: not in the recorded listing" in problems
    # a corrupted directory listing in the cache is named too
    listing = next((cache / "files" / "md5").rglob("*.dir"))
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    bad = copy / listing.relative_to(cache)
    bad.chmod(0o644)
    bad.write_text("[]")
    problems, _, _ = check(repo, copy)
    assert any("CORRUPTED: its listing" in p for p in problems)
