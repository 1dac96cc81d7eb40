"""The local runner behaves as GitHub's runner documents (or refuses): each rule shown on a tiny
workflow, with the case that GitHub would treat differently from a naive runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.local_runner import evaluate, expand_matrix, make_runner


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
    assert evaluate("2 < fromJSON('3')", ctx, status) is True  # a number, not the text '3'
    assert evaluate("'10' < fromJSON('9')", ctx, status) is False
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
        ("    strategy: {matrix: {os: [a]}, retry: 1}\n", "not emulated"),
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


def test_matrix_expands_as_github_documents() -> None:
    # given GitHub's own include/exclude example ("Expanding or adding matrix configurations")
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    # when it is expanded, then the combinations are exactly the documented six
    combos = expand_matrix(matrix, "job")
    assert sorted(combos, key=repr) == sorted(
        [
            {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
            {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
            {"fruit": "pear", "animal": "cat", "color": "pink"},
            {"fruit": "pear", "animal": "dog", "color": "green"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
        key=repr,
    )
    # and exclude drops the partial combinations it names (before include)
    assert expand_matrix(
        {"os": ["a", "b"], "v": [1, 2], "exclude": [{"os": "a", "v": 2}]}, "j"
    ) == [
        {"os": "a", "v": 1},
        {"os": "b", "v": 1},
        {"os": "b", "v": 2},
    ]
    for bad in ({}, {"os": []}, {"os": "a"}, {"os": ["a"], "exclude": [{"arch": "x"}]}):
        with pytest.raises(ValueError):
            expand_matrix(bad, "job")


def test_matrix_legs_fail_fast_and_the_job_if_cannot_see_matrix(tmp_path: Path) -> None:
    jobs = run(
        tmp_path,
        """
on: push
jobs:
  legs:
    strategy:
      matrix: {n: [1, 2, 3]}
    steps:
      - {id: s, if: "matrix.n != 2", run: 'echo "leg ${{ matrix.n }} of ${{ strategy.job-total }}"'}
  fast:
    strategy:
      matrix: {n: [1, 2, 3]}
    steps: [{run: 'test "${{ matrix.n }}" != 2'}]
  slow:
    strategy:
      fail-fast: false
      matrix: {n: [1, 2, 3]}
    steps: [{run: 'test "${{ matrix.n }}" != 2'}]
  after-fast:
    needs: fast
    if: "!cancelled() && needs.fast.result != 'failure'"
    steps: [{run: "true"}]
  after-legs:
    needs: legs
    steps: [{run: "true"}]
""",
    )
    legs = jobs["legs"].legs
    assert [leg.matrix for leg in legs] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [leg.steps[0].outcome for leg in legs] == ["success", "skipped", "success"]
    assert legs[2].steps[0].stdout.strip() == "leg 3 of 3"
    assert jobs["legs"].result == "success" and jobs["after-legs"].result == "success"
    # fail-fast (the default) cancels the legs after a failure; fail-fast: false runs them all
    assert [leg.result for leg in jobs["fast"].legs] == ["success", "failure", "cancelled"]
    assert [leg.result for leg in jobs["slow"].legs] == ["success", "failure", "success"]
    assert jobs["fast"].result == "failure" and jobs["slow"].result == "failure"
    assert jobs["after-fast"].result == "skipped"
    # a job-level `if:` is evaluated before the matrix exists (GitHub: no matrix context there)
    (tmp_path / "x").mkdir()
    with pytest.raises(ValueError, match="not supported"):
        run(
            tmp_path / "x",
            "on: push\njobs:\n  a:\n    if: matrix.n == 1\n"
            "    strategy: {matrix: {n: [1]}}\n    steps: [{run: 'true'}]\n",
        )
