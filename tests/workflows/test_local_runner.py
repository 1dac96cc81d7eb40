"""The local runner behaves as GitHub's runner documents (or refuses): each rule shown on a tiny
workflow, with the case that GitHub would treat differently from a naive runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.local_runner import evaluate, make_runner


def run(tmp_path: Path, text: str, **kwargs: Any) -> dict:
    workflow = yaml.safe_load(text)
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    runner = make_runner(work, "0" * 40, "push", {"ref": "refs/heads/main"}, {}, tmp_path)
    for key, value in kwargs.items():
        setattr(runner, key, value)
    return runner.run_workflow(workflow)


def test_default_shell_has_no_pipefail_but_shell_bash_does(tmp_path: Path) -> None:
    jobs = run(
        tmp_path,
        """
on: push
jobs:
  a:
    steps:
      - {id: plain, run: "false | true"}
      - {id: strict, shell: bash, run: "false | true"}
      - {id: errexit, if: always(), run: "false\\necho not reached"}
""",
    )
    steps = {s.name: s for s in jobs["a"].steps}
    assert steps["step 0"].outcome == "success"  # bash -e {0}
    assert steps["step 1"].outcome == "failure"  # bash --noprofile --norc -eo pipefail {0}
    assert steps["step 2"].outcome == "failure" and "not reached" not in steps["step 2"].stdout


def test_expressions_compare_like_github() -> None:
    ctx = {"github": {"ref": "refs/heads/Main", "event": {"n": 7}}, "needs": {}}
    status = {"success": True, "failure": False, "always": True, "cancelled": False}
    assert evaluate("github.ref == 'REFS/HEADS/MAIN'", ctx, status) is True
    assert evaluate("github.event.n == '7'", ctx, status) is True  # numbers across types
    assert evaluate("github.event.missing == ''", ctx, status) is True  # null == '' (0 == 0)
    assert evaluate("!(startsWith(github.ref, 'refs/heads/m') && false)", ctx, status) is True
    assert evaluate("format('{0}-{1}', 'a', github.event.n)", ctx, status) == "a-7"
    assert evaluate("github.event.n > 3 || 'x'", ctx, status) is True
    for bad in ("toJSON(github)", "github.event.*", "hashFiles('x')", "matrix.os == 'x'"):
        with pytest.raises(ValueError, match="not supported"):
            evaluate(bad, ctx, status)


def test_env_precedence_github_env_path_and_outputs(tmp_path: Path) -> None:
    (tmp_path / "work" / "sub").mkdir(parents=True)
    jobs = run(
        tmp_path,
        """
on: push
env: {A: workflow, B: workflow, C: workflow}
jobs:
  a:
    env: {B: job, C: job}
    defaults: {run: {working-directory: sub}}
    outputs: {seen: "${{ steps.one.outputs.value }}"}
    steps:
      - id: one
        env: {C: step}
        run: |
          echo "value=$A/$B/$C/$(basename "$PWD")" >> "$GITHUB_OUTPUT"
          echo "LATER=from-env-file" >> "$GITHUB_ENV"
          mkdir -p bin && printf '#!/bin/sh\\necho shim\\n' > bin/tool && chmod +x bin/tool
          echo "$PWD/bin" >> "$GITHUB_PATH"
      - id: two
        run: echo "later=$LATER $(tool)" >> "$GITHUB_OUTPUT"
""",
    )
    job = jobs["a"]
    assert job.outputs == {"seen": "workflow/job/step/sub"}
    assert job.step("step 1").outputs == {"later": "from-env-file shim"}


def test_job_needs_if_and_continue_on_error(tmp_path: Path) -> None:
    jobs = run(
        tmp_path,
        """
on: push
jobs:
  first:
    outputs: {go: "${{ steps.o.outputs.go }}"}
    steps:
      - {continue-on-error: true, run: "exit 3"}
      - {id: o, run: "echo go=YES >> \\"$GITHUB_OUTPUT\\""}
  second:
    needs: first
    if: needs.first.outputs.go == 'yes'
    steps: [{run: "true"}]
  broken:
    needs: first
    steps: [{run: "exit 1"}]
  after-broken:
    needs: broken
    steps: [{run: "true"}]
  cleanup:
    needs: broken
    if: always()
    steps: [{run: "true"}]
""",
    )
    assert jobs["first"].result == "success"  # the failed step continued on error
    assert jobs["first"].steps[0].outcome == "failure"
    assert jobs["first"].steps[0].conclusion == "success"
    assert jobs["second"].result == "success"  # case-insensitive comparison
    assert jobs["broken"].result == "failure"
    assert jobs["after-broken"].result == "skipped"  # implicit success() of the needs
    assert jobs["cleanup"].result == "success"


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("    strategy: {matrix: {os: [a]}}\n", "not emulated"),
        ("    services: {db: {image: x}}\n", "not emulated"),
        ("    container: node\n", "not emulated"),
    ],
)
def test_unknown_job_constructs_raise(tmp_path: Path, fragment: str, message: str) -> None:
    text = "on: push\njobs:\n  a:\n" + fragment + "    steps: [{run: 'true'}]\n"
    with pytest.raises(ValueError, match=message):
        run(tmp_path, text)


@pytest.mark.parametrize(
    "step",
    [
        "{shell: pwsh, run: 'true'}",
        "{uses: 'actions/github-script@v7'}",
        "{uses: 'actions/checkout@v5', with: {persist-credentials: false, submodules: true}}",
        "{run: 'true', timeout: 3}",
    ],
)
def test_unknown_step_constructs_raise(tmp_path: Path, step: str) -> None:
    with pytest.raises(ValueError):
        run(tmp_path, f"on: push\njobs:\n  a:\n    steps: [{step}]\n")
