"""`retrain check-remote`: may this run publish a candidate whose `dvc.lock` names outputs?

A retrain pull request commits `dvc.lock`; whoever checks the branch out (a reviewer, `main`
after the merge) gets those outputs with `dvc pull`, so they must be in a DVC remote before the
pull request is opened or updated. Two checks, each a non-zero exit that stops the workflow:

- `retrain check-remote` (before any work): the repository has a default DVC remote (the
  `DVC_REMOTE_URL` secret, added by the workflow, or `core.remote` in `.dvc/config`). Without
  one nothing could be pushed, so the run stops before the pipeline instead of publishing a
  `dvc.lock` nobody can pull (there is no no-remote mode: docs/github.md).
- `retrain check-remote --pushed` (after `dvc push`): `dvc status --cloud` reports every cached
  output of `dvc.lock` and the `*.dvc` files present in the remote. `new` (only in this run's
  cache) or `missing` (nowhere) names the output and fails; `deleted` (in the remote, not in
  this workspace) is fine for a reader who pulls.

`--annotate` prints the refusal as a GitHub `::error::` annotation (the run's summary shows it).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from retrain.errors import UserError

log = logging.getLogger("retrain.check-remote")

SET_REMOTE = (
    "set the DVC_REMOTE_URL secret in the retrain environment (or a default remote in "
    ".dvc/config: `dvc remote add -d <name> <url>`); docs/github.md"
)
# `dvc status --cloud` states that leave a reader of the branch without the output.
NOT_IN_REMOTE = {"new": "only in this run's cache", "missing": "in no cache and no remote"}


def _dvc(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "dvc", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(
            f"`dvc {' '.join(args)}` did not run: {type(exc).__name__}",
            "run it by hand in the repository to see why",
        ) from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def default_remote(root: Path) -> str | None:
    """The default DVC remote's name (any config level), None when there is none."""
    done = _dvc(["remote", "default"], root)
    name = done.stdout.strip()
    if done.returncode != 0 or not name or " " in name:  # "No default remote set"
        return None
    return name


def require_remote(root: Path) -> str:
    """The default remote's name; a UserError when there is none."""
    name = default_remote(root)
    if name is None:
        raise UserError(
            "no DVC remote is configured: the candidate's outputs could not be pushed, and a "
            "retrain pull request would commit a dvc.lock naming outputs nobody can pull; "
            "stopping before any work",
            SET_REMOTE,
        )
    return name


def not_in_remote(status: dict[str, object]) -> list[str]:
    """`path: why` for each output `dvc status --cloud --json` reports as not in the remote."""
    found = []
    for path, state in sorted(status.items()):
        if isinstance(state, str) and state in NOT_IN_REMOTE:
            found.append(f"{path} ({state}: {NOT_IN_REMOTE[state]})")
        elif isinstance(state, str) and state != "deleted":
            found.append(f"{path} ({state})")
    return found


def check_pushed(root: Path) -> str:
    """The remote's name, once every cached output is in it; a UserError naming any that is not."""
    name = require_remote(root)
    done = _dvc(["status", "--cloud", "--json"], root)
    if done.returncode != 0:
        raise UserError(
            f"`dvc status --cloud` failed against remote {name!r}: {_last_line(done.stderr)}",
            "check the remote's URL and credentials (the retrain environment's secrets)",
        )
    try:
        status = json.loads(done.stdout.strip() or "{}")
    except json.JSONDecodeError:
        raise UserError(
            f"`dvc status --cloud --json` printed no JSON: {_last_line(done.stdout)}",
            "run it by hand in the repository to see why",
        ) from None
    missing = not_in_remote(status if isinstance(status, dict) else {})
    if missing:
        shown = "; ".join(missing[:10]) + (
            f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        )
        raise UserError(
            f"{len(missing)} output(s) named in dvc.lock / *.dvc are not in DVC remote "
            f"{name!r}: {shown}; no pull request may name them",
            "run `dvc push` (and check that it succeeded) before publishing",
        )
    return name


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(
        prog="retrain check-remote", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root")
    parser.add_argument(
        "--pushed",
        action="store_true",
        help="also check that every cached output is in the remote (after `dvc push`)",
    )
    parser.add_argument(
        "--annotate", action="store_true", help="print a refusal as a GitHub ::error:: annotation"
    )
    args = parser.parse_args(argv)
    logs.setup()
    try:
        name = check_pushed(args.root) if args.pushed else require_remote(args.root)
    except UserError as err:
        if args.annotate:
            print(f"::error::{err.message} (fix: {err.hint})")
        raise
    if args.pushed:
        log.info("every cached output of dvc.lock and *.dvc is in DVC remote %r", name)
    else:
        log.info("DVC remote %r is configured", name)
    return 0
