"""Execute the jobs of retrain.yml, promote.yml, monitor.yml and pr.yml, in `needs` order, each
on a fresh clone, as hosted runners would (see local_runner.py): a real dispatch payload, the real
pipeline on a tiny data window with a small search budget, a real MLflow registry (sqlite), git
pushes to a local bare "origin" (GitHub's URL rewritten to it), GitHub's REST API (pull requests,
comments) by a stand-in that enforces its contract (github_api.py) and its dispatch endpoint by
another (tests/monitor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrain.github import comment_body
from workflows.github_api import GitHubApi
from workflows.helpers import ROOT, load_workflow
from workflows.local_runner import (
    GIT_ID,
    JobResult,
    checkout,
    fresh_checkouts,
    git,
    make_runner,
    seed_origin,
)

FIXTURES = ROOT / "tests" / "fixtures" / "workflows"
MODEL = "flight-delay"


def _iso(value: Any) -> Any:
    """Dates as quoted ISO strings: DVC cannot read YAML date values in params.yaml."""
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def tiny_params(text: str) -> str:
    """The project's params.yaml on one month (March 2013) with a small search budget and
    floors a tiny first model can meet (the gate's logic is tested in its own suite)."""
    params = _iso(yaml.safe_load(text))
    tz = "America/New_York"
    params["extract"]["window"] = {"start": "2013-03-01", "end": "2013-04-01", "timezone": tz}
    params["prepare"]["train_window"] = {"start": "2013-03-01", "end": "2013-03-22", "timezone": tz}
    params["prepare"]["test_window"] = {"start": "2013-03-22", "end": "2013-04-01", "timezone": tz}
    train = params.setdefault("train", {})
    train["budget"] = {"trials": 3, "seconds": 30}
    train["cv"] = {**train.get("cv", {}), "period": "week", "folds": 2}
    gate = params.setdefault("gate", {})
    gate["values"] = {"roc_auc": {"min": 0.5}}
    # 10 test days and two weekly CV folds are noisy: the test-vs-CV plausibility bound is
    # widened so chance cannot flag a tiny model "suspiciously good" (the ceiling, the gain
    # over the champion and the leakage screen keep their defaults).
    gate["suspicion"] = {"max_gain_over_cv": {"roc_auc": 0.2}}
    # The monitor compares the champion's March window with July and acts on the first signal
    # (March vs July temperatures alone exceed the PSI threshold).
    monitor = params.setdefault("monitor", {})
    monitor["current"] = {"start": "2013-07-01", "end": "2013-08-01", "timezone": tz}
    monitor["trigger"] = {**monitor.get("trigger", {}), "drift_share": 0.05, "persistence": 1}
    if isinstance(gate.get("bootstrap"), dict):
        gate["bootstrap"]["resamples"] = 100
    return yaml.safe_dump(params, sort_keys=False)


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare 'GitHub' repository holding the project as it is now (tiny params on main)."""
    base = tmp_path_factory.mktemp("gh")
    return seed_origin(ROOT, base, tiny_params((ROOT / "params.yaml").read_text()))


def describe(job: JobResult | dict[str, JobResult]) -> str:
    if isinstance(job, dict):
        return "\n".join(f"== {k}: {v.result}\n{describe(v)}" for k, v in job.items())
    lines = []
    for s in job.steps:
        lines.append(f"[{s.outcome}] {s.name} (rc={s.returncode})")
        if s.outcome == "failure":
            lines.append(s.stdout[-3000:])
            lines.append(s.stderr[-3000:])
    return "\n".join(lines)


def dispatch_event(**payload: str) -> dict:
    event = json.loads((FIXTURES / "repository_dispatch.json").read_text())
    event["repository"]["fork"] = False  # the team's own repository
    event["client_payload"].update(payload)
    return event


def retrain(origin: Path, base: Path, secrets: dict, github: GitHubApi | None, event: dict):
    """retrain.yml, all jobs, each on a fresh clone of `origin` at main."""
    base.mkdir()
    sha = git("rev-parse", "main", cwd=origin)
    runner = make_runner(base / "unused", sha, "repository_dispatch", event, secrets, base,
                         origin=origin)  # fmt: skip
    if github is not None:
        runner.extra_env["GITHUB_API_URL"] = github.url
    jobs = runner.run_workflow(load_workflow("retrain.yml"), fresh_checkouts(origin, base))
    return runner, jobs


RUN_URL = "https://github.com/owner/repo/actions/runs/4242"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("reason", "$(touch {marker})"),
        ("reason", "`touch {marker}`"),
        ("model", "flight-delay; touch {marker}"),
        ("detector", "x && touch {marker}"),
    ],
)
def test_an_injection_payload_runs_nothing(
    origin: Path, tmp_path: Path, field_name: str, value: str
) -> None:
    marker = tmp_path / "pwned"
    event = dispatch_event(**{field_name: value.format(marker=marker)})
    secrets = {"RETRAIN_BOT_TOKEN": "bot-token", "MLFLOW_TRACKING_URI": "sqlite:///x.db"}
    runner, jobs = retrain(origin, tmp_path / "run", secrets, None, event)
    job = jobs["build"]
    check = job.step("Validate the trigger")
    assert check.outcome == "failure" and check.returncode == 2, describe(jobs)
    assert "rejected" in check.stderr and field_name in check.stderr
    # nothing after the check ran: no data, no pipeline, no report, no PR (only the
    # `!cancelled()` upload of the report folder, which finds nothing to keep)
    after = job.steps[job.steps.index(check) + 1 :]
    ran = [s.name for s in after if s.outcome != "skipped"]
    assert ran == ["Keep the report"], describe(job)
    assert not any(runner.artifacts.iterdir())
    assert not marker.exists()
    assert jobs["publish"].result == "skipped"


@pytest.mark.integration
def test_without_secrets_each_workflow_says_so_and_does_nothing(
    origin: Path, tmp_path: Path
) -> None:
    """A newcomer's fork: no secrets at all. Each workflow stops at its first step with a
    notice and a green run, before installing anything."""
    fork = {"fork": True, "full_name": "newcomer/repo", "default_branch": "main"}
    sha = git("rev-parse", "main", cwd=origin)
    cases = [
        ("retrain.yml", "repository_dispatch", {**dispatch_event(), "repository": fork}),
        ("promote.yml", "push", {"ref": "refs/heads/main", "after": sha, "repository": fork}),
        ("monitor.yml", "schedule", {"schedule": "41 4 * * *"}),
    ]
    for name, event_name, event in cases:
        base = tmp_path / name
        base.mkdir()
        runner = make_runner(base / "unused", sha, event_name, event, {}, base, origin=origin)
        jobs = runner.run_workflow(load_workflow(name), fresh_checkouts(origin, base))
        assert not any(j.failed for j in jobs.values()), describe(jobs)
        notices = [a for j in jobs.values() for a in j.annotations]
        assert len(notices) == 1 and notices[0].startswith("::notice::not set up"), notices
        assert "MLFLOW_TRACKING_URI" in notices[0] or "RETRAIN_BOT_TOKEN" in notices[0]
        ran = [s.name for j in jobs.values() for s in j.steps if s.outcome != "skipped"]
        assert not any("Install" in n or "uv" in n for n in ran), (name, ran)
        assert not (runner.workdir / ".venv").exists()
    # The team's own repository without its token: an error naming it, before any work.
    base = tmp_path / "team"
    base.mkdir()
    runner = make_runner(base / "unused", sha, "repository_dispatch", dispatch_event(), {}, base,
                         origin=origin)  # fmt: skip
    jobs = runner.run_workflow(load_workflow("retrain.yml"), fresh_checkouts(origin, base))
    assert jobs["preflight"].failed and jobs["build"].result == "skipped"
    assert jobs["preflight"].annotations == [
        "::error::secret RETRAIN_BOT_TOKEN is not set: add it to the retrain-publish "
        "environment (docs/github.md)"
    ]


@pytest.mark.integration
def test_without_a_dvc_remote_retrain_stops_before_any_work_and_opens_no_pr(
    origin: Path, tmp_path: Path
) -> None:
    """A PR commits dvc.lock: with no remote to push its outputs to, no PR may be opened."""
    # given the team's registry and bot token, but no DVC_REMOTE_URL (and none in .dvc/config)
    secrets = {"RETRAIN_BOT_TOKEN": "bot-token", "MLFLOW_TRACKING_URI": "sqlite:///x.db"}
    with GitHubApi(origin=origin) as github:
        # when a dispatch starts retrain.yml
        runner, jobs = retrain(origin, tmp_path / "run", secrets, github, dispatch_event())
        # then the build stops at the data step with an error naming the secret, before the
        # data and the pipeline, and the publish job never runs
        build = jobs["build"]
        data = build.step("Get the data")
        assert data.outcome == "failure" and data.returncode == 2, describe(jobs)
        [error] = build.annotations
        assert error.startswith("::error::no DVC remote is configured")
        assert "DVC_REMOTE_URL" in error
        assert not (tmp_path / "run" / "job-build" / "checkout" / "data").exists()
        after = build.steps[build.steps.index(data) + 1 :]
        assert [s.name for s in after if s.outcome != "skipped"] == ["Keep the report"]
        assert jobs["publish"].result == "skipped"
        assert github.pulls == [] and github.comments == [] and github.requests == []
    assert not any(runner.artifacts.iterdir())


@pytest.mark.integration
def test_a_manual_run_with_two_search_workers_starts_one_matrix_leg_and_waits_for_it(
    origin: Path, tmp_path: Path
) -> None:
    # given a manual run asking for two search workers, and no DVC remote (so the worker's
    # data step fails the way a real misconfiguration would)
    secrets = {"RETRAIN_BOT_TOKEN": "bot-token", "MLFLOW_TRACKING_URI": "sqlite:///x.db"}
    base = tmp_path / "run"
    base.mkdir()
    sha = git("rev-parse", "main", cwd=origin)
    inputs = {"reason": "manual run", "window": "", "search_workers": "2"}
    event = {"inputs": inputs, "ref": "refs/heads/main", "repository": {"fork": False}}
    runner = make_runner(base / "unused", sha, "workflow_dispatch", event, secrets, base,
                         inputs=inputs, origin=origin)  # fmt: skip
    # when retrain.yml runs
    jobs = runner.run_workflow(load_workflow("retrain.yml"), fresh_checkouts(origin, base))
    # then the matrix has three legs; only worker 1 (< 2) runs its steps, and it stops at the
    # data step naming the missing secret
    legs = jobs["search"].legs
    assert [leg.matrix for leg in legs] == [{"worker": 1}, {"worker": 2}, {"worker": 3}]
    assert {s.outcome for leg in legs[1:] for s in leg.steps} == {"skipped"}, describe(legs[1])
    data = legs[0].step("Get the data")
    assert data.outcome == "failure" and data.returncode == 2, describe(legs[0])
    assert legs[0].step("Search").outcome == "skipped"
    assert [leg.result for leg in legs] == ["failure", "success", "success"]  # no fail-fast
    # and the build, which decides from every worker's trials, does not start on a failed search
    assert jobs["search"].result == "failure"
    assert jobs["build"].result == "skipped" and jobs["publish"].result == "skipped"


@pytest.mark.integration
@pytest.mark.slow
def test_retrain_pr_squash_merge_promotes_and_revert_rolls_back(
    origin: Path, tmp_path: Path
) -> None:
    registry_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    # a local directory as the DVC remote (retrain.yml refuses to run without one)
    secrets = {
        "MLFLOW_TRACKING_URI": registry_uri,
        "RETRAIN_BOT_TOKEN": "bot-token",
        "DVC_REMOTE_URL": str(tmp_path / "dvc-remote"),
    }
    event = dispatch_event()
    branch = f"retrain/{MODEL}"
    marker = f"retrain-report-{MODEL}"

    with GitHubApi(origin=origin) as github:
        # A fork's PR whose branch has the model branch's name: never touched.
        fork_pr = github.add_fork_pr("mallory/repo", branch, title="fork: retrain/flight-delay")

        # --- retrain: dispatch -> build (pipeline, blessed) -> publish (branch, PR, comment) ---
        runner, jobs = retrain(origin, tmp_path / "retrain", secrets, github, event)
        assert not any(j.failed for j in jobs.values()), describe(jobs)
        build = jobs["build"]
        assert build.outputs["blessed"] == "true", describe(build)
        assert build.outputs["version"] == "1"
        assert jobs["publish"].result == "success"

        heads = git("ls-remote", "--heads", str(origin), cwd=tmp_path)
        assert f"refs/heads/{branch}" in heads
        log = git("log", "--format=%s", "-1", branch, cwd=origin)
        assert log == f"retrain: {MODEL} v1"  # no skip marker
        committed = json.loads(git("show", f"{branch}:registry.json", cwd=origin))
        assert str(committed["version"]) == "1" and committed["blessed"] is True
        params = yaml.safe_load(git("show", f"{branch}:params.yaml", cwd=origin))
        window = event["client_payload"]["window"]
        assert str(params["prepare"]["test_window"]["start"]) == window["start"]
        assert str(params["prepare"]["test_window"]["end"]) == window["end"]

        [pr] = github.open_prs(branch)
        assert (pr["head"]["ref"], pr["base"]["ref"], pr["state"]) == (branch, "main", "open")
        assert pr["title"].startswith(f"retrain: {MODEL} v1")
        assert "Merging promotes v1 to champion" in pr["body"]
        assert pr["user"]["login"] == "retrain-bot"
        report = (runner.artifacts / "retrain-candidate" / "report" / "report.md").read_text()
        [comment] = github.comments
        assert comment["issue"] == pr["number"]
        assert comment["body"] == comment_body(report, marker, RUN_URL)
        assert "](plot-" not in comment["body"]  # images: links to the run, nothing uploaded
        assert "# Retrain report: `flight-delay` — blessed" in report
        assert "# Retrain report" in build.summary
        assert "`HEAD` has no metrics yet (first run)" in report  # main had no run before
        assert "| window | `2013-03-25` → `2013-04-01` |" in report
        assert (fork_pr["title"], fork_pr["edits"]) == ("fork: retrain/flight-delay", 0)

        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
        assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"

        # --- a newer candidate: force-pushed into the same PR, title and body rewritten ---------
        runner, jobs = retrain(origin, tmp_path / "retrain2", secrets, github, event)
        assert not any(j.failed for j in jobs.values()), describe(jobs)
        assert jobs["build"].outputs["version"] == "2", describe(jobs)
        [same] = github.open_prs(branch)
        assert same["number"] == pr["number"] and same["edits"] == 1
        assert same["title"].startswith(f"retrain: {MODEL} v2")
        assert "Merging promotes v2 to champion" in same["body"] and "v1" not in same["body"]
        assert json.loads(git("show", f"{branch}:registry.json", cwd=origin))["version"] in (2, "2")
        assert len(github.comments) == 1 and github.comments[0]["updates"] == 1
        assert (fork_pr["title"], fork_pr["edits"]) == ("fork: retrain/flight-delay", 0)
        title = same["title"]

    # --- review + squash merge: registry.json changes on main -> promote --------------------
    merge_dir = tmp_path / "merge"
    merge_dir.mkdir()
    reviewer, before = checkout(origin, merge_dir / "checkout")
    git("fetch", "-q", "origin", branch, cwd=reviewer)
    git("merge", "-q", "--squash", "FETCH_HEAD", cwd=reviewer)
    git(*GIT_ID, "commit", "-q", "-m", f"{title} (#{pr['number']})", cwd=reviewer)
    git("push", "-q", "origin", "main", cwd=reviewer)

    promote_dir = tmp_path / "promote"
    promote_dir.mkdir()
    merged = git("rev-parse", "main", cwd=origin)
    repo = {"fork": False, "full_name": "owner/repo", "default_branch": "main"}
    push_event = {"ref": "refs/heads/main", "before": before, "after": merged, "repository": repo}
    promote = make_runner(promote_dir / "unused", merged, "push", push_event, secrets, promote_dir)
    checkouts = fresh_checkouts(origin, promote_dir)
    jobs = promote.run_workflow(load_workflow("promote.yml"), checkouts)
    assert not jobs["promote"].failed, describe(jobs)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    summary = jobs["promote"].summary
    assert "Promotion of registry.json" in summary and "exit code: 0" in summary

    # re-running the promotion is a no-op
    again = promote.run_workflow(load_workflow("promote.yml"), checkouts)
    assert not again["promote"].failed, describe(again)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"

    # --- monitor.yml: the champion's window vs July drifts -> dispatch reaches "GitHub" -----
    from monitor.github_standin import GitHubStandin

    monitor_dir = tmp_path / "monitor"
    monitor_dir.mkdir()
    sha = git("rev-parse", "main", cwd=origin)
    schedule = {"schedule": "41 4 * * *"}
    with GitHubStandin(repository="owner/repo") as dispatch_api:
        watcher = make_runner(monitor_dir / "unused", sha, "schedule", schedule, secrets,
                              monitor_dir)  # fmt: skip
        watcher.github_token = dispatch_api.token  # the dispatch job's GITHUB_TOKEN
        watcher.extra_env["GITHUB_API_URL"] = dispatch_api.url
        jobs = watcher.run_workflow(
            load_workflow("monitor.yml"), fresh_checkouts(origin, monitor_dir)
        )
        assert not any(j.failed for j in jobs.values()), describe(jobs)
        assert jobs["monitor"].outputs["retrain"] == "true", describe(jobs)
        assert (watcher.artifacts / "drift-report" / "drift.json").is_file()
        assert jobs["dispatch"].result == "success"
        assert len(dispatch_api.accepted) == 1, dispatch_api.requests
    sent = dispatch_api.accepted[0]
    types = load_workflow("retrain.yml")["on"]["repository_dispatch"]["types"]
    assert sent["event_type"] in types
    assert sent["client_payload"]["model"] == MODEL
    assert sent["client_payload"]["window"] == {"start": "2013-07-01", "end": "2013-08-01"}

    # --- GitHub's Revert button on the squash commit: registry.json disappears --------------
    revert_dir = tmp_path / "revert"
    revert_dir.mkdir()
    reverter, before = checkout(origin, revert_dir / "checkout")
    git(*GIT_ID, "revert", "--no-edit", merged, cwd=reverter)
    assert not (reverter / "registry.json").exists()
    git("push", "-q", "origin", "main", cwd=reverter)
    reverted = git("rev-parse", "main", cwd=origin)
    push_event = {"ref": "refs/heads/main", "before": before, "after": reverted, "repository": repo}
    rollback = make_runner(revert_dir / "unused", reverted, "push", push_event, secrets, revert_dir)
    jobs = rollback.run_workflow(load_workflow("promote.yml"), fresh_checkouts(origin, revert_dir))
    assert not jobs["promote"].failed, describe(jobs)
    assert "champion v2 → none" in jobs["promote"].summary
    aliases = client.get_registered_model(MODEL).aliases
    assert "champion" not in aliases and str(aliases["previous"]) == "2"

    # --- a candidate the gate rejects: a report, but no PR and no registry write ----------
    strict_dir = tmp_path / "strict"
    strict_dir.mkdir()
    editor, _ = checkout(origin, strict_dir / "edit")
    params = yaml.safe_load((editor / "params.yaml").read_text())
    params["gate"]["values"] = {"roc_auc": {"min": 0.99}}  # no model of this data reaches it
    (editor / "params.yaml").write_text(yaml.safe_dump(_iso(params), sort_keys=False))
    git(*GIT_ID, "commit", "-q", "-am", "gate: demand AUC 0.99", cwd=editor)
    git("push", "-q", "origin", "main", cwd=editor)
    versions_before = len(client.search_model_versions(f"name='{MODEL}'"))
    with GitHubApi(origin=origin) as github:
        _, jobs = retrain(origin, strict_dir / "run", secrets, github, event)
        assert not any(j.failed for j in jobs.values()), describe(jobs)
        assert jobs["build"].outputs["blessed"] == "false", describe(jobs)
        assert jobs["publish"].result == "skipped"
        skipped = {s.name: s.outcome for s in jobs["build"].steps}
        assert skipped["Commit the candidate and bundle it for the publish job"] == "skipped"
        assert github.pulls == [] and github.comments == [] and github.requests == []
    assert "value.roc_auc.min" in jobs["build"].summary  # the failed check is in the summary
    assert len(client.search_model_versions(f"name='{MODEL}'")) == versions_before
    assert "champion" not in client.get_registered_model(MODEL).aliases


@pytest.mark.integration
@pytest.mark.slow
def test_pr_pipeline_reports_against_main_in_one_comment(origin: Path, tmp_path: Path) -> None:
    # A contributor's PR: more search trials. pr.yml's `pipeline` job (its `tests` job runs
    # `make test-fast`, i.e. this suite) runs the pipeline up to the gate; `comment` posts it.
    editor, _ = checkout(origin, tmp_path / "edit")
    git("switch", "-q", "-c", "more-trials", cwd=editor)
    params = yaml.safe_load((editor / "params.yaml").read_text())
    params["train"]["budget"]["trials"] = 4
    (editor / "params.yaml").write_text(yaml.safe_dump(_iso(params), sort_keys=False))
    git(*GIT_ID, "commit", "-q", "-am", "train: 4 trials", cwd=editor)
    git("push", "-q", "origin", "more-trials", cwd=editor)

    workdir, sha = checkout(origin, tmp_path / "checkout", ref="more-trials")
    secrets = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'registry.db'}"}
    workflow = load_workflow("pr.yml")
    with GitHubApi(origin=origin, tokens={"actions-token": "github-actions[bot]"}) as github:
        pr = github.add_other_pr("more-trials")
        number = pr["number"]
        event = {
            "number": number,
            "pull_request": {
                "number": number,
                "head": {"sha": sha, "ref": "more-trials", "repo": {"full_name": "owner/repo"}},
                "base": {"ref": "main", "repo": {"full_name": "owner/repo"}},
            },
            "repository": {"fork": False, "full_name": "owner/repo"},
        }
        runner = make_runner(workdir, sha, "pull_request", event, secrets, tmp_path / "same")
        runner.github_token = "actions-token"
        runner.extra_env["GITHUB_API_URL"] = github.url
        tests_passed = JobResult([], "", "success")
        pipeline = runner.run_job(workflow, "pipeline", {"tests": tests_passed})
        assert not pipeline.failed, describe(pipeline)
        assert (workdir / "metrics" / "gate.json").is_file()
        assert not (workdir / "registry.json").exists()  # stops at the gate: nothing registered
        report = (workdir / "build/report/report.md").read_text()
        assert "train.budget.trials" in report  # the params diff against origin/main
        assert report.strip() in pipeline.summary
        commenter, _ = checkout(origin, tmp_path / "comment", ref="more-trials")
        runner.workdir = commenter
        comment = runner.run_job(workflow, "comment", {"pipeline": pipeline})
        assert not comment.failed, describe(comment)
        assert [(c["issue"], c["body"]) for c in github.comments] == [
            (number, comment_body(report, "pipeline-report", RUN_URL))
        ]
        # The next push updates that one comment.
        again = runner.run_job(workflow, "comment", {"pipeline": pipeline})
        assert not again.failed and len(github.comments) == 1
        assert github.comments[0]["updates"] == 1

        # A fork's PR gets a read-only token: the report stays in the job summary, no comment.
        fork = {**event, "pull_request": {**event["pull_request"],
                "head": {**event["pull_request"]["head"], "repo": {"full_name": "fork/repo"}}}}  # fmt: skip
        forked = make_runner(workdir, sha, "pull_request", fork, secrets, tmp_path / "fork")
        jobs = {"tests": tests_passed}
        jobs["pipeline"] = forked.run_job(workflow, "pipeline", jobs)
        assert not jobs["pipeline"].failed, describe(jobs["pipeline"])
        assert forked.run_job(workflow, "comment", jobs).result == "skipped"
        assert len(github.comments) == 1

        # The model's own PR: the pipeline is skipped (retrain.yml ran it), by its branch.
        bot = {**event, "pull_request": {**event["pull_request"],
               "head": {**event["pull_request"]["head"], "ref": f"retrain/{MODEL}"}}}  # fmt: skip
        own = make_runner(workdir, sha, "pull_request", bot, secrets, tmp_path / "bot")
        assert own.run_job(workflow, "pipeline", {"tests": tests_passed}).result == "skipped"
