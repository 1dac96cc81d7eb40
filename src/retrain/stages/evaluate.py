"""`retrain evaluate`: test-window metrics, slice metrics and DVC plot data for the trained model.

Reads build/train/model.skops + search.json (task, primary metric, the threshold chosen on train
CV out-of-fold predictions) and build/prepared/test.parquet. Writes metrics/evaluate.json (flat,
for `dvc metrics diff`), metrics/slices.json and plots/ (declared in dvc.yaml `plots:`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain import fileio
from retrain.artifacts import SearchSummary
from retrain.prepared import read_table

if TYPE_CHECKING:
    pass
from retrain.evaluation import check_search_summary, evaluate

log = logging.getLogger("retrain.evaluate")


def _write_json(path: Path, payload: Any) -> None:
    # indent 1: these are DVC metrics files, compact as they always were
    fileio.write_text(path, json.dumps(payload, indent=1) + "\n")


def write_plots(plots: dict[str, Any], directory: Path) -> None:
    """Replace `directory` as a whole (no stale file from another task survives)."""
    import csv

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    staging.chmod(0o755)  # mkdtemp creates 0700
    try:
        for name, payload in plots.items():
            if name.endswith(".csv"):
                with (staging / name).open("w", newline="", encoding="utf-8") as fh:
                    csv.writer(fh).writerows(payload)
            else:
                (staging / name).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(prog="retrain evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="build/train/model.skops")
    parser.add_argument("--search", type=Path, required=True, help="build/train/search.json")
    parser.add_argument("--test", type=Path, required=True, help="prepared test.parquet")
    parser.add_argument("--metrics", type=Path, required=True, help="metrics JSON to write")
    parser.add_argument("--slices", type=Path, required=True, help="slice metrics JSON to write")
    parser.add_argument("--plots", type=Path, required=True, help="directory for plot data")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logs.setup(args.verbose)

    from retrain.config import load_params
    from retrain.model_io import load_model

    params = load_params(args.params)
    search = SearchSummary.read(args.search, "run the train stage first (dvc repro train)")
    check_search_summary(search, params.base.task)
    frame = read_table(args.test, "test table")
    model = load_model(args.model)
    result = evaluate(
        model,
        frame,
        search,
        task=params.base.task,
        options=params.evaluate,
        seed=params.base.seed,
        classes=params.base.classes,
    )
    _write_json(args.metrics, result.metrics)
    _write_json(args.slices, result.slices)
    write_plots(result.plots, args.plots)
    headline = {"classification": "roc_auc", "multiclass": "roc_auc_ovr"}.get(
        params.base.task, "rmse"
    )
    log.info(
        "test %s %.4f on %d rows; %d slice column(s); %d plot file(s) in %s",
        headline,
        result.metrics[headline],
        result.metrics["n_test"],
        len(result.slices),
        len(result.plots),
        args.plots,
    )
    return 0
