"""Run a GitHub Actions workflow's jobs locally, in order, the way hosted runners would.

Faithful where it runs something, and refusing (ValueError) what it does not emulate:

- Jobs: `needs` (topological order; a job whose needs did not all succeed is skipped unless its
  `if:` says otherwise), job `if:`, `outputs` (evaluated after the steps), `environment`
  (its secrets overlay the repository's, as environment secrets do), `env`, `defaults.run`
  (`shell`, `working-directory`), `timeout-minutes`, `permissions`, `strategy` (`matrix` with
  lists, `include`/`exclude` as GitHub documents them, `fail-fast` (default true: after a failed
  leg the rest are cancelled), `max-parallel`; legs run one after another with the `matrix` and
  `strategy` contexts; `needs.<job>.result` is failure if any leg failed; a job-level `if:`
  cannot see `matrix`, as on GitHub). Each job of
  `run_workflow` starts on a fresh runner: a fresh clone at the event's commit, an empty PATH
  addition, no files from other jobs except through artifacts.
- Steps: `run:` with GitHub's shells: no `shell:` = `bash -e {0}` (no pipefail), `shell: bash`
  = `bash --noprofile --norc -eo pipefail {0}`, `shell: sh` = `sh -e {0}`; `env` precedence
  workflow < job < step; `working-directory`; `if:` (default `success()`); `continue-on-error`
  (outcome failure, conclusion success); `id` with `outputs`, `outcome`, `conclusion`;
  $GITHUB_OUTPUT, $GITHUB_ENV and $GITHUB_PATH (applied to the following steps, with the
  multi-line `name<<DELIM` form) and $GITHUB_STEP_SUMMARY.
- Expressions: literals, contexts (github, env, secrets, inputs, steps, needs, runner, vars),
  `== != < <= > >= && || !` and parentheses with GitHub's loose equality (strings compared
  case-insensitively, mixed types converted to numbers), `startsWith`, `endsWith`,
  `contains`, `format`, `fromJSON`, `success()`, `failure()`, `always()`, `cancelled()`; booleans render
  as `true`/`false`.
- `uses:` steps are replaced by local equivalents (checkout = the clone this runner made;
  setup-python = the Python 3.11 this suite runs on, put on PATH; setup-uv = the project's
  pinned uv put on PATH, refused unless the step asks for exactly that version;
  upload/download-artifact = a copy to/from a local folder; cache = nothing to restore).
  Any other action, shell, key or expression construct raises.

Step PATH is the system's (`/usr/bin:/bin`) plus what the job's own steps add, never the
developer's: a step finds a tool only if the workflow installs it. `https://github.com/<repo>`
git URLs lead to the local bare "origin" (git `insteadOf`), so pushes land there.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflows.helpers import pinned_uv_version, project_uv

# A hosted runner's system directories; anything else on a step's PATH comes from the workflow.
SYSTEM_PATH = ("/usr/bin", "/bin")
SHELLS = {
    None: ["bash", "-e"],
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
    "sh": ["sh", "-e"],
}
WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "concurrency", "env", "defaults", "jobs"}
JOB_KEYS = {
    "name", "runs-on", "timeout-minutes", "permissions", "environment", "outputs", "env",
    "steps", "needs", "if", "defaults", "strategy",
}  # fmt: skip
STRATEGY_KEYS = {"matrix", "fail-fast", "max-parallel"}
MAX_MATRIX_LEGS = 256  # GitHub's limit per workflow run
STEP_KEYS = {
    "name", "id", "if", "uses", "with", "run", "env", "shell", "working-directory",
    "continue-on-error", "timeout-minutes",
}  # fmt: skip


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    conclusion: str = ""  # = outcome, except success for a failure with continue-on-error

    def __post_init__(self) -> None:
        self.conclusion = self.conclusion or self.outcome


@dataclass
class JobResult:
    steps: list[StepResult]
    summary: str
    result: str = "success"  # success | failure | skipped | cancelled
    outputs: dict[str, str] = field(default_factory=dict)
    legs: list[JobResult] = field(default_factory=list)  # a matrix job's legs, in order
    matrix: dict[str, Any] = field(default_factory=dict)  # this leg's matrix values

    @property
    def failed(self) -> bool:
        return self.result == "failure"

    def step(self, name_part: str) -> StepResult:
        return next(s for s in self.steps if name_part in s.name)

    @property
    def annotations(self) -> list[str]:
        """`::notice::`/`::error::` lines the steps printed (as GitHub shows them)."""
        return [
            line
            for s in self.steps
            for line in (s.stdout + s.stderr).splitlines()
            if line.startswith(("::notice", "::error", "::warning"))
        ]


# --------------------------------------------------------------------------- expressions

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],.*])"
    r"|(?P<name>[A-Za-z_][\w-]*))"
)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            raise ValueError(f"expression not supported by the local runner: {expr!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return tokens


def to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            return float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return math.nan
    return math.nan


def loose_equal(left: Any, right: Any) -> bool:
    """GitHub's `==`: strings case-insensitively; different types compared as numbers."""
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right) and not isinstance(left, dict | list):
        return left == right
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return left is right
    a, b = to_number(left), to_number(right)
    return not (math.isnan(a) or math.isnan(b)) and a == b


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value) if not isinstance(value, dict | list) else True


def render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2)
    return str(value)


class Expression:
    """A recursive-descent evaluator for GitHub's expression language (the subset above)."""

    FUNCTIONS = ("startsWith", "endsWith", "contains", "format", "fromJSON")
    STATUS = ("success", "failure", "always", "cancelled")

    def __init__(self, text: str, context: dict[str, Any], status: dict[str, bool]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.context = context
        self.status = status

    def fail(self) -> ValueError:
        return ValueError(f"expression not supported by the local runner: {self.text!r}")

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise self.fail()
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise self.fail()
        self.pos += 1
        return token

    def evaluate(self) -> Any:
        value = self.or_()
        if self.pos != len(self.tokens):
            raise self.fail()
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary()
            if op in ("==", "!="):
                value = loose_equal(value, right) == (op == "==")
            else:
                a, b = to_number(value), to_number(right)
                value = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if kind != "name":
            raise self.fail()
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            return self.call(text)
        value: Any = self.context_root(text)
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                key = self.take()[1]
                if key == "*":
                    raise self.fail()
            else:
                key = render(self.or_())
                self.take("]")
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def context_root(self, name: str) -> Any:
        if name not in self.context:
            raise self.fail()
        return self.context[name]

    def call(self, name: str) -> Any:
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.take(")")
        if name in self.STATUS and not args:
            return self.status[name]
        if name not in self.FUNCTIONS:
            raise self.fail()
        if name == "fromJSON":
            try:  # GitHub fails the run on text that is not JSON
                return json.loads(render(args[0]))
            except json.JSONDecodeError:
                raise self.fail() from None
        if name == "format":
            text = render(args[0])
            return re.sub(r"\{(\d+)\}", lambda m: render(args[1 + int(m.group(1))]), text)
        haystack, needle = args
        if name == "contains" and isinstance(haystack, list):
            return any(loose_equal(item, needle) for item in haystack)
        h, n = render(haystack).casefold(), render(needle).casefold()
        return {"startsWith": h.startswith, "endsWith": h.endswith}.get(name, h.__contains__)(n)


def evaluate(text: str, context: dict[str, Any], status: dict[str, bool]) -> Any:
    text = text.strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2]
    return Expression(text, context, status).evaluate()


def condition(text: Any, context: dict[str, Any], status: dict[str, bool]) -> bool:
    """A job's or step's `if:`: without a status function GitHub means `success() && (...)`."""
    text = str(text).strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2].strip()
    if not re.search(r"\b(?:success|failure|always|cancelled)\s*\(", text):
        text = f"success() && ({text})"
    return truthy(Expression(text, context, status).evaluate())


def interpolate(text: Any, context: dict[str, Any], status: dict[str, bool]) -> str:
    if isinstance(text, bool):
        return render(text)
    return re.sub(
        r"\$\{\{(.*?)\}\}", lambda m: render(evaluate(m.group(1), context, status)), str(text)
    )


# --------------------------------------------------------------------------- the runner


@dataclass
class Runner:
    workdir: Path  # the checkout of the job being run
    event_name: str
    event_path: Path
    sha: str
    secrets: dict[str, str]
    tools: Path  # folder first on PATH (empty unless a test puts something there)
    artifacts: Path
    inputs: dict[str, str] = field(default_factory=dict)
    repository: str = "owner/repo"
    ref_name: str = "main"
    extra_env: dict[str, str] = field(default_factory=dict)
    timeout_s: int = 1800
    added_path: list[str] = field(default_factory=list)  # prepended by setup-*/$GITHUB_PATH
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    github_token: str = "ghs_local_runner_token"
    origin: Path | None = None  # the bare repository https://github.com/<repo> stands for
    vars: dict[str, str] = field(default_factory=dict)

    # -- context --------------------------------------------------------------------------------

    def event(self) -> dict[str, Any]:
        return json.loads(self.event_path.read_text())

    def github_context(self) -> dict[str, Any]:
        event = self.event()
        pr = event.get("pull_request") or {}
        return {
            "event_name": self.event_name,
            "event": event,
            "run_id": "4242",
            "run_number": "1",
            "repository": self.repository,
            "repository_owner": self.repository.split("/")[0],
            "sha": self.sha,
            "ref": f"refs/heads/{self.ref_name}",
            "ref_name": self.ref_name,
            "head_ref": (pr.get("head") or {}).get("ref", ""),
            "base_ref": (pr.get("base") or {}).get("ref", ""),
            "server_url": "https://github.com",
            "api_url": self.extra_env.get("GITHUB_API_URL", "https://api.github.com"),
            "workspace": str(self.workdir),
            "token": self.github_token,
            "actor": "someone",
        }

    # kept for callers of the old API
    def evaluate(self, expr: str, steps: dict[str, StepResult], failed: bool) -> Any:
        return evaluate(expr, self._context(steps, {}, {}, {}), _status(failed))

    def _context(
        self,
        steps: dict[str, StepResult],
        needs: dict[str, JobResult],
        env: dict[str, str],
        secrets: dict[str, str],
        leg: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        # `matrix`/`strategy` exist only inside a job's legs (not in a job-level `if:`).
        legs = {} if leg is None else {"matrix": leg["matrix"], "strategy": leg["strategy"]}
        return {
            **legs,
            "github": self.github_context(),
            "env": dict(env),
            "secrets": {"GITHUB_TOKEN": self.github_token, **secrets},
            "inputs": dict(self.inputs),
            "vars": dict(self.vars),
            "runner": {"os": "Linux", "arch": "X64", "temp": str(self.artifacts.parent)},
            "steps": {
                k: {"outputs": v.outputs, "outcome": v.outcome, "conclusion": v.conclusion}
                for k, v in steps.items()
            },
            "needs": {k: {"outputs": v.outputs, "result": v.result} for k, v in needs.items()},
        }

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
        # A fresh hosted runner has no git identity: the workflow must set its own. GitHub's
        # URL of the repository leads to the local bare origin.
        config = self.artifacts.parent / "runner.gitconfig"
        text = ""
        if self.origin is not None:
            text = (
                f'[url "{self.origin}"]\n\tinsteadOf = https://github.com/{self.repository}.git\n'
            )
        config.write_text(text)
        env["GIT_CONFIG_GLOBAL"] = str(config)
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
            GITHUB_API_URL="https://api.github.com",
            GITHUB_WORKSPACE=str(self.workdir),
            GITHUB_RUN_ID="4242",
            RUNNER_TEMP=str(self.artifacts.parent),
            # the project's own telemetry switches, as a developer's shell would have them
            DO_NOT_TRACK="1",
            DVC_NO_ANALYTICS="1",
            MLFLOW_DISABLE_TELEMETRY="true",
        )
        env.update(self.extra_env)
        return env

    # -- workflows and jobs -----------------------------------------------------------------------

    def run_workflow(
        self, workflow: dict[str, Any], fresh_checkout: Callable[[str], Path] | None = None
    ) -> dict[str, JobResult]:
        """Every job in `needs` order; `fresh_checkout(job_id)` gives each its own clone."""
        _check_keys(workflow, WORKFLOW_KEYS, "workflow")
        jobs = workflow["jobs"]
        done: dict[str, JobResult] = {}
        pending = list(jobs)
        while pending:
            ready = [j for j in pending if set(_needs(jobs[j])) <= set(done)]
            if not ready:
                raise ValueError(f"cycle or unknown job in needs: {pending}")
            job_id = ready[0]
            pending.remove(job_id)
            if fresh_checkout is not None:
                self.workdir = fresh_checkout(job_id)
            done[job_id] = self.run_job(
                workflow, job_id, {n: done[n] for n in _needs(jobs[job_id])}
            )
        return done

    def run_job(
        self, workflow: dict[str, Any], job_id: str, needs: dict[str, JobResult] | None = None
    ) -> JobResult:
        job = workflow["jobs"][job_id]
        _check_keys(job, JOB_KEYS, f"job {job_id}")
        needs = needs or {}
        if set(_needs(job)) - set(needs) and needs:
            raise ValueError(f"job {job_id}: results of {_needs(job)} are needed")
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        secrets = {**self.secrets, **self.environments.get(str(environment or ""), {})}
        needs_ok = all(n.result == "success" for n in needs.values())
        job_status = {"success": needs_ok, "failure": not needs_ok, "always": True,
                      "cancelled": False}  # fmt: skip
        context = self._context({}, needs, {}, secrets)
        if not condition(job.get("if", "success()"), context, job_status):
            return JobResult([], "", result="skipped")
        if "strategy" not in job:
            return self._run_leg(workflow, job_id, needs, secrets, None)
        strategy = job["strategy"]
        _check_keys(strategy, STRATEGY_KEYS, f"job {job_id} strategy")
        if "outputs" in job:
            raise ValueError(f"job {job_id}: outputs of a matrix job are not emulated")
        combos = expand_matrix(strategy.get("matrix"), f"job {job_id}")
        fail_fast = truthy(strategy.get("fail-fast", True))
        legs: list[JobResult] = []
        for index, combo in enumerate(combos):
            if fail_fast and any(leg.failed for leg in legs):
                legs.append(JobResult([], "", result="cancelled", matrix=combo))
                continue
            leg = {
                "matrix": combo,
                "strategy": {
                    "fail-fast": fail_fast,
                    "job-index": index,
                    "job-total": len(combos),
                    "max-parallel": strategy.get("max-parallel", len(combos)),
                },
            }
            legs.append(self._run_leg(workflow, job_id, needs, secrets, leg, f"-{index}"))
        failed = any(leg.result in ("failure", "cancelled") for leg in legs)
        return JobResult([], "", "failure" if failed else "success", legs=legs)

    def _run_leg(
        self,
        workflow: dict[str, Any],
        job_id: str,
        needs: dict[str, JobResult],
        secrets: dict[str, str],
        leg: dict[str, Any] | None,
        suffix: str = "",
    ) -> JobResult:
        job = workflow["jobs"][job_id]
        self.added_path = []  # every job (and every leg of a matrix) starts on a fresh runner
        summary = self.artifacts.parent / f"summary-{job_id}{suffix}.md"
        summary.write_text("")
        defaults = {**workflow.get("defaults", {}).get("run", {}),
                    **job.get("defaults", {}).get("run", {})}  # fmt: skip
        env: dict[str, str] = {}
        for scope in (workflow.get("env", {}), job.get("env", {})):
            for k, v in scope.items():
                env[k] = interpolate(v, self._context({}, needs, env, secrets, leg), _status(False))
        steps: dict[str, StepResult] = {}
        results: list[StepResult] = []
        failed = False
        for index, step in enumerate(job["steps"]):
            _check_keys(step, STEP_KEYS, f"job {job_id} step {index}")
            name = step.get("name") or step.get("uses") or f"step {index}"
            ctx = self._context(steps, needs, env, secrets, leg)
            if not condition(step.get("if", "success()"), ctx, _status(failed)):
                results.append(StepResult(name, "skipped"))
                continue
            started = time.perf_counter()
            step_env = dict(env)
            for k, v in step.get("env", {}).items():
                step_env[k] = interpolate(v, self._context(steps, needs, step_env, secrets, leg),
                                          _status(failed))  # fmt: skip
            if "uses" in step:
                result = self._uses(step, name, ctx)
            else:
                shell = step.get("shell", defaults.get("shell"))
                where = step.get("working-directory", defaults.get("working-directory"))
                full_env = {**self.base_env(), **step_env, "GITHUB_STEP_SUMMARY": str(summary)}
                result = self._run(interpolate(step["run"], ctx, _status(failed)), name,
                                   full_env, index, shell, where, env)  # fmt: skip
            result.seconds = round(time.perf_counter() - started, 3)
            if result.outcome == "failure" and truthy(step.get("continue-on-error", False)):
                result.conclusion = "success"
            results.append(result)
            if "id" in step:
                steps[step["id"]] = result
            failed = failed or result.conclusion == "failure"
        ctx = self._context(steps, needs, env, secrets, leg)
        outputs = {
            k: interpolate(v, ctx, _status(failed)) for k, v in job.get("outputs", {}).items()
        }
        result = "failure" if failed else "success"
        return JobResult(
            results, summary.read_text(), result, outputs, matrix=(leg or {}).get("matrix", {})
        )

    def _run(
        self,
        script: str,
        name: str,
        env: dict[str, str],
        index: int,
        shell: str | None,
        where: str | None,
        job_env: dict[str, str],
    ) -> StepResult:
        if shell not in SHELLS:
            raise ValueError(f"shell {shell!r} is not emulated by the local runner")
        files = {}
        for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"):
            path = self.artifacts.parent / f"{key.lower()}-{index}"
            path.write_text("")
            env[key] = files[key] = str(path)
        script_path = self.artifacts.parent / f"step-{index}.sh"
        script_path.write_text(script)
        cwd = self.workdir / where if where else self.workdir
        proc = subprocess.run(
            [*SHELLS[shell], str(script_path)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )
        # What the step wrote for the steps after it (on GitHub: also when it failed).
        job_env.update(parse_outputs(Path(files["GITHUB_ENV"]).read_text()))
        added = [p for p in Path(files["GITHUB_PATH"]).read_text().splitlines() if p.strip()]
        self.added_path[:0] = list(reversed(added))
        outcome = "success" if proc.returncode == 0 else "failure"
        return StepResult(name, outcome, proc.returncode, proc.stdout, proc.stderr,
                          parse_outputs(Path(files["GITHUB_OUTPUT"]).read_text()))  # fmt: skip

    def _uses(self, step: dict[str, Any], name: str, ctx: dict[str, Any]) -> StepResult:
        if "run" in step:
            raise ValueError(f"step {name!r} has both uses and run")
        action = step["uses"].split("@", 1)[0]
        with_ = {k: interpolate(v, ctx, _status(False)) for k, v in step.get("with", {}).items()}
        known: dict[str, set[str]] = {
            "actions/checkout": {"persist-credentials", "fetch-depth", "sparse-checkout", "ref"},
            "actions/setup-python": {"python-version"},
            "astral-sh/setup-uv": {"version"},
            "actions/cache": {"path", "key", "restore-keys"},
            "actions/upload-artifact": {"name", "path", "if-no-files-found", "retention-days"},
            "actions/download-artifact": {"name", "path"},
        }
        if action not in known:
            raise ValueError(f"no local equivalent for action {action}")
        unknown = set(with_) - known[action]
        if unknown:
            raise ValueError(f"{action}: inputs {sorted(unknown)} are not emulated")
        if action == "actions/checkout":
            # This runner cloned the repository at the event's commit (all of it: a sparse
            # checkout's files are a subset); a checkout that keeps no token leaves the remote.
            assert with_.get("persist-credentials") == "false"
            assert "ref" not in with_, "checkout of another ref is not emulated"
        elif action == "actions/setup-python":
            self._setup_python(with_.get("python-version", ""))
        elif action == "astral-sh/setup-uv":
            self._setup_uv(with_.get("version", ""))
        elif action == "actions/cache":
            pass  # there is no cache to restore
        elif action == "actions/upload-artifact":
            src = self.workdir / with_["path"]
            dest = self.artifacts / with_["name"]
            if dest.exists():
                return StepResult(name, "failure", 1, stderr="an artifact of that name exists")
            if src.is_dir() and any(src.iterdir()):
                shutil.copytree(src, dest)
            elif src.is_file():
                dest.mkdir(parents=True)
                shutil.copy2(src, dest / src.name)
            elif with_.get("if-no-files-found", "warn") == "error":
                return StepResult(name, "failure", 1, stderr=f"no files at {src}")
        elif action == "actions/download-artifact":
            src = self.artifacts / with_["name"]
            if not src.is_dir():
                return StepResult(name, "failure", 1, stderr=f"no artifact {with_['name']}")
            shutil.copytree(src, self.workdir / with_.get("path", "."), dirs_exist_ok=True)
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


def expand_matrix(matrix: Any, where: str) -> list[dict[str, Any]]:
    """GitHub's matrix expansion: the product of the list-valued keys, minus each `exclude`
    entry (a partial combination), then each `include` entry added to every combination it
    extends without overwriting an original value, or appended as a new combination if it
    extends none."""
    if not isinstance(matrix, dict) or not matrix:
        raise ValueError(f"{where}: strategy.matrix must be a non-empty mapping")
    include = matrix.get("include", [])
    exclude = matrix.get("exclude", [])
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: matrix.{key} must be a non-empty list")
    combos: list[dict[str, Any]] = [{}] if axes else []
    for key, values in axes.items():
        combos = [{**c, key: v} for c in combos for v in values]
    for entry in exclude:
        unknown = set(entry) - set(axes)
        if unknown:
            raise ValueError(f"{where}: matrix.exclude names {sorted(unknown)}, not matrix keys")
        combos = [c for c in combos if any(c[k] != v for k, v in entry.items())]
    # Only combinations of the product are extended; an appended one is never extended later
    # (GitHub's documented example: a second `fruit: banana` entry makes a combination of its own).
    originals = [dict(c) for c in combos]
    appended: list[dict[str, Any]] = []
    for entry in include:
        extended = False
        for combo, original in zip(combos, originals, strict=True):
            if all(original.get(k, v) == v for k, v in entry.items()):
                combo.update(entry)
                extended = True
        if not extended:
            appended.append(dict(entry))
    combos += appended
    if not combos:
        raise ValueError(f"{where}: the matrix has no combination left")
    if len(combos) > MAX_MATRIX_LEGS:
        raise ValueError(f"{where}: {len(combos)} matrix legs, GitHub allows {MAX_MATRIX_LEGS}")
    return combos


def _status(failed: bool) -> dict[str, bool]:
    return {"success": not failed, "failure": failed, "always": True, "cancelled": False}


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _check_keys(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(mapping) - allowed
    if unknown:
        raise ValueError(f"{where}: {sorted(unknown)} not emulated by the local runner")


def parse_outputs(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT/GITHUB_ENV lines: `key=value` and the multi-line `key<<DELIM` form."""
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
        elif line.strip():
            raise ValueError(f"malformed line in a GitHub command file: {line!r}")
        i += 1
    return outputs


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
    origin: Path | None = None,
) -> Runner:
    """A runner in `tmp` (event file, artifacts, tools folder)."""
    tools = tmp / "tools"
    tools.mkdir(parents=True, exist_ok=True)
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
        origin=origin,
    )


def fresh_checkouts(origin: Path, base: Path, ref: str = "main") -> Callable[[str], Path]:
    """For run_workflow: each job's own clone of `origin` at `ref`, as on a new runner."""

    def make(job_id: str) -> Path:
        dest = base / f"job-{job_id}"
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        return checkout(origin, dest / "checkout", ref)[0]

    return make
