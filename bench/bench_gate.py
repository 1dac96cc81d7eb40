"""Gate stage on the full pipeline outputs: whole-process wall, CPU and peak RSS with the
suspicion checks and the per-feature leakage screen, without the screen, and without any
suspicion check (the gate as before), plus the screen alone in-process.

Run from the project root after `make pipeline`:
`nice uv run python bench/bench_gate.py [--runs 3]`. Reads build/prepared/{train,test}.parquet,
build/train/{model.skops,search.json}; the champion is a copy of the candidate (so the paired
bootstrap and the slice checks run in full: 1,000 resamples as in params.yaml). Writes
bench/results/gate.json.

Before/after: `--src DIR --name gate_before --variants with_leakage_screen` measures the gate
of another checkout's sources (e.g. `git archive <rev> src | tar -x -C DIR`), put first on
PYTHONPATH of the measured processes, on the same files.
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

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from harness import save

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "build/prepared/train.parquet"
TEST = ROOT / "build/prepared/test.parquet"
MODEL = ROOT / "build/train/model.skops"
SEARCH = ROOT / "build/train/search.json"


def measure(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> dict[str, float | int]:
    """Whole-process wall time, CPU time (user + sys) and peak RSS; median over runs."""
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-2000:]}")
        cpus.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss / 1024)
    return {
        "runs": runs,
        "wall_s_median": round(statistics.median(walls), 2),
        "cpu_s_median": round(statistics.median(cpus), 2),
        "peak_rss_mb": round(max(rss), 1),
    }


def screen_alone(params: dict) -> dict[str, float | int]:
    import pandas as pd

    from retrain.config import parse_params
    from retrain.gating import leakage_screen
    from retrain.model_io import load_model, sha256_file

    settings = parse_params(params).gate.suspicion
    train = pd.read_parquet(TRAIN)
    model = load_model(MODEL, expected_sha256=sha256_file(MODEL))
    start, cpu = time.perf_counter(), time.process_time()
    scores, bound = leakage_screen(settings, "classification", train, model, seed=42)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    top = sorted(((v, k) for k, v in scores.items() if v is not None), reverse=True)[:3]
    return {
        "train_rows": len(train),
        "features": len(scores),
        "sample_rows": settings.leakage.sample_rows,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "strongest": {k: round(v, 4) for v, k in top},
        "bound": bound,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--src", type=Path, help="measure the gate of this checkout's src/")
    parser.add_argument("--name", default="gate", help="results file name (results/NAME.json)")
    parser.add_argument("--variants", nargs="*", help="variants to run (default: all)")
    args = parser.parse_args()
    for path in (TRAIN, TEST, MODEL, SEARCH):
        if not path.is_file():
            sys.exit(f"{path} missing: run `make pipeline` first")
    from retrain.model_io import sha256_file

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    retrain = [sys.executable, "-m", "retrain", "gate"]
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        champion = work / "champion"
        champion.mkdir()
        shutil.copyfile(MODEL, champion / "model.skops")
        (champion / "champion.json").write_text(
            json.dumps(
                {
                    "schema": 1,
                    "model": raw["base"]["model_name"],
                    "version": "1",
                    "sha256": sha256_file(MODEL),
                }
            )
        )
        common = ["--model", str(MODEL), "--test", str(TEST), "--champion", str(champion)]
        one_thread = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        variants = {
            "with_leakage_screen": (True, True, None),
            "with_leakage_screen_one_thread": (True, True, one_thread),
            "suspicion_without_screen": (True, False, None),
            "no_suspicion_checks": (False, False, None),
        }
        src = {} if args.src is None else {"PYTHONPATH": str(args.src.resolve() / "src")}
        for name, (enabled, screen, env) in variants.items():
            if args.variants and name not in args.variants:
                continue
            params = json.loads(json.dumps(raw))
            suspicion = params["gate"].setdefault("suspicion", {})
            suspicion["enabled"] = enabled
            suspicion.setdefault("leakage", {})["enabled"] = screen
            path = work / f"{name}.yaml"
            path.write_text(yaml.safe_dump(params, sort_keys=False))
            out = work / f"{name}.json"
            cmd = [*retrain, *common, "--out", str(out), "--params", str(path)]
            if enabled:
                cmd += ["--search", str(SEARCH)]
            if screen:
                cmd += ["--train", str(TRAIN)]
            results[name] = measure(cmd, args.runs, {**src, **(env or {})})
            verdict = json.loads(out.read_text())
            results[name]["checks"] = len(verdict["checks"])
            print(name, results[name], flush=True)
        if args.src is None and not args.variants:
            results["screen_in_process"] = screen_alone(raw)
        results["test_rows"] = verdict["test_window"]["n"]
        results["model"] = json.loads(SEARCH.read_text()).get("model")
    results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(save(args.name, results))


if __name__ == "__main__":
    main()
