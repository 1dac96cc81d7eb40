"""A fresh clone + `dvc pull` from a real S3 remote (moto's server, started by `retrain.stack`)
leaves the whole pipeline up to date: every output under the git-ignored build/ comes back from
the remote, `dvc status` lists only the champion look-up (always_changed: the registry is outside
git) and `dvc repro` runs that one query and nothing after it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain.stack import Stack

from .test_pipeline_dvc import repo  # noqa: F401 - the fixture project (git + dvc repo)
from .test_pipeline_dvc import run as run_quick
from .test_train_pipeline_dvc import _small_search

pytestmark = [pytest.mark.integration, pytest.mark.slow]

pytest.importorskip("dvc_s3", reason="dvc-s3 missing: install the team extras (make sync-team)")
pytest.importorskip("moto", reason="moto missing: install the team extras (make sync-team)")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The fixture project's runner, with time for the whole pipeline on a loaded machine."""
    if args[:2] != ["dvc", "repro"]:
        return run_quick(args, cwd)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto's S3 server on a free 127.0.0.1 port, stopped by its pid afterwards."""
    stack = Stack(tmp_path / "stack")
    try:
        env = stack.up(s3_only=True)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            monkeypatch.setenv(key, env[key])
        yield env
    finally:
        stack.down()


def test_fresh_clone_after_dvc_pull_is_up_to_date(
    repo: Path,  # noqa: F811
    s3: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: the whole pipeline ran and was pushed to S3; both clones share one registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    _small_search(repo)
    run(["dvc", "add", "--quiet", "data"], repo)  # as in the project: data.dvc
    first = run(["dvc", "repro"], repo)
    assert "Running stage 'push'" in first.stdout, first.stdout
    run(["dvc", "remote", "add", "-d", "store", s3["DVC_REMOTE_URL"]], repo)
    run(["dvc", "remote", "modify", "store", "endpointurl", s3["AWS_ENDPOINT_URL"]], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "--quiet", "-m", "pipeline ran"], repo)
    run(["dvc", "push"], repo)

    # when: a fresh clone pulls
    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", str(repo), str(clone)], tmp_path)
    assert not (clone / "build").exists()
    before = json.loads(run(["dvc", "status", "--json"], clone).stdout)
    assert {"validate", "train", "gate"} <= set(before), before  # the check can fail
    run(["dvc", "pull"], clone)

    # then: every build/ output is back, byte for byte
    for name in (
        "validation/result.json",
        "validation/summary.md",
        "train/search.json",
        "train/leaderboard.json",
        "train/model.skops",
        "champion/champion.json",
    ):
        assert (clone / "build" / name).read_bytes() == (repo / "build" / name).read_bytes(), name
    # dvc status: nothing changed but the champion look-up, which always runs
    status = json.loads(run(["dvc", "status", "--json"], clone).stdout)
    assert status == {"champion": ["always changed"]}, status
    # dvc repro: the look-up finds the same champion; no other stage runs
    again = run(["dvc", "repro"], clone)
    ran = [line for line in again.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["Running stage 'champion':"], again.stdout
    assert "didn't change, skipping" in again.stdout
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == status
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
