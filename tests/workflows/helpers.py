"""Helpers for the workflow tests: load the YAML as GitHub reads it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("retrain.yml", "pr.yml", "promote.yml", "monitor.yml", "ci.yml")


def load_workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True; GitHub means the string "on".
    if True in data:
        data["on"] = data.pop(True)
    return data


def run_scripts(workflow: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(job id, step name, run script) for every `run:` step, in order."""
    found = []
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if "run" in step:
                found.append((job_id, step.get("name", "?"), step["run"]))
    return found


def pinned_uv_version() -> str:
    """UV_VERSION from the Makefile: the one uv the project installs and the workflows pin."""
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile pins no UV_VERSION"
    return match.group(1)


def project_uv() -> Path:
    """The uv the project's own set-up provides (`make uv` puts it in .tools/), or a uv on PATH
    of exactly the pinned version (as the Makefile accepts); otherwise the test is skipped
    loudly, so CI's summary shows it."""
    wanted = f"uv {pinned_uv_version()}"
    for candidate in (ROOT / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            version = subprocess.run(
                [str(candidate), "--version"], capture_output=True, text=True, check=False
            ).stdout
            if version.startswith(wanted + " ") or version.strip() == wanted:
                return Path(candidate)
    pytest.skip(f"no {wanted}: run `make uv` (the workflow steps need the project's pinned uv)")
