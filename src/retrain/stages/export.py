"""Stage `export`: the trained Pipeline as an MLflow model directory, with no pickle inside.

The directory is an MLflow pyfunc "model from code": a ten-line entry point (written below)
whose `load_context` loads the skops file through `retrain.model_io` — sha256 checked against
`sha256.txt`, types checked against the repository's allow-list (never the list inside the
artifact). The registry additionally checks the file against the sha256 recorded at push time.
Serving therefore needs this package installed (`mlflow models serve --env-manager local` from
the project's environment, or an image that pip-installs the repository).

Layout of `--out`: MLmodel, python_model.py (entry point), artifacts/model.skops,
artifacts/sha256.txt, artifacts/types.txt, input_example.json, serving_input_example.json,
requirements.txt (explicit: inferring them costs seconds), python_env.yaml, conda.yaml.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from retrain.artifacts import SearchSummary
from retrain.errors import UserError
from retrain.exporting import export_model

log = logging.getLogger("retrain.export")


def _threshold(search_path: Path | None, task: str) -> float | None:
    """The decision threshold train tuned (classification); None for regression."""
    if task != "classification":
        return None
    if search_path is None:
        return 0.5
    search = SearchSummary.read(search_path, "run the train stage (dvc repro train)")
    if search.threshold is None or not 0.0 <= search.threshold <= 1.0:
        raise UserError(
            f"{search_path} has no usable 'threshold' ({search.threshold!r})",
            f"re-run the train stage with base.task: {task}",
        )
    return search.threshold


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params

    parser = argparse.ArgumentParser(prog="retrain export", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="build/train/model.skops")
    parser.add_argument("--test", type=Path, required=True, help="build/prepared/test.parquet")
    parser.add_argument("--search", type=Path, help="build/train/search.json (threshold)")
    parser.add_argument("--out", type=Path, required=True, help="build/export/model")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    if not args.test.is_file():
        raise UserError(f"test file not found: {args.test}", "run the prepare stage first")
    summary = export_model(
        args.model,
        args.test,
        args.out,
        task=params.base.task,
        threshold=_threshold(args.search, params.base.task),
        input_example_rows=params.export.input_example_rows,
        parity_rows=params.export.parity_rows,
        classes=params.base.classes,
    )
    log.info(
        "exported %s (sha256 %s…, %d features, parity checked) to %s",
        args.model,
        summary["sha256"][:12],
        summary["features"],
        args.out,
    )
    return 0
