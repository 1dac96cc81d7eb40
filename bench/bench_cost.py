"""Do the stages' cost records add up? A full `dvc repro` of a fresh clone under
`/usr/bin/time`, then the sum of metrics/cost/<stage>.json against the whole run's CPU.

The difference is what no stage records: `dvc` itself (hashing, lock files) and the champion
lookup, which records no cost (it runs on every `dvc repro`). Goal (issue 16): within 10 %.

    uv run python bench/bench_cost.py            # -> bench/results/cost.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import save

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["retrain", "data"], cwd=clone, env=env, check=True)
        timing = Path(tmp) / "time.txt"
        subprocess.run(
            ["/usr/bin/time", "-o", str(timing), "-f", "%e %U %S %M", "dvc", "repro"],
            cwd=clone,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall, user, system, peak_kb = timing.read_text().split()[-4:]
        records = {
            p.stem: json.loads(p.read_text())
            for p in sorted((clone / "metrics/cost").glob("*.json"))
        }
    whole_cpu = float(user) + float(system)
    stages_cpu = sum(r["cpu_s"] for r in records.values())
    result = {
        "command": "dvc repro (fresh clone, bundled data, default params)",
        "load_average": os.getloadavg(),
        "whole_run": {
            "wall_s": float(wall),
            "cpu_s": round(whole_cpu, 1),
            "peak_rss_mb": round(int(peak_kb) / 1024, 1),
        },
        "stages": {
            name: {k: r[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "usd")}
            for name, r in records.items()
        },
        "sum_of_stages": {
            "cpu_s": round(stages_cpu, 1),
            "wall_s": round(sum(r["wall_s"] for r in records.values()), 1),
            "usd": round(sum(r["usd"] for r in records.values()), 4),
        },
        "unrecorded_cpu_share": round(1 - stages_cpu / whole_cpu, 4),
    }
    print(json.dumps(result, indent=2))
    save("cost", result)


if __name__ == "__main__":
    main()
