"""validate stage on the full 2013 features table (336,776 flights): whole-process wall time and
peak RSS, split into GX import cost and suite run time, plus the per-column batching ratio.

Run from the project root: `nice uv run python bench/bench_validate.py [--features PATH]`.
Without --features it uses build/features/features.parquet, or builds the table with
`retrain extract` into a temp dir (Feast work dir there too) when that file is missing.
Writes bench/results/validate.json.
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

sys.path.insert(0, str(Path(__file__).parent))
from harness import save


def measure(cmd: list[str], runs: int) -> dict[str, float | int]:
    """Whole-process wall time, CPU time (user + sys) and peak RSS; median over runs.

    CPU time is reported next to wall time because this 2-core box is shared: under load the
    wall time mostly measures waiting for a core.
    """
    walls, cpus, rss = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def features_table(given: Path | None, scratch: Path) -> tuple[Path, str]:
    if given is not None:
        return given, str(given)
    default = Path("build/features/features.parquet")
    if default.is_file():
        return default, str(default)
    out = scratch / "features.parquet"
    retrain = shutil.which("retrain") or "retrain"
    subprocess.run(
        [
            retrain,
            "extract",
            "--data",
            "data",
            "--out",
            str(out),
            "--feast-dir",
            str(scratch / "feast"),
        ],
        check=True,
    )
    return out, "built by `retrain extract` (Feast) for this run"


def suite_cpu_seconds(features: Path) -> dict[str, float]:
    """CPU seconds of the suite itself: one-column batches (as shipped) vs one whole batch."""
    import pandas as pd

    from retrain import logs
    from retrain import validation as validate
    from retrain.config import load_params

    logs.setup()
    frame, params = pd.read_parquet(features), load_params("params.yaml")

    def cpu(groups: object) -> float:
        original = validate._batch_groups
        if groups is not None:
            validate._batch_groups = groups  # type: ignore[assignment]
        try:
            expectations = validate.build_expectations(
                params, list(frame.columns), validate.finite_columns(params, frame)
            )
            start = time.process_time()
            checks = validate.run_expectations(frame, expectations)
            assert all(c.success for c in checks)
            return round(time.process_time() - start, 3)
        finally:
            validate._batch_groups = original

    cpu(None)  # warm-up: GX registers metrics lazily on first use
    per_column = min(cpu(None) for _ in range(2))
    whole = min(cpu(lambda _frame, expectations: {None: expectations}) for _ in range(2))
    return {
        "per_column_batches": per_column,
        "single_batch": whole,
        "ratio_single_over_per_column": round(whole / per_column, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    retrain = shutil.which("retrain") or "retrain"
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        scratch = Path(tmp)
        features, source = features_table(args.features, scratch)
        out = scratch / "validation"
        stage = measure(
            [retrain, "validate", "--features", str(features), "--out", str(out)], args.runs
        )
        result = json.loads((out / "result.json").read_text())
        import_gx = measure([sys.executable, "-c", "import great_expectations"], args.runs)
        read_only = measure(
            [sys.executable, "-c", f"import pandas; pandas.read_parquet({str(features)!r})"], 1
        )
        payload = {
            "features": source,
            "n_rows": result["n_rows"],
            "n_checks": result["n_checks"],
            "success": result["success"],
            "stage_process": stage,
            "import_great_expectations_process": import_gx,
            "read_parquet_process": read_only,
            "suite_cpu_s": suite_cpu_seconds(features),
            "note": (
                "stage_process = whole `retrain validate` (python start, imports, read, suite, "
                "write). Most of it is importing great_expectations (sqlalchemy, altair, scipy "
                "come with it); suite_cpu_s is the suite itself (in-process CPU seconds)."
            ),
        }
    print(save("validate", payload))
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
