"""One search worker at budget 2B vs two workers at budget B each, on one PostgreSQL study.

Full data (the prepared tables: train Jan–Sep, test Oct–Dec). A throw-away PostgreSQL (Debian's
binaries, tests/postgres_support.py) holds the studies; MLflow is a sqlite store in a temp dir.

    solo: `retrain train --search-only` (train.budget.trials = 2B), then `--finalize`
    duo:  two `retrain train --search-only --worker {0,1}` at once (B each), then `--finalize`

Every step is a whole process (wall, peak RSS via os.wait4); the CV score is the finalize
step's search.json, the test ROC AUC is the finalized model's on the test rows. Budgets are in
trials (train.budget.seconds set far above), so both sides run exactly 2B trials.

    nice uv run python bench/bench_search_workers.py [--trials-per-worker 4]

Writes bench/results/search_workers.json (with the load average: the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import save  # noqa: E402


def _start(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Any]:
    err = open(cwd / f"stderr-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115 - closed in _wait
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err), err


def _wait(proc: subprocess.Popen, err: Any) -> dict[str, float]:
    _, status, usage = os.wait4(proc.pid, 0)
    err.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{proc.args} failed:\n{Path(err.name).read_text()[-3000:]}")
    return {"peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def _run(cmds: list[list[str]], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start the commands together, wait for all: wall of the group, peak RSS of each."""
    started = time.perf_counter()
    procs = [_start(c, cwd, env) for c in cmds]
    rss = [_wait(p, e)["peak_rss_mb"] for p, e in procs]
    return {"wall_s": round(time.perf_counter() - started, 1), "peak_rss_mb": rss}


def _scenario(
    name: str, workers: int, trials: int, work: Path, storage: str, args: argparse.Namespace
) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    from retrain.metrics import score
    from retrain.model_io import load_model
    from retrain.scoring import predict_scores

    project = work / name
    project.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"].update(
        storage=storage,
        study_name=name,
        budget={"trials": trials, "seconds": 100000},
    )
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    base = ["retrain", "train", "--train", str(args.train)]
    search = _run(
        [[*base, "--search-only", "--worker", str(w)] for w in range(workers)], project, env
    )
    final = _run([[*base, "--finalize", "--out", "out"]], project, env)
    summary = json.loads((project / "out" / "search.json").read_text())
    test = pd.read_parquet(args.test)
    model = load_model(project / "out" / "model.skops")
    pred = predict_scores(model, test.drop(columns=["label"]), "classification")
    return {
        "workers": workers,
        "trials_per_worker": trials,
        "n_trials": summary["n_trials"],
        "search": search,
        "finalize": final,
        "wall_s": round(search["wall_s"] + final["wall_s"], 1),
        "cv_roc_auc": summary["cv_score"],
        "test_roc_auc": round(float(score("roc_auc", test["label"].to_numpy(), pred)), 4),
        "model": summary["model"],
        "best_trial": summary["best_trial"],
        "best_family": summary["best_family"],
        "ensemble": [m["trial"] for m in (summary["ensemble"] or {}).get("members", [])],
        "n_test": int(np.size(pred)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=ROOT / "build/prepared/train.parquet")
    parser.add_argument("--test", type=Path, default=ROOT / "build/prepared/test.parquet")
    parser.add_argument("--trials-per-worker", type=int, default=4, help="B")
    args = parser.parse_args()
    args.train, args.test = args.train.resolve(), args.test.resolve()
    from postgres_support import postgres_server

    budget = args.trials_per_worker
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp, postgres_server() as url:
        work = Path(tmp)
        solo = _scenario("solo", 1, 2 * budget, work, url, args)
        duo = _scenario("duo", 2, budget, work, url, args)
    result = {
        "B": budget,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "solo_one_worker_2B": solo,
        "duo_two_workers_B_each": duo,
    }
    print(json.dumps(result, indent=2))
    print(save("search_workers", result))


if __name__ == "__main__":
    main()
