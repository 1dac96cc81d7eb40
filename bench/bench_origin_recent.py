"""What the same-day congestion view `origin_recent` costs and brings, on the full 2013 data.

1. `retrain extract` / `validate` / `prepare` as whole processes (wall, CPU, peak RSS).
2. Cost, side by side in one process: building the view's source (pandas) and the Feast
   point-in-time join of every flight with and without the view's features.
3. Value: a default HistGradientBoostingClassifier(random_state=0) fit on the prepared train
   window, ROC AUC on the test window, without and with the three `origin_recent_*` columns
   (string columns as pandas categories with `categorical_features="from_dtype"`, `tailnum`
   dropped: too many levels; ids and times dropped).

Run from the project root (data/ present): `nice uv run python bench/bench_origin_recent.py`.
Work files go to bench/out/origin_recent/ (gitignored); results to
bench/results/origin_recent.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_data_stages import measure
from harness import save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "origin_recent"
RECENT = ["origin_recent_dep_delay_mean", "origin_recent_delayed_share", "origin_recent_departures"]


def stage_processes() -> dict[str, object]:
    retrain = str(Path(sys.executable).parent / "retrain")
    params = str(ROOT / "params.yaml")
    features = OUT / "features.parquet"
    cmd = [retrain, "extract", "--data", str(ROOT / "data"), "--out", str(features)]
    results: dict[str, object] = {
        "extract": measure([*cmd, "--params", params, "--feast-dir", str(OUT / "feast")])
    }
    validation = OUT / "validation"
    validate = [retrain, "validate", "--features", str(features), "--out", str(validation)]
    results["validate"] = measure([*validate, "--params", params])
    prepare = [retrain, "prepare", "--features", str(features), "--params", params]
    prepare += ["--validation", str(validation / "result.json"), "--out", str(OUT / "prepared")]
    results["prepare"] = measure(prepare)
    return results


def join_cost(repeats: int = 2) -> dict[str, object]:
    from retrain.config import load_params
    from retrain.featurestore import definitions, sources
    from retrain.featurestore.store import FlightFeatureStore, route_of
    from retrain.stages.extract import flights_in_window

    feast = load_params(ROOT / "params.yaml").extract
    flights = sources.read_flights(ROOT / "data")
    started = time.perf_counter()
    sources.recent_departures(
        flights,
        definitions.RECENT_WINDOW_HOURS,
        feast.feast.recent_horizon_hours,
        feast.feast.delayed_above_minutes,
    )
    source_s = time.perf_counter() - started
    store = FlightFeatureStore(OUT / "feast")  # built by the extract process above
    request = flights_in_window(flights, feast.window)
    entities = request[["flight_id", "origin", "tailnum", "carrier"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    views = definitions.feature_views(store.work_dir)
    refs = {
        "with": definitions.feature_refs(views),
        "without": definitions.feature_refs([v for v in views if v.name != "origin_recent"]),
    }
    store.store.get_historical_features(entities.head(1000), refs["with"]).to_df()  # warm-up
    seconds: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(repeats):
        for name, features in refs.items():
            started = time.perf_counter()
            store.store.get_historical_features(entities, features).to_df()
            seconds[name].append(time.perf_counter() - started)
    best = {name: min(values) for name, values in seconds.items()}
    return {
        "rows": len(entities),
        "repeats": repeats,
        "recent_source_build_s": round(source_s, 2),
        "join_s_without_view": round(best["without"], 2),
        "join_s_with_view": round(best["with"], 2),
        "join_extra_s": round(best["with"] - best["without"], 2),
    }


def auc_with_and_without() -> dict[str, object]:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    train = pd.read_parquet(OUT / "prepared" / "train.parquet")
    test = pd.read_parquet(OUT / "prepared" / "test.parquet")
    drop = ["label", "flight_id", "event_time", "tailnum"]
    x_train, x_test = train.drop(columns=drop), test.drop(columns=drop)
    for column in x_train.columns:
        if x_train[column].dtype == object:
            levels = pd.CategoricalDtype(sorted(x_train[column].dropna().unique()))
            x_train[column] = x_train[column].astype(levels)
            x_test[column] = x_test[column].astype(levels)
    result: dict[str, object] = {"n_train": len(train), "n_test": len(test)}
    for name, columns in (
        ("without", [c for c in x_train.columns if c not in RECENT]),
        ("with", list(x_train.columns)),
    ):
        model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
        model.fit(x_train[columns], train["label"])
        scores = model.predict_proba(x_test[columns])[:, 1]
        result[f"roc_auc_{name}_recent"] = round(float(roc_auc_score(test["label"], scores)), 4)
    return result


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "processes": stage_processes(),
        "point_in_time_join": join_cost(),
        "hist_gradient_boosting_default": auc_with_and_without(),
    }
    print(save("origin_recent", payload))


if __name__ == "__main__":
    main()
