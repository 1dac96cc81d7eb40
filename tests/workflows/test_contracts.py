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
from workflows import cml_standin
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
    prefix = "uv run " if program == "retrain" else ""
    pattern = re.compile(rf"(?:^|[\s(\"]){prefix}{program} ((?:[a-z][\w-]* ?){{{words}}})(.*)")
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


def help_flags(command: str) -> set[str]:
    module = importlib.import_module(COMMANDS[command][0])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
        module.cli(["--help"])
    assert exited.value.code == 0
    return set(re.findall(r"(?<![\w-])--([a-z][\w-]*)", out.getvalue()))


def test_dispatch_event_types_are_the_retrain_triggers(workflows: dict) -> None:
    types = workflows["retrain.yml"]["on"]["repository_dispatch"]["types"]
    assert sorted(types) == sorted(EVENT_TYPES)


def test_every_retrain_command_and_flag_a_workflow_calls_exists(workflows: dict) -> None:
    calls = invocations("retrain", workflows)
    called = {words[0] for _, words, _ in calls}
    # the loop's commands are all called somewhere
    assert {"check-payload", "report", "promote", "monitor", "dispatch"} <= called
    for name, words, rest in calls:
        command = words[0]
        assert command in COMMANDS, f"{name}: `retrain {command}` is not a command"
        unknown = flags(rest) - help_flags(command)
        assert not unknown, f"{name}: `retrain {command}` has no option(s) {unknown}"


def test_every_cml_call_uses_real_cml_options(workflows: dict) -> None:
    calls = invocations("cml", workflows)
    assert {tuple(words) for _, words, _ in calls} == {("pr", "create"), ("comment", "update")}
    for name, words, rest in calls:
        spec = {**cml_standin.GLOBAL, **cml_standin.SUBCOMMANDS[tuple(words)]}
        unknown = flags(rest) - set(spec)
        assert not unknown, f"{name}: `cml {' '.join(words)}` has no option(s) {unknown}"
    targets = {
        re.search(r"--target=(\S+)", rest).group(1) for _, w, rest in calls if w[0] == "comment"
    }
    assert targets == {'"pr/$number"', "pr"}


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
