"""Why the stocks table's model is worse than a default HGB: test RMSE of default models on
init's time split, and which model each time-ordered CV scheme on the training years picks.

matplotlib's Stocks.csv, target ^GSPC, split as `retrain init --time Date` drafts it (train
before 2016-01-13, test after; rows without the target dropped; DELL, empty in every labelled
training row, left out as init does). Models: a default HistGradientBoostingRegressor (as the
search enqueues it), ridge at three strengths, a random forest and extra trees (imputed,
ridge scaled). Schemes: expanding-window folds by month (3, 12, 24 folds), by year (3, 5), and
3 blocks of the last 25% of training rows; each picks the model with the lowest mean fold RMSE
and greedily blends up to 3 (as the search's ensemble selection).

    uv run python bench/bench_stocks_cv.py   # -> bench/results/stocks_cv.json (~1 min)
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import save

CUT = "2016-01-13"


def models() -> dict:
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        HistGradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def ridge(alpha: float):
        return lambda: make_pipeline(
            SimpleImputer(add_indicator=True), StandardScaler(), Ridge(alpha)
        )

    return {
        "hgb_default": lambda: HistGradientBoostingRegressor(random_state=0),
        "ridge_0.001": ridge(1e-3),
        "ridge_1": ridge(1.0),
        "ridge_100": ridge(100.0),
        "random_forest": lambda: make_pipeline(
            SimpleImputer(add_indicator=True),
            RandomForestRegressor(50, min_samples_leaf=10, random_state=0),
        ),
        "extra_trees": lambda: make_pipeline(
            SimpleImputer(add_indicator=True),
            ExtraTreesRegressor(50, min_samples_leaf=10, random_state=0),
        ),
    }


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def main() -> None:
    import matplotlib

    warnings.filterwarnings("ignore")
    path = Path(matplotlib.get_data_path()) / "sample_data" / "Stocks.csv"
    table = pd.read_csv(path, comment="#", parse_dates=["Date"]).dropna(subset=["^GSPC"])
    table = table.sort_values("Date").reset_index(drop=True)
    feats = [c for c in table.columns if c not in ("Date", "DELL", "^GSPC")]
    train = table[table["Date"] < CUT].reset_index(drop=True)
    test = table[table["Date"] >= CUT]
    y = test["^GSPC"].to_numpy()
    build = models()
    pred = {k: f().fit(train[feats], train["^GSPC"]).predict(test[feats]) for k, f in build.items()}
    out: dict = {
        "train_rows": len(train),
        "test_rows": len(test),
        "test_rows_above_training_max": int((y > train["^GSPC"].max()).sum()),
        "test": {
            k: {"rmse": round(rmse(p, y)), "mean_error": round(float(np.mean(p - y)))}
            for k, p in pred.items()
        },
        "train_mean_on_test_rmse": round(rmse(np.full(len(y), train["^GSPC"].mean()), y)),
        "blend_hgb_ridge_100_test_rmse": round(
            rmse((pred["hgb_default"] + pred["ridge_100"]) / 2, y)
        ),
    }
    year = train["Date"].dt.year.to_numpy()
    month = train["Date"].dt.to_period("M").astype(str).to_numpy()
    n = len(train)
    edges = np.linspace(n - int(0.25 * n), n, 4).astype(int)
    schemes = {
        "blocks_last_25pct_3": [
            (np.arange(edges[i]), np.arange(edges[i], edges[i + 1])) for i in range(3)
        ]
    }
    for k in (3, 5):
        schemes[f"years_{k}"] = [
            (np.flatnonzero(year < v), np.flatnonzero(year == v)) for v in sorted(set(year))[-k:]
        ]
    for k in (3, 12, 24):
        schemes[f"months_{k}"] = [
            (np.flatnonzero(month < v), np.flatnonzero(month == v)) for v in sorted(set(month))[-k:]
        ]
    cv: dict = {}
    for name, folds in schemes.items():
        oof = {
            k: [
                f().fit(train.loc[a, feats], train.loc[a, "^GSPC"]).predict(train.loc[b, feats])
                for a, b in folds
            ]
            for k, f in build.items()
        }
        truth = [train.loc[b, "^GSPC"].to_numpy() for _, b in folds]

        def score(members: list[str], oof: dict = oof, truth: list = truth) -> float:
            return float(
                np.mean(
                    [
                        rmse(np.mean([oof[m][i] for m in members], axis=0), t)
                        for i, t in enumerate(truth)
                    ]
                )
            )

        ranked = sorted(oof, key=lambda k: score([k]))
        members, current = [ranked[0]], score([ranked[0]])
        while len(members) < 3:
            value, best = min((score([*members, k]), k) for k in ranked if k not in members)
            if current - value < 0.0005:
                break
            members, current = [*members, best], value
        blended = np.mean([pred[m] for m in members], axis=0)
        cv[name] = {
            "validation_rows": int(sum(len(b) for _, b in folds)),
            "cv_rmse": {k: round(score([k])) for k in ranked},
            "picked": members,
            "picked_test_rmse": round(rmse(blended, y)),
        }
        print(name, cv[name], flush=True)
    out["cv"] = cv
    print(save("stocks_cv", out))


if __name__ == "__main__":
    main()
