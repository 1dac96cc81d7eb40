"""`retrain verify-data`: do the DVC-tracked files hold exactly the bytes the lock records?

`dvc pull` trusts what it downloads unless the remote has `verify = true`, and `dvc status`
afterwards trusts the hashes it recorded at checkout, so a corrupted remote object can reach the
workspace unnoticed (measured with DVC 3.67: bytes appended to a local remote's object,
`dvc pull` exit 0, `dvc status` "up to date"). This command re-hashes every output that
`dvc.lock` and the `*.dvc` files name, from the bytes in the workspace: a file against its
md5; a directory file by file against its listing (`<md5>.dir` in the DVC cache, itself checked
against its name), with no file missing and none extra. Any difference fails, naming the path.

Outputs absent from the workspace (not pulled, or `cache: false` outputs a run rebuilds) are
listed as not checked, not failed; so are directories whose listing is not in the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.errors import UserError

log = logging.getLogger("retrain.verify-data")

CHUNK = 1 << 20


@dataclass(frozen=True)
class Recorded:
    """An output as a lock records it: where it is, its md5 (`….dir` for a directory)."""

    path: str
    md5: str
    source: str  # the file that records it

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _read_yaml(path: Path, what: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(
            f"{what} {path} is unreadable: {type(exc).__name__}",
            "restore it from git (git checkout -- <file>)",
        ) from None


def _outs(entries: object, source: str, base: Path, root: Path) -> list[Recorded]:
    found = []
    for out in entries if isinstance(entries, list) else []:
        if not isinstance(out, dict) or "path" not in out or "md5" not in out:
            continue
        if out.get("hash") != "md5":  # DVC 2 (dos2unix) hashes: not recomputed here
            log.info("%s: %s has a DVC 2 hash; not checked", source, out["path"])
            continue
        path = (base / str(out["path"])).resolve()
        try:
            rel = path.relative_to(root.resolve()).as_posix()
        except ValueError:
            raise UserError(
                f"{source} names {out['path']}, outside the repository",
                "keep every DVC output inside the repository",
            ) from None
        found.append(Recorded(rel, str(out["md5"]), source))
    return found


def recorded_outputs(root: Path) -> list[Recorded]:
    """Every output `dvc.lock` (stage outs) and the `*.dvc` files (in `root`) record."""
    found: list[Recorded] = []
    lock = root / "dvc.lock"
    if lock.is_file():
        data = _read_yaml(lock, "DVC lock file") or {}
        stages = data.get("stages") if isinstance(data, dict) else None
        for stage in (stages or {}).values():
            if isinstance(stage, dict):
                found += _outs(stage.get("outs"), "dvc.lock", root, root)
    for dvc_file in sorted(p for p in root.glob("*.dvc") if p.is_file()):
        data = _read_yaml(dvc_file, "DVC file") or {}
        outs = data.get("outs") if isinstance(data, dict) else None
        found += _outs(outs, dvc_file.name, root, root)
    return found


def _listing(cache: Path, md5: str) -> list[dict[str, str]] | str:
    """The directory listing from the cache, or why it cannot be used."""
    obj = cache / "files" / "md5" / md5[:2] / md5[2:]
    if not obj.is_file():
        return "not checked: its listing is not in the DVC cache (dvc fetch)"
    if file_md5(obj) != md5.removesuffix(".dir"):
        return f"CORRUPTED: its listing {obj} does not match its hash"
    try:
        entries = json.loads(obj.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return f"CORRUPTED: its listing {obj} is not JSON"
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("md5"), str) and isinstance(e.get("relpath"), str)
        for e in entries
    ):
        return f"CORRUPTED: its listing {obj} is not a DVC directory listing"
    return entries


def check(root: Path, cache: Path) -> tuple[list[str], list[str], int]:
    """(problems, outputs not checked, files verified)."""
    problems: list[str] = []
    skipped: list[str] = []
    verified = 0
    for out in recorded_outputs(root):
        where = root / out.path
        if not where.exists():
            skipped.append(f"{out.path}: absent from the workspace")
            continue
        if not out.is_dir:
            if not where.is_file():
                problems.append(f"{out.path}: {out.source} records a file, found a directory")
            elif (got := file_md5(where)) != out.md5:
                problems.append(f"{out.path}: md5 {got}, {out.source} records {out.md5}")
            else:
                verified += 1
            continue
        listing = _listing(cache, out.md5)
        if isinstance(listing, str):
            (problems if listing.startswith("CORRUPTED") else skipped).append(
                f"{out.path}: {listing}"
            )
            continue
        expected = {e["relpath"]: e["md5"] for e in listing}
        present = {
            p.relative_to(where).as_posix(): p
            for p in where.rglob("*")
            if p.is_file() and not p.is_symlink()
        }
        for rel in sorted(set(expected) - set(present)):
            problems.append(f"{out.path}/{rel}: missing ({out.source} records it)")
        for rel in sorted(set(present) - set(expected)):
            problems.append(f"{out.path}/{rel}: not in the recorded listing")
        for rel in sorted(set(expected) & set(present)):
            if (got := file_md5(present[rel])) != expected[rel]:
                problems.append(
                    f"{out.path}/{rel}: md5 {got}, {out.source} records {expected[rel]}"
                )
            else:
                verified += 1
    return problems, skipped, verified


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(
        prog="retrain verify-data",
        description="re-hash the DVC-tracked outputs in the workspace against dvc.lock and "
        "the *.dvc files (run after `dvc pull`); exit 2 on any difference",
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root")
    parser.add_argument(
        "--cache", type=Path, default=None, help="DVC cache directory (default: <root>/.dvc/cache)"
    )
    args = parser.parse_args(argv)
    logs.setup()
    cache = args.cache if args.cache is not None else args.root / ".dvc" / "cache"
    problems, skipped, verified = check(args.root, cache)
    for item in skipped:
        log.info("%s", item)
    if problems:
        shown = "; ".join(problems[:10]) + (
            f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        )
        raise UserError(
            f"{len(problems)} DVC-tracked file(s) differ from what the lock records: {shown}",
            "a corrupted remote or cache object: remove the named files and their cache "
            "objects (.dvc/cache), set `dvc remote modify <remote> verify true`, and "
            "`dvc pull` again (or rebuild them with `dvc repro`)",
        )
    log.info("%d DVC-tracked file(s) match their recorded md5 (%d output(s) not checked)",
             verified, len(skipped))  # fmt: skip
    return 0
