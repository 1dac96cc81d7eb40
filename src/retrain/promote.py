"""`retrain promote`: move `champion` to the version named in `registry.json` at a git ref.

Run by the workflow when a retrain PR is merged (ref = the merge commit on main), or by hand.
Compare-and-set, so a stale PR can never overwrite a newer decision:

1. The version's recorded sha256 must equal the one in registry.json, and the artifact in the
   store must still hash to it (a tampered artifact is refused, even with --force).
2. Forward: the current champion must be the baseline the gate compared against
   (`baseline_version`); otherwise stop: "champion moved from vN to vM since this PR was
   validated; re-run the retrain".
3. Rollback (a `git revert` of the merge): the reverted registry.json names the older version,
   and the current champion's own `baseline_version` tag is exactly that version — i.e. the
   champion is the model the reverted PR introduced. Then champion goes back to it, and the
   reverted version is tagged `rolled_back` so re-running the old merge's promotion cannot
   silently bring it back (that needs --force --reason).
4. Withdrawal (a `git revert` of the FIRST model's merge): registry.json did not exist before,
   so the revert deletes it. The ref's parent still holds the record; if it named a first model
   (no baseline) that is the current champion, the champion alias is removed (no champion
   again), the version tagged `rolled_back`, and `previous` points at it.

Then `previous` → the old champion, `champion` → the target, `challenger` cleared if it pointed
at the target, and an audit record (who, commit, from, to, kind, reason, forced) appended as a
model-level tag `audit.<UTC timestamp>`. Already champion → no-op (nothing written).
`--force --reason TEXT` skips the check of step 2/3 only, and is recorded in the audit trail.
MLflow has no transactions: the check and the alias moves are separate calls, so promotions of
one model must not run concurrently (the workflow serialises them with a concurrency group).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.artifacts import RegistryRecord
from retrain.errors import UserError

if TYPE_CHECKING:
    from retrain.registry import Registry

log = logging.getLogger("retrain.promote")


class PromotionRefused(UserError):
    """The compare-and-set failed: the registry changed since the PR was validated."""


@dataclass(frozen=True)
class Outcome:
    kind: str  # "noop" | "promoted" | "rolled_back" | "nothing"
    model: str
    from_version: str | None
    to_version: str | None
    message: str
    audit_key: str | None = None


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=60
        )
    except OSError as exc:
        raise UserError(f"cannot run git: {exc}", "install git") from None
    if done.returncode != 0:
        raise UserError(
            f"git {' '.join(args)} failed in {repo}: {done.stderr.strip() or done.stdout.strip()}",
            "pass an existing ref (branch, tag or commit) of this repository with --ref",
        )
    return done.stdout


def read_record_at(repo: Path, ref: str, path: str) -> tuple[RegistryRecord, str]:
    """registry.json as committed at `ref` (never the working tree) and the commit sha."""
    if ref.startswith("-"):
        raise UserError(f"invalid ref {ref!r}", "pass a branch, tag or commit")
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    listed = _git(repo, "ls-tree", "--name-only", commit, "--", path).strip()
    if not listed:
        withdrawn = _withdrawal_at(repo, commit, path)
        if withdrawn is not None:
            return withdrawn, commit
        raise UserError(
            f"{path} does not exist at {ref} ({commit[:12]})",
            "promote a ref whose commit contains the registry.json written by the push stage",
        )
    text = _git(repo, "show", f"{commit}:{path}")
    return parse_record(text, f"{path} at {ref}"), commit


def _withdrawal_at(repo: Path, commit: str, path: str) -> RegistryRecord | None:
    """If `commit` deleted registry.json and its parent's record introduced a first model
    (no baseline), the record that withdraws that model; else None."""
    try:
        parent = _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^1").strip()
    except UserError:  # a root commit: nothing was deleted
        return None
    if not _git(repo, "ls-tree", "--name-only", parent, "--", path).strip():
        return None
    before = parse_record(_git(repo, "show", f"{parent}:{path}"), f"{path} before {commit[:12]}")
    if before.version is None or not before.blessed:
        return None
    if before.baseline_version is not None:
        raise UserError(
            f"{path} was deleted at {commit[:12]}, but it named v{before.version}, which "
            f"replaced v{before.baseline_version}: a deletion cannot say which model to serve",
            "revert the retrain PR instead (the revert restores the older registry.json)",
        )
    return RegistryRecord(model=before.model, blessed=False, withdraws=before.version)


def parse_record(text: str, where: str) -> RegistryRecord:
    return RegistryRecord.parse(text, where, "restore registry.json as written by `retrain push`")


def _who() -> str:
    actor = os.environ.get("GITHUB_ACTOR")
    if actor:
        return f"github:{actor}"
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _v(version: str | None) -> str:
    return "none" if version is None else f"v{version}"


def promote(
    registry: Registry,
    record: RegistryRecord,
    *,
    commit: str,
    who: str,
    force: bool = False,
    reason: str | None = None,
) -> Outcome:
    """Compare-and-set the champion alias to the version `record` names (see module doc)."""
    from retrain.registry import CHALLENGER, CHAMPION, NO_VERSION, PREVIOUS

    model = record.model
    if record.withdraws is not None:
        return withdraw(registry, record, commit=commit, who=who, force=force, reason=reason)
    if record.version is None or not record.blessed:
        return Outcome("nothing", model, None, None, "registry.json names no blessed version")
    target = registry.version(model, record.version)
    if target.sha256 != record.sha256:
        raise PromotionRefused(
            f"{model} v{target.version} has sha256 {str(target.sha256)[:12]}… in the registry, "
            f"but registry.json names {str(record.sha256)[:12]}…: not the validated model",
            "re-run the retrain so registry.json and the registry agree",
        )
    with tempfile.TemporaryDirectory(prefix="retrain-promote-") as tmp:
        registry.download_skops(target, Path(tmp))  # raises if the stored artifact changed

    current = registry.champion(model)
    current_version = None if current is None else current.version
    if current_version == target.version:
        challenger = registry.alias(model, CHALLENGER)
        if challenger is not None and challenger.version == target.version:
            registry.delete_alias(model, CHALLENGER)
        return Outcome(
            "noop", model, current_version, target.version, f"v{target.version} is already champion"
        )

    # registry records written before schema fixes spelled "no baseline" as "none"
    baseline = None if record.baseline_version in (None, NO_VERSION) else record.baseline_version
    forward = current_version == baseline
    rollback = current is not None and current.tags.get("baseline_version") == target.version
    kind = "rolled_back" if rollback and not forward else "promoted"
    if not (forward or rollback) and not force:
        raise PromotionRefused(
            f"champion moved from {_v(baseline)} to {_v(current_version)} since this PR was "
            f"validated (it compared v{target.version} against {_v(baseline)}); "
            "re-run the retrain",
            "re-run the retrain pipeline against the current champion, or override with "
            "--force --reason TEXT",
        )
    elif forward and "rolled_back" in target.tags and not force:
        raise PromotionRefused(
            f"v{target.version} was rolled back ({target.tags['rolled_back']}); "
            "not promoting it again",
            "if it really should return, run with --force --reason TEXT",
        )

    if current is not None:
        registry.set_alias(model, PREVIOUS, current.version)
    registry.set_alias(model, CHAMPION, target.version)
    challenger = registry.alias(model, CHALLENGER)
    if challenger is not None and challenger.version == target.version:
        registry.delete_alias(model, CHALLENGER)
    audit_key = _record_move(
        registry, model, current_version, target.version, kind,
        who=who, commit=commit, reason=reason, force=force,
    )  # fmt: skip
    verb = "rolled back" if kind == "rolled_back" else "promoted"
    return Outcome(
        kind,
        model,
        current_version,
        target.version,
        f"{verb} {model}: champion {_v(current_version)} → v{target.version}"
        + (" (forced)" if force else ""),
        audit_key,
    )


def _record_move(
    registry: Registry,
    model: str,
    from_version: str | None,
    to_version: str | None,
    kind: str,
    *,
    who: str,
    commit: str,
    reason: str | None,
    force: bool,
) -> str:
    """After the aliases moved: tag a rolled-back version, append the audit record; its key."""
    from retrain.registry import utc_stamp

    if kind == "rolled_back" and from_version is not None:
        registry.set_version_tag(
            model, from_version, "rolled_back", f"{utc_stamp()} to {_v(to_version)}"
        )
    return registry.add_audit(
        model,
        {
            "who": who,
            "commit": commit,
            "from": from_version,
            "to": to_version,
            "kind": kind,
            "reason": reason,
            "forced": bool(force),
        },
    )


def withdraw(
    registry: Registry,
    record: RegistryRecord,
    *,
    commit: str,
    who: str,
    force: bool = False,
    reason: str | None = None,
) -> Outcome:
    """Remove the champion alias from the first model, whose PR was reverted (step 4)."""
    from retrain.registry import CHAMPION, PREVIOUS

    model, version = record.model, record.withdraws
    current = registry.champion(model)
    if current is None:
        return Outcome("noop", model, None, None, f"{model} has no champion: nothing to withdraw")
    if current.version != version and not force:
        raise PromotionRefused(
            f"the reverted PR introduced v{version}, but the champion is now v{current.version}",
            "revert the later retrain PRs first, or override with --force --reason TEXT",
        )
    registry.set_alias(model, PREVIOUS, current.version)
    registry.delete_alias(model, CHAMPION)
    audit_key = _record_move(
        registry, model, current.version, None, "rolled_back",
        who=who, commit=commit, reason=reason, force=force,
    )  # fmt: skip
    return Outcome(
        "rolled_back",
        model,
        current.version,
        None,
        f"rolled back {model}: champion v{current.version} → none (its PR was reverted)"
        + (" (forced)" if force else ""),
        audit_key,
    )


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.registry import connect

    parser = argparse.ArgumentParser(prog="retrain promote", description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="git ref whose registry.json to promote")
    parser.add_argument("--registry-file", default="registry.json", help="path inside the repo")
    parser.add_argument("--repo", type=Path, default=Path("."), help="git repository (default .)")
    parser.add_argument("--force", action="store_true", help="skip the champion check")
    parser.add_argument("--reason", help="why --force is needed (recorded in the audit trail)")
    args = parser.parse_args(argv)
    logs.setup()
    if args.force and not (args.reason or "").strip():
        raise UserError("--force needs --reason TEXT", "say why, e.g. --reason 'hotfix #123'")
    if args.reason and not args.force:
        raise UserError("--reason is only used with --force", "add --force or drop --reason")
    record, commit = read_record_at(args.repo, args.ref, args.registry_file)
    outcome = promote(
        connect(),
        record,
        commit=commit,
        who=_who(),
        force=args.force,
        reason=args.reason,
    )
    log.info("%s (ref %s, commit %s)", outcome.message, args.ref, commit[:12])
    return 0
