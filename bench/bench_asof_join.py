"""Point-in-time join on the full bundled year, three ways, each a whole child process:

- `asof`: the extract's default, Feast `get_historical_features` through the ASOF JOIN offline
  store (`retrain.featurestore.asof`);
- `feast`: the same call through Feast's own DuckDB offline store (`asof_join: false`, the path
  before);
- `pandas`: plain `pandas.merge_asof` per view on the same parquet sources (no Feast import).

Same entity rows (every 2013 flight), all nine feature views. Runs alternate (asof, feast,
pandas) `--runs` times; medians of whole-process wall, CPU (user+sys) and peak RSS, and of the
join alone as timed inside the child. The three results are compared: asof and feast must be
identical (`assert_frame_equal`, dtypes included), pandas equal in value. Then the whole
`retrain extract` runs once per offline store and the two features.parquet files must be
identical.

    nice .venv/bin/python bench/bench_asof_join.py [--runs 3] [--skip-extract]

Work files in bench/out/asof_join/ (gitignored); results in bench/results/asof_join.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from harness import measure, save, summarize

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "asof_join"
WORK = OUT / "feast"
ENTITIES = OUT / "entities.parquet"
SPEC = OUT / "views.json"
WAYS = ("asof", "feast", "pandas")


def prepare() -> int:
    """Build the Feast work dir (sources + registry) once; write the entity rows and a plain
    description of the views for the pandas child."""
    from retrain.config import load_params
    from retrain.extraction import flights_in_window
    from retrain.featurestore import definitions, sources
    from retrain.featurestore.store import FlightFeatureStore, route_of

    options = load_params(ROOT / "params.yaml").extract
    flights = sources.read_flights(ROOT / "data")
    request = flights_in_window(flights, options.window)
    store = FlightFeatureStore(WORK)
    feast = options.feast
    store.build(
        ROOT / "data",
        flights,
        feast.history_publish_lag_hours,
        feast.delayed_above_minutes,
        feast.recent_horizon_hours,
    )
    entities = request[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    entities.to_parquet(ENTITIES, index=False)
    views = [store.store.get_feature_view(v.name) for v in definitions.feature_views(WORK)]
    spec = [
        {
            "name": view.name,
            "path": str(definitions.source_path(WORK, view.name)),
            "keys": [column.name for column in view.entity_columns],
            "timestamp": view.batch_source.timestamp_field,
            "ttl_s": view.ttl.total_seconds() if view.ttl else None,
            "features": [field.name for field in view.features],
        }
        for view in views
    ]
    SPEC.write_text(json.dumps(spec, indent=1))
    return len(entities)


def child(way: str) -> None:
    """One join in this process; writes the result and the in-process join time."""
    import pandas as pd

    entities = pd.read_parquet(ENTITIES)
    if way != "pandas":
        from retrain.config.extract import OfflineStore
        from retrain.featurestore import definitions
        from retrain.featurestore.store import FlightFeatureStore

        store = FlightFeatureStore(WORK, OfflineStore(asof_join=way == "asof"))
        definitions.feature_views(WORK)
        _ = store.store  # import Feast and load the registry outside the timed join
    started, cpu_started = time.perf_counter(), time.process_time()
    if way == "pandas":
        spec = json.loads(SPEC.read_text())
        tables = {v["name"]: pd.read_parquet(v["path"]) for v in spec}
        # Feast hands back microsecond timestamps; merge_asof needs equal units on both sides
        frame = entities.astype({"event_timestamp": "datetime64[us, UTC]"})
        frame = frame.sort_values("event_timestamp")
        for view in spec:
            right = tables[view["name"]].sort_values(view["timestamp"])
            right = right[[*view["keys"], view["timestamp"], *view["features"]]]
            keys = view["keys"]
            frame = pd.merge_asof(
                frame,
                right,
                left_on="event_timestamp",
                right_on=view["timestamp"],
                by=keys[0] if len(keys) == 1 else keys,
                direction="backward",
                tolerance=pd.Timedelta(seconds=view["ttl_s"]) if view["ttl_s"] else None,
            ).drop(columns=view["timestamp"])
        joined = frame
    else:
        joined = store.historical_features(entities)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    joined.to_parquet(OUT / f"{way}.parquet", index=False)
    (OUT / f"{way}.time.json").write_text(json.dumps({"join_s": seconds, "join_cpu_s": cpu}))


def compare() -> dict[str, bool]:
    import pandas as pd

    frames = {
        way: pd.read_parquet(OUT / f"{way}.parquet")
        .sort_values("flight_id", kind="stable")
        .reset_index(drop=True)
        for way in WAYS
    }
    # identical: same columns in the same order, values and dtypes
    pd.testing.assert_frame_equal(frames["asof"], frames["feast"])

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[list(frames["asof"].columns)]
        text = frame.select_dtypes("object").columns
        return frame.astype({c: "string" for c in text})  # None and NaN both become <NA>

    pd.testing.assert_frame_equal(
        canonical(frames["pandas"]), canonical(frames["asof"]), check_dtype=False
    )
    return {"asof_identical_to_feast": True, "pandas_equal_in_value": True}


def extract_both() -> dict[str, object]:
    """The whole `retrain extract` once per offline store (features.parquet compared later)."""
    import yaml

    retrain = str(Path(sys.executable).parent / "retrain")
    results: dict[str, object] = {}
    for asof in (True, False):
        name = "asof" if asof else "feast"
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["extract"]["feast"]["offline_store"]["asof_join"] = asof
        params_file = OUT / f"params-{name}.yaml"
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        features = OUT / f"features-{name}.parquet"
        cmd = [retrain, "extract", "--data", str(ROOT / "data"), "--out", str(features)]
        cmd += ["--params", str(params_file), "--feast-dir", str(OUT / f"extract-{name}")]
        results[name] = measure(cmd, cwd=ROOT)
    return results


def compare_extracts() -> dict[str, object]:
    import pandas as pd

    left = pd.read_parquet(OUT / "features-asof.parquet")
    right = pd.read_parquet(OUT / "features-feast.parquet")
    pd.testing.assert_frame_equal(left, right)
    return {"features_parquet_identical": True, "rows": len(left)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--child", choices=(*WAYS, "prepare"))
    args = parser.parse_args()
    os.environ.setdefault("FEAST_USAGE", "False")
    if args.child == "prepare":
        print(prepare())
        return
    if args.child:
        child(args.child)
        return
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    load = [round(x, 2) for x in os.getloadavg()]
    # Everything heavy runs in children: Linux counts the RSS a child had at fork (a copy of
    # this process) in its peak, so this process stays small (no pandas, no Feast) until the
    # measurements are done.
    import subprocess

    self_cmd = [sys.executable, str(Path(__file__).resolve())]
    done = subprocess.run([*self_cmd, "--child", "prepare"], check=True, capture_output=True)
    rows = int(done.stdout.decode().strip().splitlines()[-1])
    runs: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    joins: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    for n in range(args.runs):
        for way in WAYS:
            cmd = [*self_cmd, "--child", way]
            runs[way].append(measure(cmd, cwd=ROOT))
            joins[way].append(json.loads((OUT / f"{way}.time.json").read_text()))
            print(f"run {n + 1} {way}: {runs[way][-1]} join {joins[way][-1]}", flush=True)
    summary: dict[str, object] = {}
    for way in WAYS:
        summary[way] = {
            "process": summarize(runs[way]),
            "join_s_median": round(sorted(j["join_s"] for j in joins[way])[args.runs // 2], 3),
            "join_cpu_s_median": round(
                sorted(j["join_cpu_s"] for j in joins[way])[args.runs // 2], 3
            ),
            "runs": runs[way],
            "joins": joins[way],
        }

    def ratio(way: str, key: str) -> float:
        return round(summary[way][key] / summary["pandas"][key], 2)  # type: ignore[index]

    extract = None if args.skip_extract else extract_both()
    payload: dict[str, object] = {
        "load_average_at_start": load,
        "rows": rows,
        "feature_views": len(json.loads(SPEC.read_text())),
        "results": compare(),
        "ratio_join_wall_over_pandas": {w: ratio(w, "join_s_median") for w in ("asof", "feast")},
        "ratio_join_cpu_over_pandas": {w: ratio(w, "join_cpu_s_median") for w in ("asof", "feast")},
        **summary,
    }
    if extract is not None:
        payload["extract"] = {**extract, **compare_extracts()}
    payload["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(save("asof_join", payload))
    print(json.dumps({k: v for k, v in payload.items() if k not in WAYS}, indent=1))
    for way in WAYS:
        print(way, summary[way]["process"], summary[way]["join_s_median"])  # type: ignore[index]


if __name__ == "__main__":
    main()
