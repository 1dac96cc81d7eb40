"""Stage `gate` (and `champion`): may the candidate replace the registry's champion?

Two commands share this module because they share the champion's files:

* `retrain gate --lookup-champion --out build/champion` (DVC stage `champion`, always runs):
  writes the champion's identity (`champion.json`) and its sha256-verified artifact
  (`model.skops`, downloaded only when it changed), so the gate re-runs exactly when the
  champion moved.
* `retrain gate --model … --test … --champion build/champion --out metrics/gate.json`:
  scores candidate and champion on the same pinned test window and applies the rules in
  `params.yaml` `gate:` — value thresholds, change thresholds with an allowed regression, a
  paired bootstrap non-inferiority test, per-slice no-regression, the first-model rule and
  `mode: enforce | dry_run`. With `--train` (the training window: the per-feature leakage
  screen) and `--search` (the search's CV score) it also runs the suspicion checks
  (`gate.suspicion`): a candidate too good to be true is not blessed in any mode unless
  `gate.suspicion.override` names its sha256 with a reason.

A rejected candidate is a normal outcome, not an error: the stage exits 0 and `gate.json`
says `blessed: false`; the push stage then registers nothing.

The rules live in `retrain.gating`, the champion's files in `retrain.champion`, the file
formats in `retrain.artifacts`; this module is the command line and the glue.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from retrain.champion import champion_info, lookup_champion, read_champion
from retrain.errors import UserError
from retrain.gating import evaluate_gate, unchanged_verdict, window_of
from retrain.prepared import read_test_window
from retrain.splitting import champion_free_holdout

log = logging.getLogger("retrain.gate")
SCORING_THREADS = 1


def cli(argv: list[str]) -> int:
    from retrain import logs
    from retrain.config import load_params

    parser = argparse.ArgumentParser(prog="retrain gate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lookup-champion",
        action="store_true",
        help="only write the registry champion's identity to --out (stage `champion`)",
    )
    parser.add_argument("--model", type=Path, help="candidate: build/train/model.skops")
    parser.add_argument("--test", type=Path, help="build/prepared/test.parquet")
    parser.add_argument("--champion", type=Path, help="build/champion (the champion stage's dir)")
    parser.add_argument(
        "--train", type=Path, help="build/prepared/train.parquet (the leakage screen)"
    )
    parser.add_argument("--search", type=Path, help="build/train/search.json (its CV score)")
    parser.add_argument(
        "--out", type=Path, required=True, help="gate.json (or with --lookup-champion: a dir)"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    model_name = params.base.model_name

    if args.lookup_champion:
        from retrain.registry import connect

        info = lookup_champion(model_name, args.out, connect())
        log.info("champion of %s: %s", model_name, f"v{info.version}" if info.version else "none")
        return 0

    missing = [f"--{n}" for n in ("model", "test", "champion") if getattr(args, n) is None]
    if missing:
        raise UserError(
            f"missing {', '.join(missing)}",
            "pass --model, --test and --champion (or --lookup-champion)",
        )
    suspicion = params.gate.suspicion
    needed = []
    if suspicion.enabled and args.search is None:
        needed.append("--search (the suspicion checks compare the test score with the CV score)")
    if suspicion.enabled and suspicion.leakage.enabled and args.train is None:
        needed.append("--train (the leakage screen reads the training window)")
    if needed:
        raise UserError(
            f"missing {'; '.join(needed)}",
            "pass --train build/prepared/train.parquet --search build/train/search.json "
            "(or turn the check off in params.yaml gate.suspicion, a loosening the report flags)",
        )
    from threadpoolctl import threadpool_limits

    from retrain.artifacts import SearchSummary
    from retrain.model_io import load_model, sha256_file
    from retrain.prepared import read_table

    champion, champion_version, champion_sha256 = read_champion(args.champion, model_name)
    test = read_test_window(args.test)
    info = champion_info(args.champion)
    test, note = champion_free_holdout(test, params.base, params.prepare, info)
    if note:
        log.info("%s", note)
    train = read_table(args.train, "training window") if args.train is not None else None
    cv = None
    if args.search is not None:
        search = SearchSummary.read(args.search, "re-run the train stage (dvc repro train)")
        if search.cv_score is not None:
            cv = (search.primary_metric, search.cv_score)
    sha256 = sha256_file(args.model) if args.model.is_file() else None
    candidate = load_model(args.model, expected_sha256=sha256)
    # One thread (OpenMP, BLAS) for scoring and the bootstrap, as train.n_jobs for the search:
    # on a shared box extra OpenMP threads spin-wait for a core and cost CPU for no gain
    # (HistGradientBoosting's predict: bench/README.md, gate).
    with threadpool_limits(limits=SCORING_THREADS):
        result = evaluate_gate(
            params.gate,
            params.base.task,
            test,
            candidate,
            champion,
            champion_version,
            seed=params.base.seed,
            train=train if suspicion.leakage.enabled else None,
            cv=cv,
            candidate_sha256=sha256,
            champion_registered=info.registered,
        )
    if sha256 is not None and sha256 == champion_sha256:
        result = unchanged_verdict(result, champion_version)
    result = result.model_copy(
        update={
            "model": model_name,
            "candidate_sha256": sha256,
            "champion_sha256": champion_sha256,
            "test_window": window_of(test, params.base.event_time),
        }
    )
    result.write(args.out)
    log.info("%s", result.summary)
    return 0
