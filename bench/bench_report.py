"""Workflow timings: `retrain report` generation, and the retrain job's steps as the local
runner executes them (tests/workflows/local_runner.py: the real steps of retrain.yml's build job
in a fresh clone; the publish job, which only talks to GitHub, is not timed).

    uv run python bench/bench_report.py            # report + retrain job, small budget
    uv run python bench/bench_report.py --full     # + the job on the committed params.yaml

Writes bench/results/workflows.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import save

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

FIX = ROOT / "tests" / "fixtures" / "report"
RETRAIN = ROOT / ".venv" / "bin" / "retrain"


def report_repo(base: Path) -> Path:
    """The fixture run of tests/test_report.py: main holds the champion, the workspace a run."""
    root = base / "repo"
    root.mkdir()
    run = lambda *cmd: subprocess.run(cmd, cwd=root, check=True, capture_output=True)  # noqa: E731
    run("git", "init", "-q", "-b", "main")
    run(sys.executable, "-m", "dvc", "init", "-q")
    (root / "metrics").mkdir()
    shutil.copyfile(FIX / "dvc.yaml", root / "dvc.yaml")
    shutil.copyfile(FIX / "params.yaml", root / "params.yaml")
    shutil.copyfile(FIX / "evaluate_main.json", root / "metrics/evaluate.json")
    run("git", "add", "-A")
    run("git", "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-q", "-m", "c")
    shutil.copyfile(FIX / "evaluate.json", root / "metrics/evaluate.json")
    for src, dest in [
        ("gate.json", "metrics/gate.json"),
        ("registry.json", "registry.json"),
        ("search.json", "build/train/search.json"),
        ("leaderboard.json", "build/train/leaderboard.json"),
        ("result.json", "build/validation/result.json"),
        ("trigger.json", "build/trigger.json"),
    ]:
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIX / src, root / dest)
    shutil.copytree(FIX / "plots", root / "plots")
    return root


def measure(cmd: list[str], cwd: Path) -> dict:
    """Wall time, CPU time (user + sys, load-independent) and peak RSS of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def repeat(cmd: list[str], runs: int, cwd: Path) -> dict:
    results = [measure(cmd, cwd) for _ in range(runs)]
    return {
        "runs": runs,
        "wall_s_median": statistics.median(r["wall_s"] for r in results),
        "cpu_s_median": statistics.median(r["cpu_s"] for r in results),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def bench_report(base: Path, runs: int) -> dict:
    root = report_repo(base)
    cmd = [str(RETRAIN), "report", "--drift", str(FIX / "drift.json")]
    with_diff = repeat([*cmd, "--baseline-ref", "main"], runs, cwd=root)
    no_plots = repeat([*cmd, "--baseline-ref", "main", "--plots", "none"], runs, cwd=root)
    offline = repeat([*cmd, "--plots", "none"], runs, cwd=root)
    return {
        "full_report_with_dvc_diffs_and_3_plots": with_diff,
        "without_plots": no_plots,
        "without_baseline_or_plots": offline,
    }


def bench_job(base: Path, params_text: str | None, label: str) -> dict:
    from workflows.helpers import load_workflow
    from workflows.local_runner import JobResult, checkout, make_runner, seed_origin

    origin = seed_origin(ROOT, base / label, params_text)
    run_dir = base / label / "run"
    run_dir.mkdir()
    workdir, sha = checkout(origin, run_dir / "checkout")
    event = json.loads((ROOT / "tests/fixtures/workflows/repository_dispatch.json").read_text())
    if params_text is None:
        # the committed params: let the payload window stay inside their test window
        event["client_payload"]["window"] = {"start": "2013-10-01", "end": "2014-01-01"}
    secrets = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{base / label / 'registry.db'}",
        "RETRAIN_BOT_TOKEN": "bench-token",
    }
    runner = make_runner(workdir, sha, "repository_dispatch", event, secrets, run_dir)
    started = time.perf_counter()
    preflight = JobResult([], "", "success", {"ready": "true"})
    job = runner.run_job(load_workflow("retrain.yml"), "build", {"preflight": preflight})
    total = time.perf_counter() - started
    failed = [s.name for s in job.steps if s.outcome == "failure"]
    return {
        "ok": not failed,
        "failed_steps": failed,
        "failure_tail": [
            s.stderr.strip().splitlines()[-1:] for s in job.steps if s.outcome == "failure"
        ],
        "blessed": job.step("Write the report").outputs.get("blessed"),
        "total_s": round(total, 1),
        "steps_s": {s.name: s.seconds for s in job.steps if s.outcome != "skipped"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repeats of the report timing")
    parser.add_argument("--full", action="store_true", help="also the committed params.yaml")
    parser.add_argument("--no-job", action="store_true", help="report timing only")
    args = parser.parse_args()

    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        base = Path(tmp)
        result["report"] = bench_report(base, args.runs)
        print(json.dumps(result["report"], indent=1))
        if not args.no_job:
            from workflows.test_run_workflows import tiny_params

            small = tiny_params((ROOT / "params.yaml").read_text())
            result["retrain_job_small_budget"] = bench_job(base, small, "small")
            print(json.dumps(result["retrain_job_small_budget"], indent=1))
            if args.full:
                result["retrain_job_full_params"] = bench_job(base, None, "full")
                print(json.dumps(result["retrain_job_full_params"], indent=1))
    print(save("workflows", result))


if __name__ == "__main__":
    main()
