"""Contracts between the workflows and the rest of the project: event types, the CLI commands
and flags the workflows call, the files promotion watches, the make targets they use."""

from __future__ import annotations

import contextlib
import importlib
import io
import re

import pytest
import yaml

from retrain.cli import COMMANDS
from retrain.monitor.payload import EVENT_TYPES
from workflows.helpers import NAMES, ROOT, run_scripts

OPERATOR = re.compile(r"\s(?:\|\||&&|\||;|>>?|2>&1)\s")


def logical_lines(script: str) -> list[str]:
    """Shell lines with backslash continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [
        ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]


def invocations(program: str, workflows: dict) -> list[tuple[str, list[str], str]]:
    """(workflow, [subcommand words], rest of the command) for each call of `program`."""
    found = []
    words = 1 if program == "retrain" else 2
    # `uv run retrain X` after `make sync`; `python3 -S -m retrain.X` where nothing is installed
    prefix = r"(?:uv run retrain |python3 -S -m retrain\.)" if program == "retrain" else program
    pattern = re.compile(rf"(?:^|[\s(\"]){prefix}((?:[a-z][\w-]* ?){{{words}}})(.*)")
    for name in NAMES:
        for _, _, script in run_scripts(workflows[name]):
            for line in logical_lines(script):
                match = pattern.search(line)
                if match and not line.startswith("echo"):
                    rest = OPERATOR.split(" " + match.group(2) + " ")[0]
                    found.append((name, match.group(1).split(), rest))
    return found


def flags(rest: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", rest))


def help_flags(command: str, sub: str | None = None) -> set[str]:
    module = importlib.import_module(COMMANDS[command][0])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        module.cli([sub, "--help"] if sub else ["--help"])
    assert exited.value.code == 0
    return set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", out.getvalue()))


def test_dispatch_event_types_are_the_retrain_triggers(workflows: dict) -> None:
    types = workflows["retrain.yml"]["on"]["repository_dispatch"]["types"]
    assert sorted(types) == sorted(EVENT_TYPES)


def test_every_retrain_command_and_flag_a_workflow_calls_exists(workflows: dict) -> None:
    calls = invocations("retrain", workflows)
    called = {words[0] for _, words, _ in calls}
    # the loop's commands are all called somewhere
    assert {"check-payload", "report", "promote", "monitor", "github", "preflight"} <= called
    for name, words, rest in calls:
        command = words[0]
        assert command in COMMANDS, f"{name}: `retrain {command}` is not a command"
        known = help_flags(command)
        sub = re.search(r"\s(pr|comment|dispatch)\s", f" {rest} ")
        if command == "github" and sub:  # global options, then the subcommand's
            known |= help_flags(command, sub.group(1))
        unknown = flags(rest) - known
        assert not unknown, f"{name}: `retrain {command}` has no option(s) {unknown}"


def test_no_workflow_installs_or_runs_cml(workflows: dict) -> None:
    """CML is replaced by `retrain github` (docs/github.md says why)."""
    for name in NAMES:
        for _, step, script in run_scripts(workflows[name]):
            assert "cml" not in re.findall(r"[\w@/.-]+", script), f"{name}: {step}"
            assert "npm install" not in script, f"{name}: {step}"


def test_the_payload_is_checked_before_any_work(workflows: dict) -> None:
    steps = [script for _, _, script in run_scripts(workflows["retrain.yml"])]
    first_work = next(i for i, s in enumerate(steps) if "dvc" in s or "make data" in s)
    check = next(i for i, s in enumerate(steps) if "retrain check-payload" in s)
    assert check < first_work
    assert '--event-path "$GITHUB_EVENT_PATH"' in steps[check]


def test_promote_watches_exactly_what_push_writes(workflows: dict) -> None:
    on_push = workflows["promote.yml"]["on"]["push"]
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    push_outs = [next(iter(o)) if isinstance(o, dict) else o for o in dvc["stages"]["push"]["outs"]]
    assert on_push["paths"] == push_outs == ["registry.json"]
    assert on_push["branches"] == ["main"]
    assert workflows["promote.yml"]["jobs"]["promote"]["environment"] == "production"


def test_one_concurrency_group_per_model_never_cancelled(workflows: dict) -> None:
    from retrain.config import load_params

    model = load_params(ROOT / "params.yaml").base.model_name
    for name, prefix in (("retrain.yml", "retrain"), ("promote.yml", "promote")):
        group = workflows[name]["concurrency"]
        assert group == {"group": f"{prefix}-{model}", "cancel-in-progress": False}, name


def test_make_targets_the_workflows_use_exist(workflows: dict) -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.MULTILINE))
    used = set()
    for name in NAMES:
        for _, _, script in run_scripts(workflows[name]):
            used |= set(re.findall(r"(?:^|\s)make ([a-z][\w-]*)", script))
    assert used, "the workflows should set up with the Makefile"
    assert used <= targets, f"Makefile lacks {used - targets}"


def test_jobs_that_run_the_tests_install_the_linters_first(workflows: dict) -> None:
    """test_static.py fails under CI when actionlint is missing: `make tools` must come first."""
    checked = 0
    for name in NAMES:
        for job_id, job in workflows[name]["jobs"].items():
            scripts = [s.get("run", "") for s in job.get("steps", [])]
            tests = [i for i, s in enumerate(scripts) if re.search(r"\bmake test", s)]
            if tests:
                checked += 1
                tools = [i for i, s in enumerate(scripts) if re.search(r"\bmake tools\b", s)]
                assert tools and tools[0] < tests[0], f"{name}:{job_id} tests before `make tools`"
    assert checked >= 2  # ci.yml and pr.yml
