"""`retrain preflight`: a newcomer's fork without secrets gets a notice and a green run; a
half-configured or unconfigured team repository gets an error naming each missing secret; a
manual run from a feature branch is refused; nothing but "true"/"false" is ever read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def preflight(tmp_path: Path, args: list[str], has: dict[str, bool], event: dict,
              event_name: str = "push", ref: str = "main") -> tuple[int, str, str]:  # fmt: skip
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    out = tmp_path / "out"
    out.write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(SRC),
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_REF_NAME": ref,
        **{f"HAS_{k}": "true" if v else "false" for k, v in has.items()},
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-m", "retrain.preflight", *args, "--github-output", str(out)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout, out.read_text()


FORK = {"repository": {"fork": True, "default_branch": "main"}}
TEAM = {"repository": {"fork": False, "default_branch": "main"}}
NEED = ["--need", "MLFLOW_TRACKING_URI", "--need", "RETRAIN_BOT_TOKEN", "--where", "env X"]


def test_all_set_is_ready(tmp_path: Path) -> None:
    has = {"MLFLOW_TRACKING_URI": True, "RETRAIN_BOT_TOKEN": True}
    code, stdout, out = preflight(tmp_path, NEED, has, TEAM)
    assert (code, stdout, out) == (0, "", "ready=true\n")


@pytest.mark.parametrize("event", [FORK, {"schedule": "17 5 * * 1"}])
def test_a_fork_or_schedule_without_any_secret_is_a_notice(tmp_path: Path, event: dict) -> None:
    code, stdout, out = preflight(tmp_path, NEED, {}, event)
    assert code == 0 and out == "ready=false\n"
    assert stdout.startswith("::notice::not set up in this repository")
    assert "MLFLOW_TRACKING_URI, RETRAIN_BOT_TOKEN" in stdout


def test_missing_in_the_team_repository_is_an_error_naming_each(tmp_path: Path) -> None:
    code, stdout, out = preflight(tmp_path, NEED, {}, TEAM)
    assert code == 1 and out == "ready=false\n"
    assert stdout.splitlines() == [
        "::error::secret MLFLOW_TRACKING_URI is not set: add it to env X (docs/github.md)",
        "::error::secret RETRAIN_BOT_TOKEN is not set: add it to env X (docs/github.md)",
    ]
    code, stdout, _ = preflight(tmp_path, NEED, {"MLFLOW_TRACKING_URI": True}, FORK)
    assert code == 1 and stdout.count("::error::") == 1 and "RETRAIN_BOT_TOKEN" in stdout


def test_optional_secrets_get_a_notice_of_what_changes(tmp_path: Path) -> None:
    args = ["--optional", "MLFLOW_TRACKING_URI"]
    code, stdout, out = preflight(tmp_path, args, {}, FORK)
    assert code == 0 and out == "ready=true\n"
    assert "::notice::MLFLOW_TRACKING_URI is not set" in stdout and "throwaway sqlite" in stdout


def test_a_manual_run_from_another_branch_is_refused(tmp_path: Path) -> None:
    has = {"MLFLOW_TRACKING_URI": True, "RETRAIN_BOT_TOKEN": True}
    args = [*NEED, "--default-branch-only"]
    code, stdout, _ = preflight(tmp_path, args, has, TEAM, "workflow_dispatch", "feature")
    assert code == 1 and "::error::run this workflow from main, not feature" in stdout
    code, _, out = preflight(tmp_path, args, has, TEAM, "workflow_dispatch", "main")
    assert code == 0 and out == "ready=true\n"
