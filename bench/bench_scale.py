"""The full pipeline on 1×, 3×, 10× the bundled data (issue 17: 10× in ≤ 12× the 1× wall,
≤ 8 GB peak RSS).

For each factor: a fresh clone, `retrain data`, the k× tables from `scale_data.py` (copies of
2013 moved forward by whole 52-week years), params windows moved with them (train on all but
the last 92 days, test on those) and the row cap raised, then one `dvc repro` measured whole
(wall, CPU, peak RSS over every stage process) plus each stage's own cost record.

    uv run python bench/bench_scale.py --factors 1 3 10 [--budget 60]  # -> results/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from harness import measure, save
from scale_data import scale

ROOT = Path(__file__).resolve().parents[1]
TEST_DAYS = 92


def _params(text: str, end: str, budget: int) -> str:
    test_start = (date.fromisoformat(end) - timedelta(days=TEST_DAYS)).isoformat()
    edits = {
        '    end: "2014-01-01"': f'    end: "{end}"',
        'train_window: {start: "2013-01-01", end: "2013-10-01"}': (
            f'train_window: {{start: "2013-01-01", end: "{test_start}"}}'
        ),
        'test_window: {start: "2013-10-01", end: "2014-01-01"}': (
            f'test_window: {{start: "{test_start}", end: "{end}"}}'
        ),
        "rows: {min: 100, max: 2000000}": "rows: {min: 100, max: 50000000}",
        "    seconds: 60 ": f"    seconds: {budget} ",
    }
    for old, new in edits.items():
        if old not in text:
            raise SystemExit(f"params.yaml no longer contains {old!r}: update bench_scale.py")
        text = text.replace(old, new, 1)
    return text


def run(factor: int, budget: int, env: dict[str, str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-scale{factor}-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        quiet = {"cwd": clone, "env": env, "check": True, "stdout": subprocess.DEVNULL}
        subprocess.run(["retrain", "data"], **quiet)
        scaled = Path(tmp) / "scaled"
        _, end = scale(clone / "data", scaled, factor)
        for path in scaled.iterdir():
            os.replace(path, clone / "data" / path.name)
        subprocess.run(["dvc", "add", "-q", "data"], **quiet)
        params = clone / "params.yaml"
        params.write_text(_params(params.read_text(), end, budget))
        env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{clone / 'mlruns.db'}"}
        whole = measure(["dvc", "repro"], cwd=clone, env=env)
        stages = {
            p.stem: {k: r[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")}
            for p in sorted((clone / "metrics/cost").glob("*.json"))
            for r in [json.loads(p.read_text())]
        }
        rows = sum(1 for _ in (clone / "data").glob("*"))  # files, a sanity check
        search = json.loads((clone / "build/train/search.json").read_text())
        gate = json.loads((clone / "metrics/gate.json").read_text())
    return {
        "factor": factor,
        "window_end": end,
        "data_files": rows,
        "whole_dvc_repro": whole,
        "stages": stages,
        "train_rows": search.get("train_rows") or search.get("rows"),
        "candidate_metrics": gate.get("candidate") or gate.get("metrics"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--budget", type=int, default=60, help="train.budget.seconds")
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    results = []
    for factor in args.factors:
        load = os.getloadavg()
        try:
            result = run(factor, args.budget, env)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            # a factor that fails (memory, a validation bound) is a result too: keep the others
            result = {"factor": factor, "failed": str(exc)[-3000:]}
        result["load_average_before"] = load
        result["load_average_after"] = os.getloadavg()
        results.append(result)
        print(json.dumps(result, indent=1), flush=True)
    base = next((r for r in results if r["factor"] == 1), None)
    if base:
        for r in results:
            if "whole_dvc_repro" not in r or "whole_dvc_repro" not in base:
                continue
            r["wall_ratio_vs_1x"] = round(
                r["whole_dvc_repro"]["wall_s"] / base["whole_dvc_repro"]["wall_s"], 2
            )
    path = save(
        "scale",
        {
            "command": f"bench/bench_scale.py --factors {' '.join(map(str, args.factors))} "
            f"--budget {args.budget}",
            "results": results,
        },
    )
    print(path)


if __name__ == "__main__":
    main()
