"""`retrain check-remote`: no retrain without a DVC remote, and no PR naming outputs that are
not in it (real dvc, a local remote)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retrain.cli import main
from retrain.dvcremote import check_pushed, not_in_remote, require_remote
from retrain.errors import UserError

DVC = [sys.executable, "-m", "dvc"]


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_only_outputs_present_in_the_remote_pass() -> None:
    # given `dvc status --cloud --json` entries of each kind
    status = {"b.txt": "new", "d": "missing", "c.csv": "deleted", "e": "modified"}
    # then new/missing/unknown states are named, deleted (in the remote only) is fine
    assert not_in_remote(status) == [
        "b.txt (new: only in this run's cache)",
        "d (missing: in no cache and no remote)",
        "e (modified)",
    ]
    assert not_in_remote({}) == []
    assert not_in_remote({"c.csv": "deleted"}) == []


def _dvc_repo(root: Path) -> Path:
    root.mkdir()
    _run(["git", "init", "-q", "-b", "main"], root)
    _run([*DVC, "init", "-q"], root)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git+DVC repository whose stage wrote a file and a directory output, no remote."""
    root = _dvc_repo(tmp_path / "repo")
    (root / "a.txt").write_text("a\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: cp a.txt b.txt && mkdir -p d && cp a.txt d/x\n"
        "    deps: [a.txt]\n    outs: [b.txt, d]\n"
    )
    _run([*DVC, "repro", "-q"], root)
    return root


@pytest.mark.integration
def test_no_remote_stops_the_retrain_before_any_work(tmp_path: Path, capsys) -> None:
    # given a repository with no default DVC remote
    repo = _dvc_repo(tmp_path / "repo")
    # when the workflow's check runs
    code = main(["check-remote", "--root", str(repo), "--annotate"])
    # then it refuses with a GitHub error annotation naming the secret to set
    out, err = capsys.readouterr()
    assert code == 2
    assert out.startswith("::error::no DVC remote is configured")
    assert "DVC_REMOTE_URL" in out and "dvc.lock" in out
    assert "no DVC remote is configured" in err and "Traceback" not in err
    with pytest.raises(UserError, match="no DVC remote"):
        check_pushed(repo)  # and the publishing check refuses too


@pytest.mark.integration
@pytest.mark.slow  # ~6 dvc start-ups
def test_outputs_must_be_pushed_before_publishing(repo: Path, tmp_path: Path) -> None:
    # given a default remote that does not hold the outputs yet
    remote = tmp_path / "remote"
    _run([*DVC, "remote", "add", "--local", "-d", "ci", str(remote)], repo)
    assert require_remote(repo) == "ci"
    # when the publishing check runs before `dvc push`: both outputs are named
    with pytest.raises(UserError) as refused:
        check_pushed(repo)
    assert "b.txt (new" in refused.value.message and "d (new" in refused.value.message
    assert "dvc push" in (refused.value.hint or "")
    # when they are pushed: accepted
    _run([*DVC, "push", "-q"], repo)
    assert check_pushed(repo) == "ci"
    # when the remote loses one object of the directory: refused again, naming it
    objects = sorted(p for p in (remote / "files" / "md5").rglob("*") if p.is_file())
    directory_listing = next(p for p in objects if p.name.endswith(".dir"))
    directory_listing.unlink()
    with pytest.raises(UserError, match=r"1 output\(s\).*\bd \(new"):
        check_pushed(repo)
