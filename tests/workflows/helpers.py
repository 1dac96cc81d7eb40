"""Helpers for the workflow tests: load the YAML as GitHub reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
