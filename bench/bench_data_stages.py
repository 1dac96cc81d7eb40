"""extract / validate / prepare on the full 2013 data as whole processes (wall time, peak RSS),
and the extract's Feast point-in-time join side by side with plain `pandas.merge_asof` joins of
the same rows from the same parquet sources (ratio; the two results are checked equal).

Run from the project root (data/ present): `uv run python bench/bench_data_stages.py`.
Work files go to bench/out/data_stages/ (gitignored); results to bench/results/data_stages.json.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "data_stages"


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall time, CPU time (user + sys: robust when other jobs share the cores) and peak RSS
    of one whole child process, from os.wait4's rusage for that child."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-2000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def stage_processes() -> dict[str, object]:
    retrain = str(Path(sys.executable).parent / "retrain")
    params = str(ROOT / "params.yaml")
    features = OUT / "features.parquet"
    results: dict[str, object] = {}
    extract_cmd = [retrain, "extract", "--data", str(ROOT / "data"), "--out", str(features)]
    extract_cmd += ["--params", params, "--feast-dir", str(OUT / "feast")]
    measure(extract_cmd)  # warm the OS file cache and build the Feast work dir once
    results["extract"] = measure(extract_cmd)
    validation = OUT / "validation"
    if (ROOT / "src" / "retrain" / "stages" / "validate.py").is_file():
        validate_cmd = [retrain, "validate", "--features", str(features)]
        validate_cmd += ["--out", str(validation), "--params", params]
        results["validate"] = measure(validate_cmd)
        prepare_cmd = [retrain, "prepare", "--features", str(features), "--params", params]
        prepare_cmd += ["--validation", str(validation / "result.json")]
        prepare_cmd += ["--out", str(OUT / "prepared")]
        results["prepare"] = measure(prepare_cmd)
    else:
        results["validate"] = results["prepare"] = "validate stage not available"
    return results


def join_side_by_side(repeats: int = 3) -> dict[str, object]:
    import pandas as pd

    from retrain.config import load_params
    from retrain.extraction import flights_in_window
    from retrain.featurestore import definitions, sources
    from retrain.featurestore.store import FlightFeatureStore, route_of

    options = load_params(ROOT / "params.yaml").extract
    flights = sources.read_flights(ROOT / "data")
    request = flights_in_window(flights, options.window)
    store = FlightFeatureStore(OUT / "feast_join")
    store.build(
        ROOT / "data",
        flights,
        options.feast.history_publish_lag_hours,
        options.feast.delayed_above_minutes,
        options.feast.recent_horizon_hours,
    )
    entities = request[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    store.historical_features(entities.head(1000))  # warm-up (DuckDB, registry)
    # only the five views the pandas join below reproduces (the same-day views came later)
    same_five = {"origin_weather", "plane", "carrier_history", "origin_history", "route_history"}
    refs = definitions.feature_refs(
        [v for v in definitions.feature_views(store.work_dir) if v.name in same_five]
    )

    def feast_join() -> pd.DataFrame:
        return store.store.get_historical_features(entity_df=entities, features=refs).to_df()

    tables = {
        name: pd.read_parquet(definitions.source_path(store.work_dir, name))
        for name in (
            "origin_weather",
            "plane",
            "carrier_history",
            "origin_history",
            "route_history",
        )
    }

    def pandas_join() -> pd.DataFrame:
        # The same semantics by hand: latest row at or before the flight, within the view's TTL.
        frame = entities.sort_values("event_timestamp")
        asof = [
            ("origin_weather", "origin", "time_hour", definitions.WEATHER_TTL),
            ("carrier_history", "carrier", "published_at", definitions.HISTORY_TTL),
            ("origin_history", "origin", "published_at", definitions.HISTORY_TTL),
            ("route_history", "route", "published_at", definitions.HISTORY_TTL),
        ]
        for name, key, ts, ttl in asof:
            right = tables[name].sort_values(ts)
            frame = pd.merge_asof(
                frame,
                right,
                left_on="event_timestamp",
                right_on=ts,
                by=key,
                direction="backward",
                tolerance=pd.Timedelta(ttl),
            ).drop(columns=ts)
        planes = tables["plane"].drop(columns="registered_at")
        return frame.merge(planes, on="tailnum", how="left")

    timings: dict[str, list[float]] = {"feast": [], "pandas": []}
    cpu: dict[str, list[float]] = {"feast": [], "pandas": []}
    results: dict[str, pd.DataFrame] = {}
    for _ in range(repeats):
        for name, join in (("feast", feast_join), ("pandas", pandas_join)):
            started, cpu_started = time.perf_counter(), time.process_time()
            results[name] = join()
            timings[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    columns = [c for c in results["pandas"].columns if c not in entities.columns]

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.set_index("flight_id").sort_index()[columns]
        text = frame.select_dtypes("object").columns
        return frame.astype({c: "string" for c in text})  # None and NaN both become <NA>

    left, right = canonical(results["feast"]), canonical(results["pandas"])
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    feast_s, pandas_s = min(timings["feast"]), min(timings["pandas"])
    return {
        "rows": len(entities),
        "feature_views": 5,
        "repeats": repeats,
        "feast_get_historical_features_s": round(feast_s, 3),
        "pandas_merge_asof_s": round(pandas_s, 3),
        "ratio_feast_over_pandas": round(feast_s / pandas_s, 1),
        "feast_cpu_s": round(min(cpu["feast"]), 3),
        "pandas_cpu_s": round(min(cpu["pandas"]), 3),
        "results_identical": True,
    }


def main() -> None:
    os.environ.setdefault("FEAST_USAGE", "False")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    payload = {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "stages": stage_processes(),
        "point_in_time_join": join_side_by_side(),
    }
    print(save("data_stages", payload))
    print(payload)


if __name__ == "__main__":
    main()
