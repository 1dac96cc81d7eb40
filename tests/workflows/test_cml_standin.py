"""The CML stand-in enforces CML's command line and git behaviour (else the end-to-end test
could pass with calls the real `cml` would reject)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from workflows.local_runner import GIT_ID, git, install_cml_standin


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path)
    git("init", "-q", "-b", "main", cwd=work)
    (work / "a.txt").write_text("a\n")
    git("add", "-A", cwd=work)
    git(*GIT_ID, "commit", "-q", "-m", "init", cwd=work)
    git("remote", "add", "origin", str(origin), cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    install_cml_standin(tmp_path / "tools")
    monkeypatch.chdir(work)
    monkeypatch.setenv("CML_STANDIN_STATE", str(tmp_path / "state.json"))
    monkeypatch.setenv("REPO_TOKEN", "t")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    monkeypatch.setenv("GITHUB_REPOSITORY", "owner/repo")
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "dev")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "dev@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "dev")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "dev@example.com")
    return work


def cml(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tool = repo.parent / "tools" / "cml"
    return subprocess.run([str(tool), *args], capture_output=True, text=True)


def state(repo: Path) -> dict:
    return json.loads((repo.parent / "state.json").read_text())


def test_unknown_options_and_commands_fail_like_cml(repo: Path) -> None:
    bad = cml(repo, "pr", "create", "--branch", "b", "--labels", "x")
    assert bad.returncode == 1 and "Unknown argument: labels" in bad.stderr
    bad = cml(repo, "comment", "update", "--target=pr", "--sticky", "r.md")
    assert bad.returncode == 1 and "Unknown argument: sticky" in bad.stderr
    assert cml(repo, "send-comment", "r.md").returncode == 1
    assert "mutually exclusive" in cml(repo, "pr", "create", "--merge", "--squash").stderr


def test_no_token_no_call(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPO_TOKEN")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    out = cml(repo, "pr", "create", "--branch", "b")
    assert out.returncode == 1 and "repo_token is not set" in out.stderr


def test_pr_create_commits_once_then_returns_the_open_pr(repo: Path) -> None:
    (repo / "a.txt").write_text("b\n")
    first = cml(repo, "pr", "create", "--branch", "retrain/m", "--message", "m", "a.txt")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "https://github.com/owner/repo/pull/1"
    origin = repo.parent / "origin.git"
    assert git("log", "-1", "--format=%s", "retrain/m", cwd=origin) == "m"
    # the branch exists now: CML pushes nothing and answers with the same PR
    git("switch", "-q", "main", cwd=repo)
    again = cml(repo, "pr", "create", "--branch", "retrain/m", "--md")
    assert again.stdout.strip() == "[CML's Pull Request](https://github.com/owner/repo/pull/1)"
    assert len(state(repo)["prs"]) == 1


def test_comment_targets_and_sticky_update(repo: Path) -> None:
    (repo / "r.md").write_text("one ![p](p.png)\n")
    (repo / "p.png").write_bytes(b"\x89PNG")
    missing = cml(repo, "comment", "update", "--target=pr", "r.md")
    assert missing.returncode == 1 and "PR for commit sha" in missing.stderr
    assert "Not Found" in cml(repo, "comment", "update", "--target=pr/7", "r.md").stderr
    git("switch", "-q", "-c", "feature", cwd=repo)
    git("push", "-q", "origin", "feature", cwd=repo)
    assert cml(repo, "pr", "create", "--branch", "feature").returncode == 0
    for body in ("one ![p](p.png)\n", "two ![p](p.png)\n"):
        (repo / "r.md").write_text(body)
        done = cml(repo, "comment", "update", "--target=pr/1", "--watermark-title=w", "r.md")
        assert done.returncode == 0, done.stderr
    comments = state(repo)["comments"]
    assert len(comments) == 1
    assert comments[0]["body"] == "two ![p](p.png)\n" and comments[0]["updates"] == 1
    assert comments[0]["published"] == ["p.png"] and comments[0]["missing"] == []
