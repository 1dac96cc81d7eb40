"""Feast point-in-time join: Spark offline store (local mode) vs DuckDB, on one month and more.

The sources are built once from data/ (full 2013, `FlightFeatureStore.build`, in a child);
each join then runs in a child process of its own (`--one STORE WORK START END`): wall and peak
RSS of that process via os.wait4 (for Spark: of the Python driver; the JVM py4j starts is
counted only if it is waited for), plus the join's own seconds reported by the child. The two
results are compared row by row.

    nice uv run python bench/bench_spark_join.py [--periods 2013-01-01..2013-02-01 ...]

Writes bench/results/spark_join.json (with the load average: the machine may be shared).
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

ROOT = Path(__file__).resolve().parents[1]

from harness import save  # noqa: E402

SPARK_CONF = {"spark.master": "local[2]", "spark.ui.enabled": "false"}


def _store(work: Path, kind: str) -> Any:
    from retrain.config.extract import OfflineStore
    from retrain.featurestore.store import FlightFeatureStore

    offline = OfflineStore(type=kind, spark_conf=SPARK_CONF)  # type: ignore[arg-type]
    return FlightFeatureStore(work, offline)


def _entities(start: str, end: str) -> Any:
    import pandas as pd

    from retrain.featurestore.sources import read_flights
    from retrain.featurestore.store import route_of

    flights = read_flights(ROOT / "data")
    chosen = flights[
        (flights["event_time"] >= pd.Timestamp(start, tz="UTC"))
        & (flights["event_time"] < pd.Timestamp(end, tz="UTC"))
    ]
    return chosen[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(chosen), event_timestamp=chosen["event_time"]
    )


def one(kind: str, work: Path, start: str, end: str, out: Path) -> None:
    """Child: register the views for this store type, join the period, write the result."""
    from retrain.featurestore import definitions

    store = _store(work, kind)
    with_views = [*definitions.ENTITIES, *definitions.feature_views(store.work_dir, store.spark)]
    store.store.apply(with_views)
    entities = _entities(start, end)
    started = time.perf_counter()
    joined = store.historical_features(entities)
    seconds = time.perf_counter() - started
    for column in joined.select_dtypes("datetimetz").columns:
        joined[column] = joined[column].astype("datetime64[ns, UTC]")
    joined.sort_values("flight_id").reset_index(drop=True).to_parquet(out)
    print(json.dumps({"join_s": round(seconds, 1), "rows": len(joined)}))


def _child(args: list[str], log: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=err
        )
        output = proc.stdout.read().decode() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{args} failed:\n{log.read_text(errors='replace')[-3000:]}")
    return {
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **json.loads(output.strip().splitlines()[-1]),
    }


def main() -> None:
    from retrain.featurestore.sources import read_flights

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=4, metavar=("STORE", "WORK", "START", "END"))
    parser.add_argument("--build", type=Path, help="child: build the sources in this work dir")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--periods", nargs="+", default=["2013-01-01..2013-02-01", "2013-01-01..2013-04-01"]
    )
    args = parser.parse_args()
    if args.build:
        _store(args.build, "duckdb").build(ROOT / "data", read_flights(ROOT / "data"), 5, 15.0, 2)
        print(json.dumps({}))
        return
    if args.one:
        kind, work, start, end = args.one
        one(kind, Path(work), start, end, args.out)
        return
    import pandas as pd

    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        work = Path(tmp) / "feast"
        # In a child too: Linux keeps a process's peak RSS across exec, so every child forked
        # from a big parent would report at least the parent's peak.
        results["build_sources"] = _child(["--build", str(work)], Path(tmp) / "build.log")
        for period in args.periods:
            start, end = period.split("..")
            row: dict[str, Any] = {}
            for kind in ("duckdb", "spark"):
                out = Path(tmp) / f"{kind}-{start}.parquet"
                log = Path(tmp) / f"{kind}-{start}.log"
                row[kind] = _child(["--one", kind, str(work), start, end, "--out", str(out)], log)
            duck = pd.read_parquet(Path(tmp) / f"duckdb-{start}.parquet")
            spark = pd.read_parquet(Path(tmp) / f"spark-{start}.parquet")[duck.columns]
            try:
                pd.testing.assert_frame_equal(spark, duck, check_dtype=False)
                row["equal"] = True
            except AssertionError as exc:
                row["equal"] = False
                row["difference"] = str(exc)[:500]
            results[period] = row
            print(period, json.dumps(row), flush=True)
    payload = {
        "spark_conf": SPARK_CONF,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        **results,
    }
    print(save("spark_join", payload))


if __name__ == "__main__":
    main()
