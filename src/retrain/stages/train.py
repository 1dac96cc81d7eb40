"""`retrain train`: AutoML search over model families, best configuration refit, every trial tracked.

Reads build/prepared/train.parquet, writes build/train/{model.skops, search.json, leaderboard.json}.
The search itself is `retrain.search.study` (pure, reusable); this module checks the input before
any training, wires MLflow, and writes the outputs atomically.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from retrain.artifacts import (
    SearchSummary,
)
from retrain.errors import UserError
from retrain.prepared import read_table
from retrain.training import check_training_data, require_shared_study, search_only, train

log = logging.getLogger("retrain.train")


def _run_record(search: SearchSummary) -> dict[str, dict[str, Any]]:
    """The parent MLflow run's params, metrics and tags for the search's outcome."""
    members = search.ensemble.members if search.ensemble else []
    params: dict[str, Any] = {f"best.{k}": v for k, v in search.best_params.items()}
    params |= {"best.family": search.best_family, "model": search.model}
    if members:
        params["ensemble.members"] = ",".join(f"{m.trial}:{m.family}" for m in members)
    metrics: dict[str, Any] = {f"cv_{search.primary_metric}": search.cv_score}
    if search.threshold is not None:
        metrics["threshold"] = search.threshold
    metrics |= {
        "n_trials": search.n_trials,
        "n_pruned": search.n_pruned,
        "search_s": search.search_s,
        "refit_s": search.refit_s,
    }
    tags = {
        "best_family": search.best_family,
        "study_name": search.study_name,
        "train_start": search.train_start,
        "train_end": search.train_end,
        "stopped_by": search.stopped_by,
    }
    tags = {k: v for k, v in tags.items() if v is not None}  # absent, never "None"
    return {"params": params, "metrics": metrics, "tags": tags}


def _search_only(frame: Any, settings: Any, tracker: Any) -> int:
    """A worker: its trials go to the shared study (and MLflow); the decision is --finalize's."""
    try:
        result = search_only(frame, settings, tracker)
    except BaseException:
        tracker.fail()
        raise
    tracker.finish(
        params={},
        metrics={
            "n_trials_this_worker": len(result.local_trials),
            "n_trials": len(result.trials),
            "search_s": result.search_s,
            f"study_best_cv_{result.primary_metric}": result.best.cv_score,
        },
        tags={"study_name": result.study_name, "stopped_by": result.stopped_by},
        artifacts={},
    )
    log.info(
        "worker %d: %d trial(s) in %.1fs (stopped by %s); study %s has %d, best so far trial %d "
        "(cv %s %.4f); run `retrain train --finalize` after the last worker",
        settings.worker,
        len(result.local_trials),
        result.search_s,
        result.stopped_by,
        result.study_name,
        len(result.trials),
        result.best.number,
        result.primary_metric,
        result.best.cv_score,
    )
    return 0


def cli(argv: list[str]) -> int:
    from retrain import logs

    parser = argparse.ArgumentParser(prog="retrain train", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="prepared train.parquet")
    parser.add_argument("--out", type=Path, help="output directory (not with --search-only)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--worker",
        type=int,
        default=0,
        help="index of this worker when several processes share one study (train.storage)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--search-only",
        action="store_true",
        help="a worker of a shared study (train.storage): run trials, write no model",
    )
    mode.add_argument(
        "--finalize",
        action="store_true",
        help="after the workers: pick the best trial and ensemble from ALL the study's "
        "trials, refit once, write the outputs (runs no trial)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logs.setup(args.verbose)
    if args.out is None and not args.search_only:
        parser.error("--out is required (except with --search-only)")
    if args.worker < 0:
        raise UserError(f"--worker must be >= 0, got {args.worker}", "pass 0, 1, 2, ...")

    from retrain import cost, lineage
    from retrain.config import load_params, params_hash
    from retrain.model_io import save_model
    from retrain.search.study import SearchSettings
    from retrain.search.tracker import MlflowTracker

    params = load_params(args.params)
    settings = SearchSettings.from_params(params, worker=args.worker)
    frame = read_table(args.train, "train table")
    for flag, given in (("--search-only", args.search_only), ("--finalize", args.finalize)):
        if given:
            require_shared_study(settings, flag)
    check_training_data(frame, settings)  # before a run is even opened

    root = Path.cwd()
    tracker = MlflowTracker(params.train.experiment or params.base.model_name, root)
    lineage_tags = {
        "git_commit": lineage.git_commit(root),
        "data_hash": lineage.data_hash(root),
        "params_hash": params_hash(params),
    }
    tracker.close_stale_runs(params.train.stale_run_hours)  # runs a killed train left RUNNING
    budget = params.train.budget
    tracker.start(
        run_name=f"train-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-"
        + ("final" if args.finalize else f"w{args.worker}"),
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
    if args.search_only:
        return _search_only(frame, settings, tracker)
    try:
        # train.budget.seconds counts from here (start-up, params, data and the MLflow run
        # are open): checks, search and refit, which is what search.json elapsed_s measures.
        outcome = train(frame, settings, tracker, finalize=args.finalize)
        search = outcome.search
        save_model(outcome.model, args.out / "model.skops")
        outcome.leaderboard.write(args.out / "leaderboard.json")
        search.write(args.out / "search.json")
    except BaseException:
        tracker.fail()
        raise
    # What the stage cost up to here, from the OS (the final record: metrics/cost/train.json).
    spent = cost.measure("train", params.cost.price_per_cpu_hour, params.cost.cpu_limit("train"))
    record = _run_record(search)
    record["metrics"] |= {
        f"cost.{name}": getattr(spent, name) for name in ("wall_s", "cpu_s", "peak_rss_mb", "usd")
    }
    tracker.finish(
        **record,
        artifacts={
            "leaderboard.json": outcome.leaderboard.to_dict(),
            "search.json": search.to_dict(),
        },
    )
    members = search.ensemble.members if search.ensemble else []
    log.info(
        "model %s: cv %s %.4f (%d trials, %d pruned, stopped by %s) in %.1fs search + %.1fs refit "
        "(estimated %.1fs, %s) of a %.0fs budget",
        "+".join(m.family for m in members) if members else search.best_family,
        search.primary_metric,
        search.cv_score,
        search.n_trials,
        search.n_pruned,
        search.stopped_by,
        search.search_s,
        search.refit_s,
        search.refit.estimate_s if search.refit else float("nan"),
        search.refit.reason if search.refit else "-",
        params.train.budget.seconds,
    )
    return 0
