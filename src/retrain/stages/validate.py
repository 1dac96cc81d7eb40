"""`retrain validate`: a great-expectations 1.x suite built from params.yaml; fails closed.

The suite (column set, dtypes, not-null shares, ranges, category sets, row count, target
classes, event-time window, unique keys and rows) is data in the `validate` section; this module
only turns it into GX expectations, runs them on an in-memory pandas batch (ephemeral context:
nothing written, no network) and reports. Outputs are written even when the data fails, then
`ValidationFailed` (exit 1) names every failing expectation with what was observed, so nothing
downstream runs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from retrain import fileio
from retrain.errors import UserError, ValidationFailed

if TYPE_CHECKING:
    import pandas as pd

from retrain.validation import (
    RESULT_FILE,
    SUMMARY_FILE,
    ValidationReport,
    failure_message,
    render_summary,
    validate_features,
)

log = logging.getLogger("retrain.validate")


def write_outputs(report: ValidationReport, out_dir: Path) -> None:
    report.result().write(out_dir / RESULT_FILE)
    fileio.write_text(out_dir / SUMMARY_FILE, render_summary(report))


def read_features(path: Path) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise UserError(
            f"features file not found: {path}",
            "run `retrain extract` first (or `dvc repro extract`), or pass --features",
        )
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt/non-parquet file
        raise UserError(
            f"cannot read features file {path} as parquet: {exc}",
            "re-create it with `retrain extract`; validate reads the extract stage's parquet",
        ) from None


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="retrain validate",
        description="Validate the features table with a great-expectations suite from params.",
    )
    parser.add_argument("--features", type=Path, required=True, help="features parquet")
    parser.add_argument("--out", type=Path, required=True, help="directory for result.json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    from retrain import logs
    from retrain.config import load_params

    logs.setup(args.verbose)
    # A stale passing result must never survive a run that fails before writing a new one.
    for name in (RESULT_FILE, SUMMARY_FILE):
        (args.out / name).unlink(missing_ok=True)
    params = load_params(args.params)
    frame = read_features(args.features)
    report = validate_features(frame, params)
    write_outputs(report, args.out)
    log.info(
        "%s rows, %d expectations, %d failed (%.1f s) -> %s",
        f"{report.n_rows:,}",
        len(report.checks),
        len(report.failures),
        report.elapsed_s,
        args.out / RESULT_FILE,
    )
    if not report.success:
        raise ValidationFailed(
            failure_message(report),
            f"see {args.out / SUMMARY_FILE}; fix the data, or if the change is expected, "
            "update the `validate` section of params.yaml",
        )
    return 0
