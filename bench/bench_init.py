"""`retrain init` on public tables bundled with installed packages, and init -> `dvc repro`.

    uv run python bench/bench_init.py [--repro]

Tables: scikit-learn's breast cancer (binary), diabetes (regression), wine (multiclass) and
matplotlib's monthly stock prices (time-indexed regression with gaps), each written as CSV with a
`row_id` column (this version's pipeline needs base.key). For each: the whole `retrain init`
process (wall, CPU, peak RSS). With --repro, in a fresh git + DVC repo per table: init, the
budget set to 3 trials / 30 s (the one edit), then `dvc repro` (breast cancer: the whole
pipeline to a registered model; stocks: through the gate, as this version's export cannot take
a regression model) with its wall/CPU/RSS, the test metric, and a default
HistGradientBoosting* fitted on the same prepared train/test split for comparison.
Writes bench/results/init.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from harness import save

ROOT = Path(__file__).resolve().parents[1]
BUDGET = "budget: {trials: 40, seconds: 60}"
SMALL = "budget: {trials: 3, seconds: 30}"
# table -> the stage `dvc repro` runs to (None: all; stocks: this version cannot export regression)
REPRO: dict[str, tuple[str, ...]] = {"breast_cancer": (), "stocks": ("evaluate", "gate")}


def tables() -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """name -> (table, init arguments)."""
    import matplotlib
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    stocks = pd.read_csv(
        Path(matplotlib.get_data_path()) / "sample_data" / "Stocks.csv", comment="#"
    )
    out = {
        "breast_cancer": (load_breast_cancer(as_frame=True).frame, ["--target", "target"]),
        "diabetes": (load_diabetes(as_frame=True, scaled=False).frame, ["--target", "target"]),
        "wine": (load_wine(as_frame=True).frame, ["--target", "target"]),
        "stocks": (stocks, ["--target", "^GSPC", "--time", "Date"]),
    }
    for frame, _ in out.values():
        frame.insert(0, "row_id", np.arange(len(frame)))
    return out


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return out


def timed(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Whole process: wall, CPU (user + sys, with its waited children), peak RSS (os.wait4)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    return {
        "exit": code,
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **({"stderr_tail": stderr[-300:]} if code else {}),
    }


def default_hgb(repo: Path, task: str) -> float:
    """A default HistGradientBoosting* on prepare's train/test (numeric inputs as they are)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import mean_squared_error, roc_auc_score

    params = _params(repo)
    train = pd.read_parquet(repo / "build" / "prepared" / "train.parquet")
    test = pd.read_parquet(repo / "build" / "prepared" / "test.parquet")
    drop = ["label", params.base.key, *params.train.exclude_columns]
    drop += [params.base.event_time] if params.base.event_time else []
    x_cols = [c for c in train.columns if c not in drop]
    if task == "regression":
        model = HistGradientBoostingRegressor(random_state=0).fit(train[x_cols], train["label"])
        return float(np.sqrt(mean_squared_error(test["label"], model.predict(test[x_cols]))))
    model = HistGradientBoostingClassifier(random_state=0).fit(train[x_cols], train["label"])
    return float(roc_auc_score(test["label"], model.predict_proba(test[x_cols])[:, 1]))


def _params(repo: Path) -> Any:
    from retrain.config import load_params

    return load_params(repo / "params.yaml")


def repro(
    name: str, frame: pd.DataFrame, args: list[str], targets: tuple[str, ...]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-init-{name}-") as tmp:
        repo = Path(tmp)
        for file in ("dvc.yaml", ".gitignore"):
            shutil.copy(ROOT / file, repo / file)
        shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
        (repo / "data").mkdir()
        frame.to_csv(repo / "data" / f"{name}.csv", index=False)
        started = time.perf_counter()
        init = timed(["retrain", "init", "--table", f"data/{name}.csv", *args], repo)
        params = repo / "params.yaml"
        params.write_text(params.read_text().replace(BUDGET, SMALL))
        for cmd in (
            ["git", "init", "--quiet"],
            ["dvc", "init", "--quiet"],
            ["git", "add", "-A"],
            ["git", "commit", "--quiet", "-m", "init"],
        ):
            subprocess.run(cmd, cwd=repo, env=env(), check=True, capture_output=True)
        cmd = ["dvc", "repro", *targets]
        run = timed(cmd, repo)
        total = round(time.perf_counter() - started, 1)
        out: dict[str, Any] = {"init": init, "dvc_repro": run, "init_to_end_wall_s": total}
        out["until"] = " + ".join(targets) or "push"
        if run["exit"] == 0:
            task = _params(repo).base.task
            metrics = json.loads((repo / "metrics" / "evaluate.json").read_text())
            primary = "roc_auc" if task == "classification" else "rmse"
            out["test_" + primary] = round(metrics[primary], 4)
            out["default_hgb_" + primary] = round(default_hgb(repo, task), 4)
            gate = json.loads((repo / "metrics" / "gate.json").read_text())
            out["blessed"] = gate["blessed"]
            if (repo / "registry.json").is_file():
                out["registered_version"] = json.loads((repo / "registry.json").read_text())[
                    "version"
                ]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repro", action="store_true", help="also init -> dvc repro")
    parser.add_argument(
        "--repro-tables", nargs="+", default=list(REPRO), choices=list(REPRO), metavar="NAME"
    )
    parser.add_argument("--skip-init", action="store_true", help="only the init -> repro part")
    parser.add_argument("--result", default="init", help="results/<name>.json")
    args = parser.parse_args()
    result: dict[str, Any] = {"init": {}, "repro": {}}
    with tempfile.TemporaryDirectory(prefix="bench-init-") as tmp:
        work = Path(tmp)
        (work / "data").mkdir()
        for name, (frame, init_args) in tables().items():
            if args.skip_init:
                break
            frame.to_csv(work / "data" / f"{name}.csv", index=False)
            cmd = ["retrain", "init", "--table", f"data/{name}.csv", "--out", f"{name}.yaml"]
            result["init"][name] = timed([*cmd, *init_args], work)
            print(name, result["init"][name], flush=True)
    if args.repro:
        all_tables = tables()
        for name in args.repro_tables:
            frame, init_args = all_tables[name]
            result["repro"][name] = repro(name, frame, init_args, REPRO[name])
            print(name, result["repro"][name], flush=True)
    print(save(args.result, result))


if __name__ == "__main__":
    main()
