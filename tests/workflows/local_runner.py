"""Run a GitHub Actions job's steps locally, in order, the way a hosted runner would.

`run:` steps execute with GitHub's default shell (`bash --noprofile --norc -eo pipefail`), with
the job's and the step's `env:` (expressions evaluated), GITHUB_EVENT_PATH / GITHUB_OUTPUT /
GITHUB_STEP_SUMMARY files and the usual GITHUB_* variables. Their PATH is the system's
(`/usr/bin:/bin`) plus what the job's own `uses:` steps add, never the developer's: a step finds
a tool only if the workflow installs it. `uses:` steps are replaced by a local equivalent
(checkout = the clone the caller made; setup-python = the Python 3.11 this suite runs on, put on
PATH; setup-uv = the project's pinned uv put on PATH, refused unless the step asks for exactly
that version; upload/download-artifact = a copy to/from a local folder; cache = nothing to
restore). The one `run:` step that installs CML from npm is replaced by the
recording stand-in (`cml_standin.py`) on PATH. Expressions are a small subset of GitHub's
language; anything else raises, so a workflow cannot use a construct this runner ignores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.helpers import pinned_uv_version, project_uv

STANDIN = Path(__file__).with_name("cml_standin.py")
# A hosted runner's system directories; anything else on a step's PATH comes from the workflow.
SYSTEM_PATH = ("/usr/bin", "/bin")
CML_INSTALL = re.compile(r"^npm install --global @dvcorg/cml@\d+\.\d+\.\d+$")


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class JobResult:
    steps: list[StepResult]
    summary: str

    @property
    def failed(self) -> bool:
        return any(s.outcome == "failure" for s in self.steps)

    def step(self, name_part: str) -> StepResult:
        return next(s for s in self.steps if name_part in s.name)


@dataclass
class Runner:
    workdir: Path  # the checkout
    event_name: str
    event_path: Path
    sha: str
    secrets: dict[str, str]
    tools: Path  # folder put first on PATH (holds the `cml` stand-in)
    artifacts: Path
    inputs: dict[str, str] = field(default_factory=dict)
    repository: str = "owner/repo"
    ref_name: str = "main"
    extra_env: dict[str, str] = field(default_factory=dict)
    timeout_s: int = 1800
    added_path: list[str] = field(default_factory=list)  # prepended by setup-* steps

    # -- expressions ---------------------------------------------------------------------------

    def _value(self, expr: str, steps: dict[str, StepResult]) -> Any:
        expr = expr.strip()
        if m := re.fullmatch(r"'([^']*)'", expr):
            return m.group(1)
        if m := re.fullmatch(r"secrets\.([A-Za-z_][A-Za-z0-9_]*)", expr):
            return self.secrets.get(m.group(1), "")
        if m := re.fullmatch(r"inputs\.([A-Za-z_][\w-]*)", expr):
            return self.inputs.get(m.group(1), "")
        if m := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr):
            step = steps.get(m.group(1))
            return step.outputs.get(m.group(2), "") if step else ""
        github = {
            "github.event_name": self.event_name,
            "github.run_id": "4242",
            "github.repository": self.repository,
            "github.sha": self.sha,
        }
        if expr in github:
            return github[expr]
        if expr.startswith("github.event."):  # a field of the event payload, as on GitHub
            value: Any = json.loads(self.event_path.read_text())
            for key in expr.removeprefix("github.event.").split("."):
                value = value.get(key, "") if isinstance(value, dict) else ""
            return value
        raise ValueError(f"expression not supported by the local runner: {expr!r}")

    def evaluate(self, expr: str, steps: dict[str, StepResult], failed: bool) -> Any:
        expr = expr.strip()
        if expr.startswith("${{") and expr.endswith("}}"):
            expr = expr[3:-2].strip()
        status = {
            "!cancelled()": True,
            "always()": True,
            "success()": not failed,
            "failure()": failed,
            "cancelled()": False,
        }
        if expr in status:
            return status[expr]
        if m := re.fullmatch(r"(.+?)\s*(==|!=)\s*(.+)", expr):
            left, op, right = (
                self._value(m.group(1), steps),
                m.group(2),
                self._value(m.group(3), steps),
            )
            return (left == right) if op == "==" else (left != right)
        return self._value(expr, steps)

    def interpolate(self, text: Any, steps: dict[str, StepResult]) -> str:
        return re.sub(
            r"\$\{\{(.*?)\}\}", lambda m: str(self.evaluate(m.group(1), steps, False)), str(text)
        )

    # -- steps ---------------------------------------------------------------------------------

    def base_env(self) -> dict[str, str]:
        """The machine's environment (certificates, proxies, caches) without anything of the
        test process: its virtualenv, MLflow settings, pytest or GitHub variables."""
        dropped = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "CI")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in dropped and not k.startswith(("MLFLOW_", "PYTEST_", "GITHUB_", "CML_"))
        }
        env["PATH"] = os.pathsep.join([str(self.tools), *self.added_path, *SYSTEM_PATH])
        # A fresh hosted runner has no git identity: the workflow must set its own.
        no_config = self.artifacts.parent / "empty.gitconfig"
        no_config.touch()
        env["GIT_CONFIG_GLOBAL"] = str(no_config)
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env.update(
            GITHUB_ACTIONS="true",
            CI="true",
            GITHUB_EVENT_NAME=self.event_name,
            GITHUB_EVENT_PATH=str(self.event_path),
            GITHUB_SHA=self.sha,
            GITHUB_REF=f"refs/heads/{self.ref_name}",
            GITHUB_REF_NAME=self.ref_name,
            GITHUB_REPOSITORY=self.repository,
            GITHUB_SERVER_URL="https://github.com",
            GITHUB_WORKSPACE=str(self.workdir),
            GITHUB_RUN_ID="4242",
            RUNNER_TEMP=str(self.artifacts.parent),
            CML_STANDIN_STATE=str(self.tools / "cml_state.json"),
            # the project's own telemetry switches, as a developer's shell would have them
            DO_NOT_TRACK="1",
            DVC_NO_ANALYTICS="1",
            MLFLOW_DISABLE_TELEMETRY="true",
        )
        env.update(self.extra_env)
        return env

    def run_job(self, workflow: dict[str, Any], job_id: str) -> JobResult:
        job = workflow["jobs"][job_id]
        self.added_path = []  # every job starts on a fresh runner
        summary = self.artifacts.parent / f"summary-{job_id}.md"
        summary.write_text("")
        steps: dict[str, StepResult] = {}
        results: list[StepResult] = []
        failed = False
        job_env = {k: self.interpolate(v, steps) for k, v in job.get("env", {}).items()}
        for index, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("uses") or f"step {index}"
            condition = step.get("if", "success()")
            if not self.evaluate(str(condition), steps, failed):
                results.append(StepResult(name, "skipped"))
                continue
            started = time.perf_counter()
            if "uses" in step:
                result = self._uses(step, name, steps)
            else:
                env = {**self.base_env(), **job_env}
                env.update({k: self.interpolate(v, steps) for k, v in step.get("env", {}).items()})
                env["GITHUB_STEP_SUMMARY"] = str(summary)
                result = self._run(step["run"], name, env, index)
            result.seconds = round(time.perf_counter() - started, 3)
            results.append(result)
            if "id" in step:
                steps[step["id"]] = result
            failed = failed or result.outcome == "failure"
        return JobResult(results, summary.read_text())

    def _run(self, script: str, name: str, env: dict[str, str], index: int) -> StepResult:
        if CML_INSTALL.match(script.strip()):
            return StepResult(name, "success", 0, "cml: recording stand-in on PATH")
        output = self.artifacts.parent / f"output-{index}"
        output.write_text("")
        env["GITHUB_OUTPUT"] = str(output)
        script_path = self.artifacts.parent / f"step-{index}.sh"
        script_path.write_text(script)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )
        outcome = "success" if proc.returncode == 0 else "failure"
        return StepResult(name, outcome, proc.returncode, proc.stdout, proc.stderr,
                          parse_outputs(output.read_text()))  # fmt: skip

    def _uses(self, step: dict[str, Any], name: str, steps: dict[str, StepResult]) -> StepResult:
        action = step["uses"].split("@", 1)[0]
        with_ = {k: self.interpolate(v, steps) for k, v in step.get("with", {}).items()}
        if action == "actions/checkout":
            # The caller cloned the repository; a checkout that keeps no token leaves the
            # remote as it is.
            assert str(with_.get("persist-credentials")).lower() == "false"
        elif action == "actions/setup-python":
            self._setup_python(str(with_.get("python-version", "")))
        elif action == "astral-sh/setup-uv":
            self._setup_uv(str(with_.get("version", "")))
        elif action == "actions/cache":
            pass  # there is no cache to restore
        elif action == "actions/upload-artifact":
            src = self.workdir / with_["path"]
            dest = self.artifacts / with_["name"]
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True)
            elif src.is_file():
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / src.name)
            elif with_.get("if-no-files-found", "warn") == "error":
                return StepResult(name, "failure", 1, stderr=f"no files at {src}")
        elif action == "actions/download-artifact":
            src = self.artifacts / with_["name"]
            if not src.is_dir():
                return StepResult(name, "failure", 1, stderr=f"no artifact {with_['name']}")
            shutil.copytree(src, self.workdir / with_.get("path", "."), dirs_exist_ok=True)
        else:
            raise ValueError(f"no local equivalent for action {action}")
        return StepResult(name, "success", 0)

    def _setup_python(self, version: str) -> None:
        """Python `version` first on PATH, as setup-python leaves it (this suite's Python)."""
        running = f"{sys.version_info.major}.{sys.version_info.minor}"
        if version != running:
            raise ValueError(f"setup-python asks for {version!r}; the local runner has {running}")
        base = Path(sys.base_prefix) / "bin" / f"python{running}"
        bindir = self.artifacts.parent / "setup-python" / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3", f"python{running}"):
            link = bindir / name
            link.unlink(missing_ok=True)
            link.symlink_to(base)
        self.added_path.insert(0, str(bindir))

    def _setup_uv(self, version: str) -> None:
        """The project's pinned uv first on PATH, as setup-uv with `version:` leaves it."""
        if version != pinned_uv_version():
            raise ValueError(
                f"setup-uv must pin version {pinned_uv_version()!r} (the Makefile's); got {version!r}"
            )
        bindir = self.artifacts.parent / "setup-uv" / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        link = bindir / "uv"
        link.unlink(missing_ok=True)
        link.symlink_to(project_uv())
        self.added_path.insert(0, str(bindir))


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT lines: `key=value` and the multi-line `key<<DELIM ... DELIM` form."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            outputs[key] = "\n".join(body)
        elif "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs


def install_cml_standin(tools: Path) -> None:
    """A `cml` executable that runs the stand-in with this Python."""
    tools.mkdir(parents=True, exist_ok=True)
    cml = tools / "cml"
    cml.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDIN}" "$@"\n')
    cml.chmod(0o755)


GIT_ID = ["-c", "user.name=dev", "-c", "user.email=dev@example.com"]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def seed_origin(project: Path, base: Path, params_text: str | None = None) -> Path:
    """A bare 'GitHub' repository holding `project` as it is now (tracked and untracked,
    not ignored files), optionally with another params.yaml on main."""
    seed = base / "seed"
    seed.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=project, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for rel in filter(None, listed):
        src = project / rel
        if src.is_file():
            (seed / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, seed / rel)
    if params_text is not None:
        (seed / "params.yaml").write_text(params_text)
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git(*GIT_ID, "commit", "-q", "-m", "project", cwd=seed)
    bare = base / "origin.git"
    git("clone", "-q", "--bare", str(seed), str(bare), cwd=base)
    return bare


def checkout(origin: Path, dest: Path, ref: str = "main") -> tuple[Path, str]:
    """actions/checkout with fetch-depth 0: a clone at `ref`; returns (path, sha)."""
    git("clone", "-q", "--branch", ref, str(origin), str(dest), cwd=dest.parent)
    return dest, git("rev-parse", "HEAD", cwd=dest)


def make_runner(
    workdir: Path,
    sha: str,
    event_name: str,
    event: dict[str, Any],
    secrets: dict[str, str],
    tmp: Path,
    inputs: dict[str, str] | None = None,
) -> Runner:
    """A runner for one job in `tmp` (event file, artifacts, the `cml` stand-in)."""
    import json

    tools = tmp / "tools"
    install_cml_standin(tools)
    (tmp / "artifacts").mkdir(exist_ok=True)
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(event))
    return Runner(
        workdir=workdir,
        event_name=event_name,
        event_path=event_path,
        sha=sha,
        secrets=secrets,
        tools=tools,
        artifacts=tmp / "artifacts",
        inputs=inputs or {},
    )
