"""Execute the `run:` steps of retrain.yml, promote.yml and monitor.yml, in order, in temp git
clones, as a hosted runner would (see local_runner.py): a real dispatch payload, the real pipeline
on a tiny data window with a small search budget, a real MLflow registry (sqlite), git pushes to a
local bare "origin", CML replaced by a recording stand-in that enforces CML's command line, and
GitHub's dispatch endpoint by a stand-in that enforces its contract (tests/monitor)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.helpers import ROOT, load_workflow
from workflows.local_runner import (
    GIT_ID,
    JobResult,
    Runner,
    checkout,
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


def describe(job: JobResult) -> str:
    lines = []
    for s in job.steps:
        lines.append(f"[{s.outcome}] {s.name} (rc={s.returncode})")
        if s.outcome == "failure":
            lines.append(s.stdout[-3000:])
            lines.append(s.stderr[-3000:])
    return "\n".join(lines)


def cml_state(runner: Runner) -> dict:
    path = runner.tools / "cml_state.json"
    return json.loads(path.read_text()) if path.exists() else {"prs": [], "comments": []}


def injection_event(field_name: str, value: str) -> dict:
    event = json.loads((FIXTURES / "repository_dispatch.json").read_text())
    event["client_payload"][field_name] = value
    return event


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
    workdir, sha = checkout(origin, tmp_path / "checkout")
    event = injection_event(field_name, value.format(marker=marker))
    runner = make_runner(workdir, sha, "repository_dispatch", event, {}, tmp_path)
    job = runner.run_job(load_workflow("retrain.yml"), "retrain")
    check = job.step("Validate the trigger")
    assert check.outcome == "failure" and check.returncode == 2, describe(job)
    assert "rejected" in check.stderr and field_name in check.stderr
    # nothing after the check ran: no data, no pipeline, no report, no PR (only the
    # `!cancelled()` upload of the report folder, which finds nothing to keep)
    after = job.steps[job.steps.index(check) + 1 :]
    ran = [s.name for s in after if s.outcome != "skipped"]
    assert ran == ["Keep the report"], describe(job)
    assert not any(runner.artifacts.iterdir())
    assert not marker.exists()
    assert not (workdir / "build" / "trigger.json").exists()
    assert cml_state(runner)["prs"] == []


@pytest.mark.integration
@pytest.mark.slow
def test_retrain_opens_one_pr_and_merge_promotes(origin: Path, tmp_path: Path) -> None:
    registry_uri = f"sqlite:///{tmp_path / 'registry.db'}"
    secrets = {"MLFLOW_TRACKING_URI": registry_uri, "RETRAIN_BOT_TOKEN": "test-token"}
    event = json.loads((FIXTURES / "repository_dispatch.json").read_text())

    # --- retrain: dispatch -> pipeline -> blessed -> one PR + one sticky comment -------------
    run_dir = tmp_path / "retrain"
    run_dir.mkdir()
    workdir, sha = checkout(origin, run_dir / "checkout")
    runner = make_runner(workdir, sha, "repository_dispatch", event, secrets, run_dir)
    job = runner.run_job(load_workflow("retrain.yml"), "retrain")
    assert not job.failed, describe(job)
    report_step = job.step("Write the report")
    assert report_step.outputs["blessed"] == "true", describe(job)
    assert report_step.outputs["version"] == "1"

    branch = f"retrain/{MODEL}"
    heads = git("ls-remote", "--heads", str(origin), cwd=tmp_path)
    assert f"refs/heads/{branch}" in heads
    log = git("log", "--format=%s", "-1", branch, cwd=origin)
    assert log == f"retrain: {MODEL} v1 [skip ci]"
    committed = json.loads(git("show", f"{branch}:registry.json", cwd=origin))
    assert str(committed["version"]) == "1" and committed["blessed"] is True
    params = yaml.safe_load(git("show", f"{branch}:params.yaml", cwd=origin))
    window = event["client_payload"]["window"]
    assert str(params["prepare"]["test_window"]["start"]) == window["start"]
    assert str(params["prepare"]["test_window"]["end"]) == window["end"]

    state = cml_state(runner)
    assert len(state["prs"]) == 1
    pr = state["prs"][0]
    assert (pr["source"], pr["target"], pr["state"]) == (branch, "main", "open")
    assert pr["title"].startswith(f"retrain: {MODEL} v1")
    assert pr["head_sha"] == git("rev-parse", branch, cwd=origin)
    assert len(state["comments"]) == 1
    comment = state["comments"][0]
    report = (workdir / "build/report/report.md").read_text()
    assert comment["target"] == "pr/1" and comment["body"] == report
    assert comment["missing"] == [] and any(p.endswith(".png") for p in comment["published"])
    assert "# Retrain report: `flight-delay` — blessed" in report
    assert "# Retrain report" in job.summary
    assert "`HEAD` has no metrics yet (first run)" in report  # main had no run before
    assert "| window | `2013-03-25` → `2013-04-01` |" in report

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"

    # --- review + merge: registry.json changes on main -> promote ---------------------------
    merge_dir = tmp_path / "merge"
    merge_dir.mkdir()
    reviewer, _ = checkout(origin, merge_dir / "checkout")
    git("fetch", "-q", "origin", branch, cwd=reviewer)
    git(*GIT_ID, "merge", "-q", "--no-ff", "-m", "Merge retrain PR", "FETCH_HEAD", cwd=reviewer)
    git("push", "-q", "origin", "main", cwd=reviewer)

    promote_dir = tmp_path / "promote"
    promote_dir.mkdir()
    workdir, merged = checkout(origin, promote_dir / "checkout")
    push_event = {"ref": "refs/heads/main", "after": merged, "head_commit": {"id": merged}}
    promote = make_runner(workdir, merged, "push", push_event, secrets, promote_dir)
    job = promote.run_job(load_workflow("promote.yml"), "promote")
    assert not job.failed, describe(job)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert "Promotion of registry.json" in job.summary and "exit code: 0" in job.summary

    # re-running the promotion is a no-op
    again = promote.run_job(load_workflow("promote.yml"), "promote")
    assert not again.failed, describe(again)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"

    # --- monitor.yml: the champion's window vs July drifts -> dispatch reaches "GitHub" -----
    from monitor.github_standin import GitHubStandin

    monitor_dir = tmp_path / "monitor"
    monitor_dir.mkdir()
    workdir, sha = checkout(origin, monitor_dir / "checkout")
    schedule = {"schedule": "41 4 * * *"}
    watcher = make_runner(workdir, sha, "schedule", schedule, secrets, monitor_dir)
    job = watcher.run_job(load_workflow("monitor.yml"), "monitor")
    assert not job.failed, describe(job)
    assert job.step("Check drift and performance").outputs.get("retrain") == "true", describe(job)
    assert (watcher.artifacts / "drift-report" / "drift.json").is_file()
    # The `dispatch` job runs when the monitor job's `retrain` output is true (asserted above);
    # it shares the run's artifacts, as jobs of one workflow run do.
    with GitHubStandin(repository=watcher.repository) as github:
        workdir, _ = checkout(origin, monitor_dir / "dispatch")
        sender = make_runner(
            workdir, sha, "schedule", schedule, {"RETRAIN_BOT_TOKEN": github.token}, monitor_dir
        )
        sender.extra_env["GITHUB_API_URL"] = github.url
        job = sender.run_job(load_workflow("monitor.yml"), "dispatch")
        assert not job.failed, describe(job)
        assert len(github.accepted) == 1, github.requests
    sent = github.accepted[0]
    types = load_workflow("retrain.yml")["on"]["repository_dispatch"]["types"]
    assert sent["event_type"] in types
    assert sent["client_payload"]["model"] == MODEL
    assert sent["client_payload"]["window"] == {"start": "2013-07-01", "end": "2013-08-01"}

    # --- revert the first model's merge: registry.json disappears -> no champion -----------
    revert_dir = tmp_path / "revert"
    revert_dir.mkdir()
    reverter, _ = checkout(origin, revert_dir / "checkout")
    git(*GIT_ID, "revert", "--no-edit", "-m", "1", "HEAD", cwd=reverter)
    assert not (reverter / "registry.json").exists()
    git("push", "-q", "origin", "main", cwd=reverter)
    workdir, reverted = checkout(origin, revert_dir / "promote")
    push_event = {"ref": "refs/heads/main", "after": reverted, "head_commit": {"id": reverted}}
    rollback = make_runner(workdir, reverted, "push", push_event, secrets, revert_dir)
    job = rollback.run_job(load_workflow("promote.yml"), "promote")
    assert not job.failed, describe(job)
    assert "champion v1 → none" in job.summary
    aliases = client.get_registered_model(MODEL).aliases
    assert "champion" not in aliases and str(aliases["previous"]) == "1"

    # --- a candidate the gate rejects: a report, but no PR and no registry write ----------
    strict_dir = tmp_path / "strict"
    strict_dir.mkdir()
    editor, _ = checkout(origin, strict_dir / "edit")
    params = yaml.safe_load((editor / "params.yaml").read_text())
    params["gate"]["values"] = {"roc_auc": {"min": 0.99}}  # no model of this data reaches it
    (editor / "params.yaml").write_text(yaml.safe_dump(_iso(params), sort_keys=False))
    git(*GIT_ID, "commit", "-q", "-am", "gate: demand AUC 0.99", cwd=editor)
    git("push", "-q", "origin", "main", cwd=editor)
    workdir, sha = checkout(origin, strict_dir / "checkout")
    versions_before = len(client.search_model_versions(f"name='{MODEL}'"))
    strict = make_runner(workdir, sha, "repository_dispatch", event, secrets, strict_dir)
    job = strict.run_job(load_workflow("retrain.yml"), "retrain")
    assert not job.failed, describe(job)
    assert job.step("Write the report").outputs["blessed"] == "false", describe(job)
    skipped = {s.name: s.outcome for s in job.steps}
    assert skipped["Open or update the model's pull request"] == "skipped"
    assert cml_state(strict)["prs"] == [] and cml_state(strict)["comments"] == []
    assert "value.roc_auc.min" in job.summary  # the failed check is in the run's summary
    assert len(client.search_model_versions(f"name='{MODEL}'")) == versions_before
    assert "champion" not in client.get_registered_model(MODEL).aliases


@pytest.mark.integration
@pytest.mark.slow
def test_pr_pipeline_reports_against_main_in_a_sticky_comment(origin: Path, tmp_path: Path) -> None:
    # A contributor's PR: more search trials. pr.yml's `pipeline` job (its `tests` job runs
    # `make test-fast`, i.e. this suite) runs the pipeline up to the gate and comments.
    editor, _ = checkout(origin, tmp_path / "edit")
    git("switch", "-q", "-c", "more-trials", cwd=editor)
    params = yaml.safe_load((editor / "params.yaml").read_text())
    params["train"]["budget"]["trials"] = 4
    (editor / "params.yaml").write_text(yaml.safe_dump(_iso(params), sort_keys=False))
    git(*GIT_ID, "commit", "-q", "-am", "train: 4 trials", cwd=editor)
    git("push", "-q", "origin", "more-trials", cwd=editor)

    workdir, sha = checkout(origin, tmp_path / "checkout", ref="more-trials")
    event = {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"sha": sha, "ref": "more-trials", "repo": {"full_name": "owner/repo"}},
            "base": {"ref": "main", "repo": {"full_name": "owner/repo"}},
        },
    }
    secrets = {  # GitHub provides GITHUB_TOKEN to every run
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'registry.db'}",
        "GITHUB_TOKEN": "test-token",
    }
    runner = make_runner(workdir, sha, "pull_request", event, secrets, tmp_path)
    runner.extra_env["CML_STANDIN_EVENT_PR"] = "7"  # CML reads the PR from the event
    job = runner.run_job(load_workflow("pr.yml"), "pipeline")
    assert not job.failed, describe(job)
    assert (workdir / "metrics" / "gate.json").is_file()
    assert not (workdir / "registry.json").exists()  # stops at the gate: nothing registered
    report = (workdir / "build/report/report.md").read_text()
    assert "train.budget.trials" in report  # the params diff against origin/main
    assert report.strip() in job.summary
    comments = cml_state(runner)["comments"]
    assert [(c["target"], c["body"]) for c in comments] == [("pr/7", report)]

    # A fork's PR gets a read-only token: the report stays in the job summary, no comment.
    fork = {**event, "pull_request": {**event["pull_request"],
            "head": {**event["pull_request"]["head"], "repo": {"full_name": "fork/repo"}}}}  # fmt: skip
    forked = make_runner(workdir, sha, "pull_request", fork, secrets, tmp_path / "fork")
    forked.extra_env["CML_STANDIN_EVENT_PR"] = "7"
    job = forked.run_job(load_workflow("pr.yml"), "pipeline")
    assert not job.failed, describe(job)
    outcome = {s.name: s.outcome for s in job.steps}
    assert outcome["Post the report as the sticky comment"] == "skipped"
    assert cml_state(forked)["comments"] == []
