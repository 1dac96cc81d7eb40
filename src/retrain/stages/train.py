"""`retrain train`: AutoML search over model families, best configuration refit, every trial tracked.

Reads build/prepared/train.parquet, writes build/train/{model.skops, search.json, leaderboard.json}.
The search itself is `retrain.search.study` (pure, reusable); this module checks the input before
any training, wires MLflow, and writes the outputs atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.search.study import SearchResult, SearchSettings
    from retrain.search.tracker import Tracker

log = logging.getLogger("retrain.train")

SCHEMA = 1


@dataclass(frozen=True)
class TrainOutcome:
    model: Any  # fitted sklearn Pipeline
    result: SearchResult
    refit_s: float
    search: dict[str, Any]  # search.json
    leaderboard: dict[str, Any]  # leaderboard.json


def check_training_data(frame: pd.DataFrame, settings: SearchSettings) -> None:
    """Every reason the search could not produce a sound model, raised before any fit."""
    import numpy as np
    import pandas as pd

    from retrain.search.study import check_search_space, make_folds

    label = settings.label
    if frame.empty:
        raise UserError(
            "the train set is empty",
            "check prepare.train_window against the extracted window (extract.window)",
        )
    if label not in frame.columns:
        raise UserError(
            f"the train table has no {label!r} column", "re-run prepare, which derives it"
        )
    target = frame[label]
    n_missing = int(target.isna().sum())
    if n_missing:
        raise UserError(
            f"the target {label!r} has {n_missing} missing value(s) (NaN) in the train set",
            "drop rows without a known outcome in prepare, or fix base.target",
        )
    if not pd.api.types.is_numeric_dtype(target):
        raise UserError(
            f"the target {label!r} is {target.dtype}, not numeric",
            "prepare must write 0/1 (classification) or numbers (regression)",
        )
    if settings.task == "classification":
        levels = sorted(pd.unique(target).tolist())
        if not set(levels) <= {0, 1}:
            raise UserError(
                f"classification needs a 0/1 target; {label!r} holds {levels[:6]}",
                "set base.positive_above, or base.task: regression for a numeric target",
            )
        if len(levels) < 2:
            raise UserError(
                f"the target {label!r} has a single class ({levels[0]}) in the train set",
                "widen prepare.train_window or change base.positive_above so both classes occur",
            )
    elif not np.isfinite(target.to_numpy(dtype=float)).all():
        raise UserError(
            f"the target {label!r} has infinite values", "clean the target column in prepare"
        )
    if settings.event_time and settings.event_time not in frame.columns:
        raise UserError(
            f"the train table has no {settings.event_time!r} column (base.event_time)",
            "set base.event_time: null for data without time (CV then uses row order)",
        )
    check_search_space(settings)
    folds = make_folds(frame, settings)
    if settings.task == "classification":
        y = target.to_numpy()
        for fold in folds:
            for part, rows in (("train", fold.train_rows), ("validation", fold.valid_rows)):
                if len(np.unique(y[rows])) < 2:
                    raise UserError(
                        f"CV fold {fold.index} ({part} part, validating {fold.valid_period}) "
                        "has a single class",
                        "use fewer train.cv.folds or a longer train.cv.period",
                    )


def _time_bounds(frame: pd.DataFrame, column: str | None) -> tuple[str | None, str | None]:
    import pandas as pd

    if not column or column not in frame.columns:
        return None, None
    stamps = pd.to_datetime(frame[column], utc=True)
    return stamps.min().isoformat(), stamps.max().isoformat()


def train(
    frame: pd.DataFrame, settings: SearchSettings, tracker: Tracker | None = None
) -> TrainOutcome:
    """The pure core: check, search, refit the best on the whole window, summarise."""
    from retrain.search.study import fit_best, run_search

    started = time.monotonic()
    check_training_data(frame, settings)
    result = run_search(frame, settings, tracker)
    refit_started = time.monotonic()
    model = fit_best(frame, settings, result)
    refit_s = time.monotonic() - refit_started
    train_start, train_end = _time_bounds(frame, settings.event_time)
    best = result.best
    ensemble = result.ensemble
    search = {
        "schema": SCHEMA,
        "task": settings.task,
        "primary_metric": result.primary_metric,
        "greater_is_better": result.greater_is_better,
        "best_family": best.family,
        "best_params": best.params,
        "best_trial": best.number,
        # The model written is the ensemble when one was selected; cv_* and threshold are its.
        "model": "ensemble" if ensemble else "single",
        "ensemble": (
            {
                "members": [
                    {
                        "trial": t.number,
                        "family": t.family,
                        "params": t.params,
                        "cv_score": t.cv_score,
                    }
                    for t in (result.trial(n) for n in ensemble.members)
                ],
                "best_single_cv_score": best.cv_score,
            }
            if ensemble
            else None
        ),
        "cv_score": result.cv_score,
        "cv_fold_scores": result.cv_fold_scores,
        "cv_folds": result.folds,
        "threshold": result.threshold,
        "n_trials": len(result.trials),
        "n_pruned": result.n_pruned,
        "n_trials_this_worker": len(result.local_trials),
        "stopped_by": result.stopped_by,
        "search_s": round(result.search_s, 3),
        "refit_s": round(refit_s, 3),
        "elapsed_s": round(time.monotonic() - started, 3),
        "study_name": result.study_name,
        "mlflow_run_id": getattr(tracker, "run_id", None),
        "train_start": train_start,
        "train_end": train_end,
        "n_train": len(frame),
    }
    leaderboard = {
        "schema": SCHEMA,
        "primary_metric": result.primary_metric,
        "greater_is_better": result.greater_is_better,
        "trials": result.leaderboard(settings.train.leaderboard_size),
    }
    return TrainOutcome(model, result, refit_s, search, leaderboard)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary repo files
        Path(tmp).replace(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def read_table(path: Path, what: str) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise UserError(f"{what} {path} not found", "run the upstream stages (dvc repro prepare)")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise UserError(
            f"{what} {path} is not a readable parquet file: {exc}", "re-run prepare"
        ) from None


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(prog="retrain train", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="prepared train.parquet")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--worker",
        type=int,
        default=0,
        help="index of this worker when several processes share one study (train.storage)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logs.setup(args.verbose)
    if args.worker < 0:
        raise UserError(f"--worker must be >= 0, got {args.worker}", "pass 0, 1, 2, ...")

    from retrain import lineage
    from retrain.config import load_params, params_hash
    from retrain.model_io import save_model
    from retrain.search.study import SearchSettings
    from retrain.search.tracker import MlflowTracker

    params = load_params(args.params)
    settings = SearchSettings.from_params(params, worker=args.worker)
    frame = read_table(args.train, "train table")
    check_training_data(frame, settings)  # before a run is even opened

    root = Path.cwd()
    tracker = MlflowTracker(params.train.experiment or params.base.model_name, root)
    lineage_tags = {
        "git_commit": lineage.git_commit(root),
        "data_hash": lineage.data_hash(root),
        "params_hash": params_hash(params),
    }
    budget = params.train.budget
    tracker.start(
        run_name=f"train-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-w{args.worker}",
        tags={**lineage_tags, "task": settings.task, "primary_metric": settings.primary_metric},
        params={
            "budget.trials": budget.trials,
            "budget.seconds": budget.seconds,
            "cv.period": params.train.cv.period,
            "cv.folds": params.train.cv.folds,
            "families": ",".join(settings.enabled_families()),
            "seed": settings.seed,
            "worker": args.worker,
            "n_train": len(frame),
        },
    )
    try:
        outcome = train(frame, settings, tracker)
        search = outcome.search
        save_model(outcome.model, args.out / "model.skops")
        _write_json(args.out / "leaderboard.json", outcome.leaderboard)
        _write_json(args.out / "search.json", search)
    except BaseException:
        tracker.fail()
        raise
    tracker.finish(
        params={f"best.{k}": v for k, v in search["best_params"].items()}
        | {"best.family": search["best_family"], "model": search["model"]}
        | (
            {"ensemble.members": ",".join(f"{m['trial']}:{m['family']}" for m in members)}
            if (members := (search["ensemble"] or {}).get("members"))
            else {}
        ),
        metrics={
            f"cv_{search['primary_metric']}": search["cv_score"],
            **({"threshold": search["threshold"]} if search["threshold"] is not None else {}),
            "n_trials": search["n_trials"],
            "n_pruned": search["n_pruned"],
            "search_s": search["search_s"],
            "refit_s": search["refit_s"],
        },
        tags={
            "best_family": search["best_family"],
            "study_name": search["study_name"],
            "train_start": str(search["train_start"]),
            "train_end": str(search["train_end"]),
            "stopped_by": search["stopped_by"],
        },
        artifacts={"leaderboard.json": outcome.leaderboard, "search.json": search},
    )
    log.info(
        "model %s: cv %s %.4f (%d trials, %d pruned, stopped by %s) in %.1fs search + %.1fs refit",
        "+".join(m["family"] for m in search["ensemble"]["members"])
        if search["ensemble"]
        else search["best_family"],
        search["primary_metric"],
        search["cv_score"],
        search["n_trials"],
        search["n_pruned"],
        search["stopped_by"],
        search["search_s"],
        search["refit_s"],
    )
    return 0
