"""Whole-process time of each refusal of a hostile input (goal: <= 2 s each).

Every case runs `python -m retrain extract ...` in a scratch project (bad params or a bad table
file), checks exit code 2, that no output was written and that stderr has no traceback, and
records wall time, CPU time and peak RSS (`os.wait4`). A good table read by the same command is
the baseline. Three more cases run other commands: `retrain validate` on features with 5 `inf`
rows (exit 1, the data contract), `retrain extract` (Feast source) whose `--data` holds a table
symlinked out of the project, and `retrain monitor --features` through such a symlink (exit 2).
Writes results/refusals.json.

    .venv/bin/python bench/bench_refusals.py [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from harness import save

ROOT = Path(__file__).resolve().parents[1]
SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# Measured from a lean interpreter: a child's ru_maxrss starts at the RSS of the process it
# was forked from, so forking from this one (pandas loaded, ~150 MB) would hide the real peak.
MEASURE = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"wall_s": time.perf_counter() - start,
                  "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mb": usage.ru_maxrss / 1024,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def run(cmd: list[str], cwd: Path, expect: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *cmd], cwd=cwd, capture_output=True, text=True
    )
    err = done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    code = result.pop("code")
    if code != expect or "Traceback" in err or "wJalr" in err:
        raise RuntimeError(f"{' '.join(cmd)}: exit {code} (expected {expect}):\n{err[-2000:]}")
    return {**result, "message": err.strip().splitlines()[0][:160] if err.strip() else ""}


def table_params(project: Path, path: str, **limits: int) -> Path:
    extract: dict[str, Any] = {"source": "table", "table": {"path": path}}
    if limits:
        extract["limits"] = limits
    params = project / f"params-{abs(hash((path, tuple(limits.items()))))}.yaml"
    raw = {
        "base": {"key": "id", "target": "y", "event_time": None},
        "extract": extract,
        # the flights defaults name columns this table does not have (params-vs-table check)
        "evaluate": {"slices": []},
        "prepare": {"drop_columns": []},
        "monitor": {"exclude": []},
    }
    params.write_text(yaml.safe_dump(raw))
    return params


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def command_cases(project: Path, outside: Path) -> dict[str, tuple[list[str], int, Path]]:
    """Refusals by commands other than a table extract: name -> (retrain arguments, expected
    exit code, the output that must not be written)."""
    import numpy as np

    secret = outside / "credentials"
    cases: dict[str, tuple[list[str], int, Path]] = {}
    n = 1000
    frame = pd.DataFrame({"id": range(n), "y": [i % 2 for i in range(n)], "c": "x"})
    frame["x"] = np.linspace(0.0, 10.0, n)
    frame.loc[:4, "x"] = np.inf
    frame.to_csv(project / "data" / "inf.csv", index=False)
    params = table_params(project, "data/inf.csv")
    raw = yaml.safe_load(params.read_text())
    raw["base"]["positive_above"] = 0.5  # the 0/1 label: only the inf rows are wrong
    params.write_text(yaml.safe_dump(raw))
    features = project / "inf-features.parquet"
    cmd = [sys.executable, "-m", "retrain", "extract", "--params", str(params)]
    subprocess.run([*cmd, "--out", str(features)], cwd=project, check=True, capture_output=True)
    out = project / "build" / "validate"
    cases["validate: 5 inf rows in a numeric column"] = (
        ["validate", "--params", str(params), "--features", str(features), "--out", str(out)],
        1,
        out / "ok",  # validate writes its result; no flag that it passed
    )
    raw_dir = project / "raw"
    raw_dir.mkdir()
    (raw_dir / "weather.csv").symlink_to(secret)
    feast = project / "feast.yaml"
    feast.write_text("{}\n")
    out = project / "build" / "features.parquet"
    cases["extract (Feast): --data table symlinked out"] = (
        ["extract", "--params", str(feast), "--data", str(raw_dir), "--out", str(out)],
        2,
        out.parent,
    )
    (project / "linked.parquet").symlink_to(secret)
    out = project / "build" / "monitor"
    cases["monitor: --features symlinked out"] = (
        ["monitor", "--params", str(feast), "--features", str(project / "linked.parquet"),
         "--no-registry", "--reference-window", "2013-01-01..2013-02-01", "--out", str(out)],
        2,
        out,
    )  # fmt: skip
    return cases


def build_cases(project: Path, outside: Path) -> dict[str, tuple[Path, int]]:
    """name -> (params file, expected exit code)."""
    data = project / "data"
    data.mkdir()
    frame = pd.DataFrame({"id": range(1000), "y": [i % 2 for i in range(1000)], "c": "x"})
    frame.to_csv(data / "good.csv", index=False)

    cases: dict[str, tuple[Path, int]] = {
        "good table (baseline, exit 0)": (table_params(project, "data/good.csv"), 0)
    }

    bomb = project / "bomb.yaml"
    bomb.write_text(billion_laughs())
    cases["params: YAML alias bomb (10^9 nodes)"] = (bomb, 2)
    deep = project / "deep.yaml"
    deep.write_text("base:\n  x: " + "[" * 500 + "]" * 500 + "\n")
    cases["params: 500-deep nesting"] = (deep, 2)
    huge = project / "huge.yaml"
    huge.write_text("base:\n  seed: 1\n" + ("# padding\n" * 250_000))
    cases["params: 2.5 MB file"] = (huge, 2)
    tampered = project / "tampered.yaml"
    text = (ROOT / "params.yaml").read_text()
    tampered.write_text(text.replace("test_size: 0.2 ", "test_size: 0.99 "))
    cases["params: prepare.test_size 0.99"] = (tampered, 2)

    secret = outside / "credentials"
    secret.write_text(f"{SECRET}\n")
    (data / "linked.csv").symlink_to(secret)
    cases["table: symlink out of the project"] = (table_params(project, "data/linked.csv"), 2)
    cases["table: ../ out of the project"] = (
        table_params(project, f"../{outside.name}/credentials"),
        2,
    )

    block = 16 * 1024 * 1024
    member = gzip.compress(b"a" * block, compresslevel=9)
    with (data / "bomb.csv.gz").open("wb") as fh:
        fh.write(gzip.compress(b"id,y,c\n1,0,"))
        for _ in range(128):  # 2 GiB in one field
            fh.write(member)
    cases["table: gzip bomb (2 MB -> 2 GiB field)"] = (table_params(project, "data/bomb.csv.gz"), 2)

    wide = pd.DataFrame({f"c{i}": [1] for i in range(3000)}).assign(id=1, y=0)
    wide.to_csv(data / "wide.csv", index=False)
    cases["table: 3,002 columns (max_columns 2,000)"] = (table_params(project, "data/wide.csv"), 2)
    frame.to_csv(data / "rows.csv", index=False)
    cases["table: 1,000 rows (max_rows 500)"] = (
        table_params(project, "data/rows.csv", max_rows=500),
        2,
    )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        project, outside = Path(scratch) / "project", Path(scratch) / "outside"
        project.mkdir()
        outside.mkdir()
        out = project / "build" / "features.parquet"
        cases: dict[str, tuple[list[str], int, Path]] = {
            name: (["extract", "--params", str(params), "--out", str(out)], expect, out.parent)
            for name, (params, expect) in build_cases(project, outside).items()
        }
        cases.update(command_cases(project, outside))
        results: dict[str, Any] = {}
        for name, (argv, expect, written) in cases.items():
            cmd = [sys.executable, "-m", "retrain", *argv]
            runs = [run(cmd, project, expect) for _ in range(args.runs)]
            if expect != 0 and written.exists():
                raise RuntimeError(f"{name}: output written despite the refusal")
            shutil.rmtree(project / "build", ignore_errors=True)
            walls = [r["wall_s"] for r in runs]
            results[name] = {
                "runs": args.runs,
                "wall_s_median": round(statistics.median(walls), 3),
                "wall_s_max": round(max(walls), 3),
                "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 3),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
                "exit": expect,
                "message": runs[0]["message"],
            }
            print(
                f"{name:45} {results[name]['wall_s_median']:6.2f} s wall "
                f"{results[name]['cpu_s_median']:6.2f} s CPU "
                f"{results[name]['peak_rss_mb']:7.1f} MB  {results[name]['message'][:70]}"
            )
    load = os.getloadavg()
    print(save("refusals", {"load_average": [round(x, 2) for x in load], "cases": results}))


if __name__ == "__main__":
    main()
