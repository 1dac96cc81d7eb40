"""Would LightGBM or XGBoost buy more trials per second than sklearn's HGB? One CV fold, timed.

The last fold of our search (40,000 most recent rows before the last train month, validated on
that month), our preprocessing (ordinal codes, NaN kept), 1 thread as `train.n_jobs`, each
estimator fitted `--runs` times alternated; median fit seconds and the fold's ROC AUC.
LightGBM and XGBoost come with FLAML in the `bench` group (`uv sync --all-groups`).

    nice uv run python bench/bench_families.py [--runs 3]

Writes bench/results/families.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

from harness import save

ROOT = Path(__file__).resolve().parents[1]


def estimators(categorical: list[int]) -> dict[str, Any]:
    import lightgbm
    import xgboost
    from sklearn.ensemble import HistGradientBoostingClassifier

    common = {"random_state": 0}
    return {
        # our family's defaults (train.families.hist_gradient_boosting.fixed + its first trial)
        "sklearn HGB (max_iter 300, early stopping)": HistGradientBoostingClassifier(
            max_iter=300, early_stopping=True, n_iter_no_change=15,
            categorical_features=categorical, **common,
        ),
        "LightGBM (300 trees, lr 0.05, native categoricals)": lightgbm.LGBMClassifier(
            n_estimators=300, learning_rate=0.05, num_leaves=31, n_jobs=1, verbose=-1,
            categorical_feature=categorical, **common,
        ),
        "LightGBM (100 trees, lr 0.1)": lightgbm.LGBMClassifier(
            n_estimators=100, learning_rate=0.1, num_leaves=31, n_jobs=1, verbose=-1, **common
        ),
        "XGBoost (300 trees, hist, depth 6, lr 0.05)": xgboost.XGBClassifier(
            n_estimators=300, learning_rate=0.05, max_depth=6, n_jobs=1, tree_method="hist",
            **common,
        ),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=ROOT / "build/prepared/train.parquet")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import pandas as pd
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from retrain.config import load_params
    from retrain.search.preprocess import Preprocessing, build_preprocess
    from retrain.search.study import SearchSettings, columns_for, make_folds, split_xy

    frame = pd.read_parquet(args.train)
    settings = SearchSettings.from_params(load_params(ROOT / "params.yaml"))
    columns = columns_for(frame, settings)
    fold = make_folds(frame, settings)[-1]
    X, y = split_xy(frame, settings)
    pre = build_preprocess(columns, Preprocessing(native_missing=True), seed=0, timezone="UTC")
    X_fit = pre.fit_transform(X.iloc[fold.train_rows], y[fold.train_rows])
    X_val = pre.transform(X.iloc[fold.valid_rows])
    first = len(columns.numeric)
    models = estimators(list(range(first, first + len(columns.categorical))))
    seconds: dict[str, list[float]] = {name: [] for name in models}
    auc: dict[str, float] = {}
    loads = [os.getloadavg()[0]]
    with threadpool_limits(1):
        for _ in range(args.runs):
            for name, model in models.items():
                fitted = clone(model)
                started = time.perf_counter()
                fitted.fit(X_fit, y[fold.train_rows])
                seconds[name].append(time.perf_counter() - started)
                auc[name] = float(
                    roc_auc_score(y[fold.valid_rows], fitted.predict_proba(X_val)[:, 1])
                )
                loads.append(os.getloadavg()[0])
    rows = [
        {"estimator": name, "fit_s_median": round(statistics.median(times), 2),
         "fit_s_runs": [round(t, 2) for t in times], "fold_roc_auc": round(auc[name], 4)}
        for name, times in seconds.items()
    ]  # fmt: skip
    for row in rows:
        print(row)
    path = save("families", {
        "fold": fold.valid_period, "train_rows": len(fold.train_rows),
        "valid_rows": len(fold.valid_rows), "threads": 1, "runs": args.runs,
        "load_average_1m_min_max": [round(min(loads), 2), round(max(loads), 2)], "rows": rows,
    })  # fmt: skip
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
