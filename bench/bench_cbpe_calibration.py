"""What CBPE should be calibrated on (issue 16): the champion's test month alone (CBPE as
published) or also the labelled months that arrived since (`policy.estimated.calibration`).

Two replay champions (2-trial searches, like `retrain replay`'s), gated on March and on
February; for each of April..December, the champion's AUC estimated from its scores alone with
five calibrations, against the realised AUC: the test month; the month before the estimated one;
two months before it; the two months before it pooled; every month from the test month to the
one before (the default). Each with its cross-fitted 90 % interval (`cross_fit_folds` 5, blocks
by event time). The calibration never holds the estimated month.

    .venv/bin/python bench/bench_cbpe_calibration.py --features build/features/features.parquet
    # -> bench/results/cbpe_calibration.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from harness import save

ROOT = Path(__file__).resolve().parents[1]
WINDOWS = ("test month", "month before", "two before", "two before pooled", "all since test")


def calibration_months(window: str, test: int, month: int) -> list[int]:
    before = list(range(test, month))
    return {
        "test month": [test],
        "month before": before[-1:],
        "two before": [month - 2] if month - 2 >= test else [test],
        "two before pooled": before[-2:],
        "all since test": before,
    }[window]


def main() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from retrain.config import load_params
    from retrain.monitor.drift import champion_scores
    from retrain.monitor.estimate import calibrate, cross_fit_errors, estimate_classification
    from retrain.replay import Replay

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=ROOT / "build/features/features.parquet")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    started = time.monotonic()
    champions = {}
    with tempfile.TemporaryDirectory() as tmp:
        replay = Replay(params, pd.read_parquet(args.features), Path(tmp), f"sqlite:///{tmp}/m.db")
        time_column = params.base.event_time
        for test in (3, 2):
            model = replay.candidate(test).model
            scores, labels, order = {}, {}, {}
            for month in range(test, 13):
                rows = replay.labelled(month)
                scores[month] = champion_scores(model, rows, "classification")
                labels[month] = rows["label"].to_numpy()
                # event-time ranks, months apart: cross-fitting's blocks follow time
                ranks = pd.to_datetime(rows[time_column], utc=True).rank(method="first")
                order[month] = ranks.to_numpy() + month * 1e7
            per_month = []
            for month in range(4, 13):
                realised = float(roc_auc_score(labels[month], scores[month]))
                row: dict = {"month": month, "realised": round(realised, 4)}
                for window in WINDOWS:
                    months = calibration_months(window, test, month)
                    s = np.concatenate([scores[m] for m in months])
                    y = np.concatenate([labels[m] for m in months])
                    t = np.concatenate([order[m] for m in months])
                    errors = cross_fit_errors("roc_auc", s, y, folds=5, order=t, seed=0)
                    found = estimate_classification(
                        "roc_auc",
                        calibrate(s, y, 100),
                        scores[month],
                        level=0.9,
                        draws=300,
                        seed=0,
                        errors=errors,
                    )
                    row[window] = {
                        "error": round(found.value - realised, 4),
                        "inside": found.low <= realised <= found.high,
                        "width": round(found.high - found.low, 4),
                    }
                per_month.append(row)
            summary = {}
            for window in WINDOWS:
                cells = [r[window] for r in per_month]
                summary[window] = {
                    "within_0.02": sum(abs(c["error"]) <= 0.02 for c in cells),
                    "inside_interval": sum(c["inside"] for c in cells),
                    "mean_abs_error": round(float(np.mean([abs(c["error"]) for c in cells])), 4),
                    "median_width": round(float(np.median([c["width"] for c in cells])), 4),
                }
                print(f"gated on month {test}, {window:18s} {summary[window]}")
            champions[f"gated_on_{test}"] = {"summary": summary, "months": per_month}
    save(
        "cbpe_calibration",
        {"champions": champions, "elapsed_s": round(time.monotonic() - started, 1)},
    )


if __name__ == "__main__":
    main()
