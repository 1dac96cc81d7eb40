"""`retrain monitor --current-rows` on tables without a time column: whole-process wall, CPU and
peak RSS (os.wait4: the rusage covers every waited descendant).

Tables: scikit-learn's breast cancer (binary, 569 rows) and diabetes (regression, 442 rows).
Each project is built like tests/monitor/test_monitor_untimed.py does: 150 rows held out,
`retrain init` on the rest (init drafts `monitor.bins: 5`), a champion (scaler + logistic / ridge)
fitted on the hash split's training side, exported and registered in a sqlite MLflow store
with push's split tags. Then, alternated, N runs each of the monitor on the held-out rows
(calm, exit 0) and on them with ten / five size columns x1.6 (drift, exit 10).

    uv run python bench/bench_monitor_untimed.py [--runs 3] [--result monitor_untimed]

One unmeasured run per table first (with PYTHONDONTWRITEBYTECODE unset it writes the bytecode
cache the measured runs then use; with it set, every process compiles mlflow & co. again).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "monitor"), str(Path(__file__).parent)]

from harness import measure, save, summarize  # noqa: E402
from test_monitor_untimed import SCALED, build  # noqa: E402


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """measure() of one monitor run; exit 10 (retrain) is an outcome, not a failure."""
    return measure(cmd, cwd=cwd, env=env, ok_exits=(0, 10))


def main() -> int:
    from sklearn.datasets import load_breast_cancer, load_diabetes

    from registry_support import fresh_store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--result", default="monitor_untimed", help="results/<name>.json")
    args = parser.parse_args()
    tables = {
        "cancer": ("breast_cancer", load_breast_cancer(as_frame=True).frame),
        "diabetes": ("diabetes", load_diabetes(as_frame=True, scaled=False).frame),
    }
    results: dict[str, dict] = {}
    retrain = str(Path(sys.executable).parent / "retrain")
    with tempfile.TemporaryDirectory(prefix="monitor-untimed-") as tmp:
        uri = fresh_store(Path(tmp))
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        for which, (name, frame) in tables.items():
            project = build(Path(tmp) / which, name, frame, uri)
            project.new.to_csv(project.root / "data" / "calm.csv", index=False)
            shifted = project.new.copy()
            shifted[SCALED[which]] = shifted[SCALED[which]] * 1.6
            shifted.to_csv(project.root / "data" / "shifted.csv", index=False)
            runs: dict[str, list[dict[str, float]]] = {"calm": [], "shifted": []}
            loads = []
            warm = [retrain, "monitor", "--current-rows", "data/calm.csv", "--out", "out-warm"]
            run(warm, project.root, env)
            for _ in range(args.runs):
                for kind in runs:
                    cmd = [retrain, "monitor", "--current-rows", f"data/{kind}.csv"]
                    runs[kind].append(run([*cmd, "--out", f"out-{kind}"], project.root, env))
                    loads.append(os.getloadavg()[0])
            results[which] = {
                "rows_table": len(project.table),
                "rows_new": len(project.new),
                **{
                    kind: {**summarize(r), "exit": sorted({x["exit"] for x in r})}
                    for kind, r in runs.items()
                },
                "load_average_1m": [round(min(loads), 1), round(max(loads), 1)],
            }
            print(which, results[which], flush=True)
    cache = "off" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    save(args.result, {"runs_each": args.runs, "bytecode_cache": cache, "tables": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
