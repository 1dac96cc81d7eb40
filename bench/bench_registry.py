"""Gate, export, push, promote and load_model: whole-process wall time and peak RSS.

Run: nice uv run python bench/bench_registry.py [--rows 80000] [--no-server]
Writes bench/results/registry.json.

The test window is a synthetic flights-like window of --rows rows (the fixture generator,
scaled), or with --real the pipeline's build/prepared/test.parquet + build/train/model.skops. The gate uses the repository's params.yaml (1,000 paired bootstrap resamples, slices).
Push and promote run against a sqlite store and against a real `mlflow server` on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from harness import measure, save  # noqa: E402


def _fixture_generator():
    spec = importlib.util.spec_from_file_location(
        "make_fixtures", ROOT / "tests" / "fixtures" / "gate" / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make


def _data(tmp: Path, rows: int, real: bool) -> tuple[Path, Path, Path, str]:
    """(test parquet, candidate skops, champion skops, where the data came from)."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from registry_support import one_thread
    from retrain.model_io import save_model

    real_test, real_model = ROOT / "build/prepared/test.parquet", ROOT / "build/train/model.skops"
    make = _fixture_generator()
    rng = np.random.default_rng(7)
    train = make(max(rows // 4, 2000), "2013-06-01", rng, 0)
    features = ["carrier", "origin", "dep_hour", "temp", "distance"]
    cat, num = ["carrier", "origin"], ["dep_hour", "temp", "distance"]
    champion = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("c", OneHotEncoder(handle_unknown="ignore"), cat),
                        ("n", StandardScaler(), num),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    with one_thread():
        champion.fit(train[features], train["label"])
    champion_path = tmp / "champion.skops"
    save_model(champion, champion_path)
    if real and real_test.is_file() and real_model.is_file():
        return real_test, real_model, champion_path, "real pipeline outputs (build/)"
    test = make(rows, "2013-10-01", rng, len(train))
    test_path = tmp / "test.parquet"
    test.to_parquet(test_path, index=False)
    candidate = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [("c", OneHotEncoder(handle_unknown="ignore"), cat)], remainder="passthrough"
                ),
            ),
            ("model", HistGradientBoostingClassifier(max_iter=100, random_state=0)),
        ]
    )
    with one_thread():
        candidate.fit(train[features], train["label"])
    candidate_path = tmp / "candidate.skops"
    save_model(candidate, candidate_path)
    return test_path, candidate_path, champion_path, f"synthetic flights-like window, {rows} rows"


def _retrain(*args: str) -> list[str]:
    return [sys.executable, "-m", "retrain", *args]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _push_and_promote(work: Path, env: dict[str, str], label: str) -> dict[str, object]:
    """push (new version, then idempotent re-run) and promote (move, then no-op) in `work`."""
    out: dict[str, object] = {}
    push = _retrain(
        "push",
        "--export",
        "export",
        "--gate",
        "gate.json",
        "--search",
        "search.json",
        "--out",
        "repo/registry.json",
    )
    out[f"push_{label}_new_version"] = measure(push, cwd=work, env=env)
    out[f"push_{label}_idempotent_rerun"] = measure(push, cwd=work, env=env)
    repo = work / "repo"
    _git(repo, "add", "registry.json")
    _git(repo, "commit", "-q", "-m", f"retrain {label}")
    promote = _retrain("promote", "--repo", "repo", "--ref", "HEAD")
    out[f"promote_{label}"] = measure(promote, cwd=work, env=env)
    out[f"promote_{label}_noop_rerun"] = measure(promote, cwd=work, env=env)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=80_000)
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument(
        "--real",
        action="store_true",
        help="use build/prepared/test.parquet + build/train/model.skops",
    )
    args = parser.parse_args()

    from retrain.logs import quiet_environment

    quiet_environment()
    results: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    try:
        test, candidate, champion, source = _data(tmp, args.rows, args.real)
        results["data"] = source
        work = tmp / "work"
        work.mkdir()
        shutil.copyfile(ROOT / "params.yaml", work / "params.yaml")
        (work / "search.json").write_text(
            json.dumps(
                {
                    "schema": 1,
                    "primary_metric": "roc_auc",
                    "threshold": 0.5,
                    "mlflow_run_id": "bench",
                    "train_start": "2013-01-01",
                    "train_end": "2013-10-01",
                }
            )
        )
        repo = work / "repo"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "config", "user.email", "bench@example.com")
        _git(repo, "config", "user.name", "bench")
        _git(repo, "commit", "-q", "--allow-empty", "-m", "init")
        db = work / "mlruns.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}

        # The champion: exported and registered in-process (set-up, not measured).
        from retrain.config import load_params
        from retrain.registry import Registry
        from retrain.stages.export import export_model

        model_name = load_params(work / "params.yaml").base.model_name
        export_model(
            champion,
            test,
            work / "champion-export",
            task="classification",
            threshold=0.5,
            input_example_rows=5,
            parity_rows=50,
        )
        registry = Registry(env["MLFLOW_TRACKING_URI"])
        from retrain.model_io import sha256_file

        ref, _ = registry.register(
            model_name,
            work / "champion-export",
            {"sha256": sha256_file(champion), "baseline_version": "none"},
        )
        registry.set_alias(model_name, "champion", ref.version)

        results["champion_lookup"] = measure(
            _retrain("gate", "--lookup-champion", "--out", "champion.json"), cwd=work, env=env
        )
        gate_cmd = _retrain(
            "gate",
            "--model",
            str(candidate),
            "--test",
            str(test),
            "--champion",
            "champion.json",
            "--out",
            "gate.json",
        )
        results["gate_whole_process"] = measure(gate_cmd, cwd=work, env=env)
        gate = json.loads((work / "gate.json").read_text())
        results["gate_verdict"] = gate["summary"]
        results["gate_rows"] = gate["test_window"]["n"]

        # The bootstrap alone, in-process (the part that scales with rows x resamples).
        import numpy as np
        import pandas as pd

        from retrain.model_io import load_model
        from retrain.stages.gate import paired_bootstrap, score

        frame = pd.read_parquet(test)
        y = frame["label"].to_numpy().astype(float)
        a = score(load_model(candidate), frame, "classification")
        b = score(load_model(champion), frame, "classification")
        started = time.perf_counter()
        diffs = paired_bootstrap("roc_auc", y, a, b, resamples=1000, block=50, seed=42)
        results["bootstrap_roc_auc_1000_resamples_s"] = round(time.perf_counter() - started, 3)
        results["bootstrap_ci_roc_auc"] = [
            round(float(q), 5) for q in np.quantile(diffs, [0.025, 0.975])
        ]

        if not gate["blessed"]:  # push only registers blessed models: bench the dry-run path
            gate["blessed"] = True
            (work / "gate.json").write_text(json.dumps(gate))
            results["note"] = (
                "candidate not blessed on this window; gate.json marked blessed to time push"
            )
        results["export_whole_process"] = measure(
            _retrain(
                "export",
                "--model",
                str(candidate),
                "--test",
                str(test),
                "--search",
                "search.json",
                "--out",
                "export",
            ),
            cwd=work,
            env=env,
        )
        results.update(_push_and_promote(work, env, "sqlite"))

        load = (
            "import time, mlflow.pyfunc; t = time.perf_counter(); "
            f"mlflow.pyfunc.load_model('models:/{model_name}@champion'); "
            "print(time.perf_counter() - t)"
        )
        results["load_model_whole_process"] = measure([sys.executable, "-c", load], env=env)
        done = subprocess.run(
            [sys.executable, "-c", load], env=env, capture_output=True, text=True, check=True
        )
        results["load_model_in_process_s"] = round(float(done.stdout.strip().splitlines()[-1]), 3)
        import_only = measure([sys.executable, "-c", "import mlflow.pyfunc"], env=env)
        results["python_import_mlflow_only"] = import_only

        if not args.no_server:
            from registry_support import mlflow_server_process

            server_work = tmp / "server-work"
            server_work.mkdir()
            for name in ("params.yaml", "search.json", "gate.json"):
                shutil.copyfile(work / name, server_work / name)
            shutil.copytree(work / "export", server_work / "export")
            shutil.copytree(repo, server_work / "repo")
            with mlflow_server_process(tmp / "server") as url:
                server_env = {**os.environ, "MLFLOW_TRACKING_URI": url}
                # The server store has no champion: gate.json's baseline must match that.
                gate["champion_version"] = None
                (server_work / "gate.json").write_text(json.dumps(gate))
                results.update(_push_and_promote(server_work, server_env, "server"))
                results["load_model_server_whole_process"] = measure(
                    [sys.executable, "-c", load], env=server_env
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    path = save("registry", results)
    print(path.read_text())


if __name__ == "__main__":
    main()
