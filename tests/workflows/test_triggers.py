"""Which of our workflows GitHub starts, by its documented rules (triggers.py), for the events
of the loop: the bot's PR, and each way a team can land it on main (merge commit, squash,
rebase) and undo it (GitHub's Revert button, itself merged each way). The commits are made
with real git, with the message retrain.yml writes and GitHub's merge/squash/revert messages;
promote.yml must start exactly once for every landing and every revert."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workflows.helpers import WORKFLOWS, load_workflow
from workflows.local_runner import GIT_ID, condition, git
from workflows.triggers import Event, glob_regex, matches, skipped_by_message, started

MODEL = "flight-delay"
BRANCH = f"retrain/{MODEL}"


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict]:
    return {p.name: load_workflow(p.name) for p in sorted(WORKFLOWS.glob("*.yml"))}


def bot_message(version: int) -> str:
    """The candidate commit's message exactly as retrain.yml's build job writes it."""
    script = load_workflow("retrain.yml")["jobs"]["build"]["steps"]
    text = next(s["run"] for s in script if "git commit" in s.get("run", ""))
    template = re.search(r'git commit --quiet --message "([^"]+)"', text)
    assert template, "retrain.yml no longer commits with --message"
    return template.group(1).replace("$MODEL", MODEL).replace("$VERSION", str(version))


def pr_title(version: int) -> str:
    return f"retrain: {MODEL} v{version} (champion v{version - 1}) window 2013-03-25..2013-04-01"


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git(*GIT_ID, "commit", "-q", "--cleanup=verbatim", "-m", message, cwd=repo)


def push_event(repo: Path, before: str) -> Event:
    after = git("rev-parse", "HEAD", cwd=repo)
    log = git("log", "--format=%B%x00", f"{before}..{after}", cwd=repo)
    messages = tuple(m.strip("\n") for m in log.split("\0") if m.strip())
    changed = git("diff", "--name-only", before, after, cwd=repo).splitlines()
    return Event("push", ref="refs/heads/main", messages=messages, changed=frozenset(changed))


def land(repo: Path, branch: str, method: str, title: str, body: str, number: int) -> str:
    """Merge `branch` into main as GitHub's merge button does; returns the landed head."""
    git("switch", "-q", "main", cwd=repo)
    if method == "merge":
        message = f"Merge pull request #{number} from owner/{branch}\n\n{title}"
        git(*GIT_ID, "merge", "-q", "--no-ff", "-m", message, branch, cwd=repo)
    elif method.startswith("squash"):
        git("merge", "-q", "--squash", branch, cwd=repo)
        commits = git("log", "--format=* %B", f"main..{branch}", cwd=repo)
        message = {  # the three "default commit message" settings for squash merging
            "squash-commits": f"{title} (#{number})\n\n{commits}",
            "squash-title": f"{title} (#{number})",
            "squash-description": f"{title} (#{number})\n\n{body}",
        }[method]
        git(*GIT_ID, "commit", "-q", "--cleanup=verbatim", "-m", message, cwd=repo)
    elif method == "rebase":
        for sha in git("rev-list", "--reverse", f"main..{branch}", cwd=repo).splitlines():
            git(*GIT_ID, "cherry-pick", sha, cwd=repo)
    else:
        raise AssertionError(method)
    return git("rev-parse", "HEAD", cwd=repo)


METHODS = ["merge", "squash-commits", "squash-title", "squash-description", "rebase"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("revert_method", ["merge", "squash-title", "rebase"])
def test_every_merge_method_and_the_revert_button_start_promote_once(
    workflows: dict, tmp_path: Path, method: str, revert_method: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "params.yaml").write_text("a: 1\n")
    (repo / "README.md").write_text("x\n")
    commit_all(repo, "project")

    # retrain.yml's build job: the candidate commit on retrain/<model>.
    git("switch", "-q", "-c", BRANCH, cwd=repo)
    (repo / "registry.json").write_text('{"version": "1"}\n')
    (repo / "dvc.lock").write_text("x: 1\n")
    (repo / "metrics").mkdir()
    (repo / "metrics" / "test.json").write_text("{}\n")
    commit_all(repo, bot_message(1))
    body = "Automated retrain of `flight-delay`. **Merging promotes v1 to champion**"

    # The bot's PAT opens the PR: the required checks start (ci.yml, pr.yml) ...
    opened = Event("pull_request", action="opened", messages=(bot_message(1),),
                   changed=frozenset({"registry.json", "dvc.lock", "metrics/test.json"}))  # fmt: skip
    assert started(workflows, opened) == ["ci.yml", "pr.yml"]

    # ... landing it on main starts promote.yml exactly once, whatever the method.
    before = git("rev-parse", "main", cwd=repo)
    land(repo, BRANCH, method, pr_title(1), body, number=1)
    landed = push_event(repo, before)
    assert "registry.json" in landed.changed
    assert started(workflows, landed).count("promote.yml") == 1, landed
    assert started(workflows, landed) == ["ci.yml", "promote.yml"]

    # GitHub's Revert button: a branch with `Revert "<subject>"`, a PR, merged in turn.
    subject = git("log", "-1", "--format=%s", cwd=repo)
    git("switch", "-q", "-c", "revert-1-retrain/flight-delay", cwd=repo)
    parents = git("rev-list", "--parents", "-n1", "HEAD", cwd=repo).split()
    revert_args = ["-m", "1"] if len(parents) > 2 else []
    if len(git("rev-list", f"{before}..main", cwd=repo).splitlines()) > 1 and not revert_args:
        # a rebase landed several commits: the button reverts them in one commit
        git("revert", "--no-commit", f"{before}..main", cwd=repo)
    else:
        git("revert", "--no-commit", *revert_args, "HEAD", cwd=repo)
    sha = git("rev-parse", "main", cwd=repo)
    commit_all(repo, f'Revert "{subject}"\n\nThis reverts commit {sha}.')
    before = git("rev-parse", "main", cwd=repo)
    land(repo, "revert-1-retrain/flight-delay", revert_method, f'Revert "{subject}"', "", 2)
    reverted = push_event(repo, before)
    assert not (repo / "registry.json").exists()
    assert started(workflows, reverted).count("promote.yml") == 1, reverted


def test_the_old_skip_marker_would_have_blocked_squash_and_revert(workflows: dict) -> None:
    """The simulator sees the bug issue 13 reported: `[skip ci]` reaching main."""
    squash = Event("push", messages=("retrain: flight-delay v1 [skip ci] (#1)",),
                   changed=frozenset({"registry.json"}))  # fmt: skip
    revert = Event("push", messages=('Revert "retrain: flight-delay v1 [skip ci] (#1)"',),
                   changed=frozenset({"registry.json"}))  # fmt: skip
    assert started(workflows, squash) == [] and started(workflows, revert) == []
    fine = Event("push", messages=("retrain: flight-delay v1 (#1)",),
                 changed=frozenset({"registry.json"}))  # fmt: skip
    assert started(workflows, fine) == ["ci.yml", "promote.yml"]


def test_github_token_events_start_nothing_but_dispatches(workflows: dict) -> None:
    push = Event("push", messages=("x",), changed=frozenset({"registry.json"}),
                 by_github_token=True)  # fmt: skip
    assert started(workflows, push) == []
    dispatch = Event("repository_dispatch", action="drift-detected", by_github_token=True)
    assert started(workflows, dispatch) == ["retrain.yml"]  # monitor.yml's GITHUB_TOKEN works
    assert started(workflows, Event("repository_dispatch", action="other")) == []
    pr = Event("pull_request", action="opened", messages=("x",), by_github_token=True)
    assert started(workflows, pr) == []  # why retrain PRs are opened with a PAT/App token


def test_other_pushes_and_pr_events(workflows: dict) -> None:
    docs = Event("push", messages=("docs",), changed=frozenset({"README.md"}))
    assert started(workflows, docs) == ["ci.yml"]  # promote.yml's paths filter
    feature = Event("push", ref="refs/heads/feature", messages=("x",),
                    changed=frozenset({"registry.json"}))  # fmt: skip
    assert started(workflows, feature) == []
    tag = Event("push", ref="refs/tags/v1", messages=("x",), changed=frozenset({"a"}))
    assert started(workflows, tag) == []  # branches-only filters never match a tag
    closed = Event("pull_request", action="closed", messages=("x",))
    assert started(workflows, closed) == []
    other_base = Event("pull_request", action="opened", base="dev", messages=("x",))
    assert started(workflows, other_base) == []
    marked = Event("pull_request", action="synchronize", messages=("wip [ci skip]",))
    assert started(workflows, marked) == []


def test_skip_markers_and_patterns_follow_the_docs() -> None:
    for marker in ("[skip ci]", "[ci skip]", "[no ci]", "[skip actions]", "[actions skip]"):
        assert skipped_by_message(f"fix {marker}")
    assert skipped_by_message("fix\n\n\nskip-checks: true")
    assert skipped_by_message("fix\n\nskip-checks:true")
    assert not skipped_by_message("skip-checks: true mentioned in a subject")
    assert not skipped_by_message("retrain: flight-delay v1")
    assert glob_regex("docs/*").match("docs/a.md") and not glob_regex("docs/*").match("docs/a/b")
    assert glob_regex("docs/**").match("docs/a/b.md")
    assert matches(["**.py", "!tests/**"], "src/a.py")
    assert not matches(["**.py", "!tests/**"], "tests/a.py")


def test_bot_prs_skip_only_the_pipeline_by_an_explicit_condition(workflows: dict) -> None:
    """pr.yml's pipeline job is skipped for this repository's retrain/<model> PR (retrain.yml
    ran it) and runs for every other PR, including a fork's branch of the same name."""
    job = workflows["pr.yml"]["jobs"]["pipeline"]
    status = {"success": True, "failure": False, "always": True, "cancelled": False}

    def runs(head_ref: str, head_repo: str) -> bool:
        pr = {"head": {"ref": head_ref, "repo": {"full_name": head_repo}}}
        ctx = {"github": {"event": {"pull_request": pr}, "repository": "owner/repo"}}
        return condition(job["if"], ctx, status)

    assert not runs(BRANCH, "owner/repo")
    assert runs(BRANCH, "mallory/repo")
    assert runs("more-trials", "owner/repo")
    assert runs("Retrain-notes", "owner/repo")
    assert "skip" not in bot_message(3).lower() and "no ci" not in bot_message(3).lower()
