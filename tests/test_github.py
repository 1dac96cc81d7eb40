"""`retrain github`: one PR per model found by head branch AND head repository across every page,
its title and body rewritten for each new candidate, and one report comment per marker, written
by the bot only. Against a stand-in that enforces GitHub's REST contract
(tests/workflows/github_api.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrain.errors import UserError
from retrain.github import (
    Api,
    comment_body,
    link_images,
    marker_line,
    next_link,
    upsert_comment,
    upsert_pr,
)
from workflows.github_api import GitHubApi
from workflows.local_runner import GIT_ID, git

SRC = Path(__file__).resolve().parents[1] / "src"
HEAD = "retrain/flight-delay"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubApi]:
    """owner/repo with branches main and retrain/flight-delay."""
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "a.txt").write_text("a\n")
    git("add", "-A", cwd=work)
    git(*GIT_ID, "commit", "-q", "-m", "init", cwd=work)
    git("branch", HEAD, cwd=work)
    origin = tmp_path / "origin.git"
    git("clone", "-q", "--bare", str(work), str(origin), cwd=tmp_path)
    with GitHubApi(origin=origin) as standin:
        yield standin


def api(github: GitHubApi, token: str = "bot-token") -> Api:
    return Api(github.url, github.repository, token, retries=0)


def test_creates_once_then_updates_title_and_body(github: GitHubApi) -> None:
    first = upsert_pr(api(github), HEAD, "main", "retrain: flight-delay v3", "Merging promotes v3.")
    assert first.created and first.number == 1
    second = upsert_pr(
        api(github), HEAD, "main", "retrain: flight-delay v4", "Merging promotes v4."
    )
    assert not second.created and second.number == first.number
    [pr] = github.open_prs(HEAD)
    assert (pr["title"], pr["body"]) == ("retrain: flight-delay v4", "Merging promotes v4.")
    assert pr["user"]["login"] == "retrain-bot" and pr["edits"] == 1


def test_a_fork_branch_of_the_same_name_is_never_touched(github: GitHubApi) -> None:
    fork = github.add_fork_pr("mallory/repo", HEAD, title="fork: flight-delay")
    done = upsert_pr(api(github), HEAD, "main", "retrain: flight-delay v1", "body")
    assert done.created and done.number != fork["number"]
    assert fork["title"] == "fork: flight-delay" and fork["edits"] == 0
    assert len(github.open_prs(HEAD)) == 1


def test_found_behind_more_than_thirty_newer_prs(github: GitHubApi) -> None:
    """CML 0.20.4 read only the first page of 30: with more, it created a duplicate."""
    upsert_pr(api(github), HEAD, "main", "v1", "b")
    for i in range(40):
        github.add_other_pr(f"feature-{i}")
    for i in range(3):  # forks' namesakes are newer still
        github.add_fork_pr(f"fork{i}/repo", HEAD)
    again = upsert_pr(api(github), HEAD, "main", "v2", "b")
    assert not again.created and again.number == 1
    assert len(github.open_prs(HEAD)) == 1


def test_paging_follows_link_headers_past_one_hundred(github: GitHubApi) -> None:
    upsert_pr(api(github), HEAD, "main", "v1", "b")
    for i in range(130):
        github.add_comment(1, "someone", f"comment {i}")
    items = api(github).pages("/issues/1/comments", {})
    assert len(items) == 130
    get = [r for r in github.requests if r[0] == "GET" and "/comments" in r[1]]
    assert len(get) == 2  # two pages of 100


def test_one_comment_per_marker_and_only_the_bots(github: GitHubApi) -> None:
    upsert_pr(api(github), HEAD, "main", "v1", "b")
    # Someone quotes the report (marker included): CML would have updated the newest one.
    github.add_comment(1, "reviewer", f"quoting\n{marker_line('report-flight-delay')}")
    ident, created = upsert_comment(api(github), 1, "report-flight-delay", "one", None, None)
    assert created
    again, created = upsert_comment(api(github), 1, "report-flight-delay", "two", None, None)
    assert (again, created) == (ident, False)
    mine = [c for c in github.comments if c["user"]["login"] == "retrain-bot"]
    assert len(mine) == 1 and mine[0]["body"].startswith("two") and mine[0]["updates"] == 1
    theirs = [c for c in github.comments if c["user"]["login"] == "reviewer"]
    assert theirs[0]["body"].startswith("quoting")


def test_images_become_links_to_the_run_and_long_bodies_fit() -> None:
    text = "![roc](plot-roc.png) and ![ext](https://example.com/x.png)"
    linked = link_images(text, "https://github.com/o/r/actions/runs/1")
    assert "![roc]" not in linked and "(https://github.com/o/r/actions/runs/1)" in linked
    assert "![ext](https://example.com/x.png)" in linked  # absolute URLs left as they are
    assert (
        link_images("![](plot-roc.png)", None)
        == "_plot-roc.png (plot in the run's report artifact)_"
    )
    body = comment_body("x" * 70_000, "m", None)
    assert len(body) <= 65_536 and body.endswith(marker_line("m") + "\n")


def test_refusals_are_user_errors(github: GitHubApi) -> None:
    with pytest.raises(UserError, match="HTTP 401"):
        upsert_pr(api(github, token="wrong"), HEAD, "main", "t", "b")
    with pytest.raises(UserError, match="HTTP 422"):  # the head branch was never pushed
        upsert_pr(api(github), "retrain/other-model", "main", "t", "b")
    with pytest.raises(UserError, match="not a branch name"):
        upsert_pr(api(github), "x y", "main", "t", "b")
    with pytest.raises(UserError, match="plain http"):
        Api("http://api.example.com", "owner/repo", "t")
    with pytest.raises(UserError, match="owner/name"):
        Api("https://api.github.com", "owner/../x", "t")
    assert github.pulls == []


def test_next_link_parses_rfc8288() -> None:
    link = '<https://a/x?page=3>; rel="prev", <https://a/x?page=5>; rel="next"'
    assert next_link(link) == "https://a/x?page=5"
    assert next_link('<https://a/x?page=1>; rel="first"') is None
    assert next_link("") is None


def test_runs_with_the_standard_library_alone(github: GitHubApi, tmp_path: Path) -> None:
    """The publish job runs it with a bare Python: no site-packages, no project install."""
    body = tmp_path / "body.md"
    body.write_text("Merging promotes v1.")
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "REPO_TOKEN": "bot-token"}
    args = ["--repo", github.repository, "--api-url", github.url, "--token-env", "REPO_TOKEN"]
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "retrain.github", *args, "--github-output", str(out),
         "pr", "--head", HEAD, "--base", "main", "--title", "retrain: v1", "--body-file", str(body)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "pull request #1 created" in proc.stdout
    assert out.read_text() == "number=1\nurl=https://github.com/owner/repo/pull/1\n"
    env.pop("REPO_TOKEN")
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "retrain.github", *args,
         "pr", "--head", HEAD, "--base", "main", "--title", "t", "--body-file", str(body)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "REPO_TOKEN is empty or not set" in proc.stderr
    assert "bot-token" not in proc.stderr + proc.stdout
    assert os.environ.get("REPO_TOKEN") is None
