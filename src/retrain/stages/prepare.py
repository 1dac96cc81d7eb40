"""`retrain prepare`: validated features -> train/test tables with a `label` column.

Runs only after a successful validation. Time-ordered split (train window, then test window)
when the features have `base.event_time`; otherwise a split by a stable hash of each row's
identity (base.key or the derived row_id; seed-independent, see docs/contracts.md). Leakage
columns (known only after departure, and the raw target) are dropped.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.artifacts import ValidationResult
from retrain.errors import UserError, ValidationFailed

if TYPE_CHECKING:
    pass
from retrain.splitting import split

log = logging.getLogger("retrain.prepare")


def require_validation(path: Path, n_rows: int | None = None) -> None:
    """Refuse unless validate's result.json says the features passed."""
    hint = "run `retrain validate` (or `dvc repro validate`) on these features first"
    if not path.is_file():
        raise UserError(f"validation result {path} not found; refusing to prepare", hint)
    result = ValidationResult.read(path, hint)
    if not result.success:
        failed = [f"{c.expectation}({c.column})" for c in result.checks if not c.success]
        raise ValidationFailed(
            f"validation failed ({path}): {', '.join(failed) or 'see the summary'}; "
            "refusing to prepare",
            "fix the data or the validate section of params.yaml, then re-run validate",
        )
    recorded = result.n_rows
    if n_rows is not None and recorded is not None and recorded != n_rows:
        raise UserError(
            f"validation result {path} is for {recorded:,} rows but the features have "
            f"{n_rows:,}: it belongs to another features file",
            hint,
        )


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain prepare", description=__doc__)
    parser.add_argument("--features", type=Path, required=True, help="extract's parquet")
    parser.add_argument("--validation", type=Path, required=True, help="validate's result.json")
    parser.add_argument("--out", type=Path, required=True, help="dir for train/test.parquet")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)

    from retrain import logs
    from retrain.config import load_params
    from retrain.fileio import write_tables

    logs.setup()
    started = time.perf_counter()
    params = load_params(args.params)
    require_validation(args.validation)
    if not args.features.is_file():
        raise UserError(f"features file {args.features} not found", "run `retrain extract` first")
    import pandas as pd

    frame = pd.read_parquet(args.features)
    require_validation(args.validation, n_rows=len(frame))
    result = split(frame, params.base, params.prepare)
    write_tables({args.out / "train.parquet": result.train, args.out / "test.parquet": result.test})
    log.info(
        "%s split: train %s rows, test %s rows (dropped %s without %s, %s outside the "
        "windows; removed %d leakage columns) -> %s (%.1f s)",
        result.mode,
        f"{len(result.train):,}",
        f"{len(result.test):,}",
        f"{result.n_without_target:,}",
        params.base.target,
        f"{result.n_outside_windows:,}",
        len(result.dropped_columns),
        args.out,
        time.perf_counter() - started,
    )
    return 0
