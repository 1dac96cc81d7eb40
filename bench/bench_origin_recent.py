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

`--same-day-views`: the same questions for the three later views (`tail_recent`,
`dest_recent`, `carrier_origin_recent`), before/after in one run: `retrain extract` and
`retrain validate` of the committed code (HEAD's src/ and params.yaml, exported with
`git archive` and put first on PYTHONPATH) alternating with the working tree's; the columns
both write are checked identical; the Feast join's extra seconds per view; a default HGB's test
AUC without and with the six new columns. Results: bench/results/same_day_views.json.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_data_stages import measure
from harness import save

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "origin_recent"
RECENT = ["origin_recent_dep_delay_mean", "origin_recent_delayed_share", "origin_recent_departures"]
SAME_DAY_OUT = ROOT / "bench" / "out" / "same_day_views"
NEW_VIEWS = ("tail_recent", "dest_recent", "carrier_origin_recent")
NEW_COLUMNS = [
    "dest_recent_dep_delay_mean",
    "dest_recent_departures",
    "carrier_origin_recent_dep_delay_mean",
    "carrier_origin_recent_departures",
    "tail_prev_dep_delay",
    "tail_prev_hours_ago",
]


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
    from retrain.extraction import flights_in_window
    from retrain.featurestore import definitions, sources
    from retrain.featurestore.store import FlightFeatureStore, route_of

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
    entities = request[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    views = definitions.feature_views(store.work_dir)
    refs = {
        "without": definitions.feature_refs(
            [v for v in views if v.name not in ("origin_recent", *NEW_VIEWS)]
        ),
        "with": definitions.feature_refs([v for v in views if v.name not in NEW_VIEWS]),
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


def auc_with_and_without(
    prepared: Path = OUT / "prepared",
    added: list[str] = RECENT,
    name: str = "recent",
    ignored: list[str] = NEW_COLUMNS,  # the later views, when measuring origin_recent alone
) -> dict[str, object]:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    train = pd.read_parquet(prepared / "train.parquet")
    test = pd.read_parquet(prepared / "test.parquet")
    drop = ["label", "flight_id", "event_time", "tailnum"]
    drop += [c for c in ignored if c in train.columns]
    x_train, x_test = train.drop(columns=drop), test.drop(columns=drop)
    for column in x_train.columns:
        if x_train[column].dtype == object:
            levels = pd.CategoricalDtype(sorted(x_train[column].dropna().unique()))
            x_train[column] = x_train[column].astype(levels)
            x_test[column] = x_test[column].astype(levels)
    result: dict[str, object] = {"n_train": len(train), "n_test": len(test)}
    for label, columns in (
        ("without", [c for c in x_train.columns if c not in added]),
        ("with", list(x_train.columns)),
    ):
        model = HistGradientBoostingClassifier(random_state=0, categorical_features="from_dtype")
        model.fit(x_train[columns], train["label"])
        scores = model.predict_proba(x_test[columns])[:, 1]
        result[f"roc_auc_{label}_{name}"] = round(float(roc_auc_score(test["label"], scores)), 4)
    return result


def head_tree() -> Path:
    """HEAD's src/ and params.yaml (the code before the working tree's changes)."""
    head = SAME_DAY_OUT / "head"
    head.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "HEAD", "src", "params.yaml"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(head)], input=archive, check=True)
    return head


def same_day_processes(repeats: int = 2) -> dict[str, object]:
    """extract + validate, before (HEAD) and after (working tree), alternating."""
    import pandas as pd

    retrain = str(Path(sys.executable).parent / "retrain")
    head = head_tree()
    setups = {
        "before": (head / "params.yaml", {**os.environ, "PYTHONPATH": str(head / "src")}),
        "after": (ROOT / "params.yaml", dict(os.environ)),
    }
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(repeats):
        for name, (params, env) in setups.items():
            out = SAME_DAY_OUT / name
            cmd = [retrain, "extract", "--data", str(ROOT / "data"), "--params", str(params)]
            cmd += ["--out", str(out / "features.parquet"), "--feast-dir", str(out / "feast")]
            runs[name].append(measure(cmd, env))
    result: dict[str, object] = {}
    for name, (params, env) in setups.items():
        out = SAME_DAY_OUT / name
        validate = [retrain, "validate", "--features", str(out / "features.parquet")]
        validate += ["--out", str(out / "validation"), "--params", str(params)]
        result[name] = {
            "extract_runs": runs[name],
            "extract_wall_s_min": min(r["wall_s"] for r in runs[name]),
            "extract_cpu_s_min": min(r["cpu_s"] for r in runs[name]),
            "extract_peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs[name]),
            "validate": measure(validate, env),
        }
    prepare = [retrain, "prepare", "--features", str(SAME_DAY_OUT / "after" / "features.parquet")]
    prepare += ["--params", str(ROOT / "params.yaml"), "--out", str(SAME_DAY_OUT / "prepared")]
    prepare += ["--validation", str(SAME_DAY_OUT / "after" / "validation" / "result.json")]
    measure(prepare, dict(os.environ))
    before = pd.read_parquet(SAME_DAY_OUT / "before" / "features.parquet")
    after = pd.read_parquet(SAME_DAY_OUT / "after" / "features.parquet")
    assert [c for c in after.columns if c not in NEW_COLUMNS] == list(before.columns)
    pd.testing.assert_frame_equal(after[list(before.columns)], before)
    result["columns_before"], result["columns_after"] = before.shape[1], after.shape[1]
    result["shared_columns_identical"] = True
    result["new_columns_not_null_share"] = {
        c: round(float(after[c].notna().mean()), 4) for c in NEW_COLUMNS
    }
    return result


def join_cost_per_view() -> dict[str, object]:
    """Feast join of every flight: the views before, then + each new view, then all of them."""
    from retrain.config import load_params
    from retrain.extraction import flights_in_window
    from retrain.featurestore import definitions, sources
    from retrain.featurestore.store import FlightFeatureStore, route_of

    options = load_params(ROOT / "params.yaml").extract
    flights = sources.read_flights(ROOT / "data")
    store = FlightFeatureStore(SAME_DAY_OUT / "after" / "feast")  # built by extract above
    request = flights_in_window(flights, options.window)
    entities = request[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    views = definitions.feature_views(store.work_dir)
    old = [v for v in views if v.name not in NEW_VIEWS]
    subsets = {
        "before": old,
        **{f"+{n}": old + [v for v in views if v.name == n] for n in NEW_VIEWS},
    }
    subsets["all"] = views
    store.store.get_historical_features(entities.head(1000), definitions.feature_refs(views))
    seconds: dict[str, float] = {}
    for name, subset in subsets.items():
        started = time.perf_counter()
        store.store.get_historical_features(entities, definitions.feature_refs(subset)).to_df()
        seconds[name] = round(time.perf_counter() - started, 2)
    return {"rows": len(entities), "join_s": seconds}


def same_day_views() -> None:
    SAME_DAY_OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "processes": same_day_processes(),
        "point_in_time_join": join_cost_per_view(),
        "hist_gradient_boosting_default": auc_with_and_without(
            SAME_DAY_OUT / "prepared", NEW_COLUMNS, "new_views", ignored=[]
        ),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(save("same_day_views", payload))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "processes": stage_processes(),
        "point_in_time_join": join_cost(),
        "hist_gradient_boosting_default": auc_with_and_without(),
    }
    print(save("origin_recent", payload))


if __name__ == "__main__":
    same_day_views() if "--same-day-views" in sys.argv[1:] else main()
