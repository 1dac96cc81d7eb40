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
sys.path.insert(0, str(ROOT / "tests"))  # registry_support: one_thread, the mlflow server
sys.path.insert(0, str(ROOT / "bench"))

from harness import measure, save  # noqa: E402

from registry_support import mlflow_server_process  # noqa: E402


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


def _params_subset(dst: Path) -> None:
    """The repository's base/gate/export/registry sections only: other sections may be
    mid-edit by other work and are irrelevant to these commands (validated by load_params
    in every command run below)."""
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    keep = {k: raw[k] for k in ("base", "gate", "export", "registry") if k in raw}
    # The suspicion checks need the training window and search.json, which this synthetic set-up
    # lacks; bench/bench_gate.py measures them on the pipeline's outputs.
    keep.setdefault("gate", {}).setdefault("suspicion", {})["enabled"] = False
    dst.write_text(yaml.safe_dump(keep, sort_keys=False), encoding="utf-8")


WARM_IMPORTS = """
import alembic, sqlalchemy, pandas, pyarrow.parquet, skops.io
import mlflow, mlflow.pyfunc, mlflow.tracking, mlflow.artifacts
import mlflow.pyfunc.loaders.code_model
import mlflow.store.tracking.sqlalchemy_store, mlflow.store.model_registry.sqlalchemy_store
import mlflow.store.model_registry.rest_store, mlflow.store.artifact.local_artifact_repo
import mlflow.store.artifact.mlflow_artifacts_repo
import sklearn.pipeline, sklearn.compose, sklearn.ensemble, sklearn.linear_model
import sklearn.preprocessing
import retrain.config, retrain.registry, retrain.promote, retrain.lineage
import retrain.stages.gate, retrain.stages.push, retrain.stages.export
"""


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


def setup(tmp: Path, rows: int, real: bool) -> None:
    """Heavy set-up in its own process (the measuring parent stays small: a child's peak RSS
    on Linux includes the RSS of the process it was forked from)."""
    import numpy as np
    import pandas as pd

    from retrain.config import load_params
    from retrain.exporting import export_model
    from retrain.gating import paired_bootstrap
    from retrain.logs import quiet_environment
    from retrain.model_io import load_model, sha256_file
    from retrain.registry import connect
    from retrain.scoring import score_frame as score

    quiet_environment()
    test, candidate, champion, source = _data(tmp, rows, real)
    work = tmp / "work"
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
    registry = connect(f"sqlite:///{work / 'mlruns.db'}")
    ref, _ = registry.register(
        model_name,
        work / "champion-export",
        {"sha256": sha256_file(champion), "baseline_version": "none"},
    )
    registry.set_alias(model_name, "champion", ref.version)

    # The bootstrap alone, in-process (the part that scales with rows x resamples).
    frame = pd.read_parquet(test)
    y = frame["label"].to_numpy().astype(float)
    a = score(load_model(candidate), frame, "classification")
    b = score(load_model(champion), frame, "classification")
    started = time.perf_counter()
    diffs = paired_bootstrap("roc_auc", y, a, b, resamples=1000, block=50, seed=42)
    elapsed = time.perf_counter() - started
    info = {
        "data": source,
        "test": str(test),
        "candidate": str(candidate),
        "model_name": model_name,
        "bootstrap_roc_auc_1000_resamples_in_process_s": round(elapsed, 3),
        "bootstrap_ci_roc_auc": [round(float(q), 5) for q in np.quantile(diffs, [0.025, 0.975])],
    }
    (tmp / "setup.json").write_text(json.dumps(info))


def run_suite(args: argparse.Namespace, bytecode: bool) -> dict[str, object]:
    """Every measurement once. bytecode=False: no .pyc at all (how this sandbox runs Python:
    PYTHONDONTWRITEBYTECODE=1, so each process compiles every module it imports);
    bytecode=True: a warm bytecode cache in a private PYTHONPYCACHEPREFIX (a normal install),
    warmed by the set-up process."""
    env_quiet = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONWARNINGS": "ignore",
    }
    results: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    base_env = dict(os.environ)
    if bytecode:
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        base_env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bench-registry-pyc")
    else:
        base_env["PYTHONDONTWRITEBYTECODE"] = "1"
    results["bytecode"] = (
        "warm cache (PYTHONPYCACHEPREFIX)" if bytecode else "none (compile on import)"
    )
    try:
        work = tmp / "work"
        work.mkdir()
        _params_subset(work / "params.yaml")
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
        env = {**base_env, **env_quiet, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlruns.db'}"}
        setup_cmd = [sys.executable, __file__, "--setup", str(tmp), "--rows", str(args.rows)]
        subprocess.run(setup_cmd + (["--real"] if args.real else []), check=True, env=env)
        if bytecode:  # compile what the measured commands import (set-up did most of it)
            subprocess.run([sys.executable, "-c", WARM_IMPORTS], check=True, env=env)
            subprocess.run(
                _retrain("gate", "--lookup-champion", "--out", "warm"),
                check=True,
                env=env,
                cwd=work,
                capture_output=True,
            )
        info = json.loads((tmp / "setup.json").read_text())
        test, candidate, model_name = (
            info.pop("test"),
            info.pop("candidate"),
            info.pop("model_name"),
        )
        results.update(info)

        results["champion_lookup"] = measure(
            _retrain("gate", "--lookup-champion", "--out", "champion"), cwd=work, env=env
        )
        gate_cmd = _retrain(
            "gate",
            "--model",
            candidate,
            "--test",
            test,
            "--champion",
            "champion",
            "--out",
            "gate.json",
        )
        results["gate_whole_process"] = measure(gate_cmd, cwd=work, env=env)
        gate = json.loads((work / "gate.json").read_text())
        results["gate_verdict"] = gate["summary"]
        results["gate_rows"] = gate["test_window"]["n"]
        if not gate["blessed"]:  # push registers blessed models only
            gate["blessed"] = True
            (work / "gate.json").write_text(json.dumps(gate))
            results["note"] = "candidate not blessed here; gate.json marked blessed to time push"
        results["export_whole_process"] = measure(
            [
                *_retrain("export", "--model", candidate, "--test", test),
                "--search",
                "search.json",
                "--out",
                "export",
            ],
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
        results["baseline_python_import_mlflow"] = measure(
            [sys.executable, "-c", "import mlflow.pyfunc"], env=env
        )

        if not args.no_server:
            server_work = tmp / "server-work"
            server_work.mkdir()
            for name in ("params.yaml", "search.json"):
                shutil.copyfile(work / name, server_work / name)
            shutil.copytree(work / "export", server_work / "export")
            shutil.copytree(repo, server_work / "repo")
            gate["champion_version"] = None  # the server's store has no champion yet
            (server_work / "gate.json").write_text(json.dumps(gate))
            started = time.perf_counter()
            with mlflow_server_process(tmp / "server", timeout_s=600) as url:
                results["server_start_s"] = round(time.perf_counter() - started, 1)
                server_env = {**env, "MLFLOW_TRACKING_URI": url}
                results.update(_push_and_promote(server_work, server_env, "server"))
                results["load_model_server_whole_process"] = measure(
                    [sys.executable, "-c", load], env=server_env
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=80_000)
    parser.add_argument("--no-server", action="store_true")
    parser.add_argument("--skip-cold", action="store_true", help="only the warm-bytecode run")
    parser.add_argument(
        "--real",
        action="store_true",
        help="use build/prepared/test.parquet + build/train/model.skops",
    )
    parser.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(args.setup, args.rows, args.real)
        return
    payload: dict[str, object] = {"warm_bytecode": run_suite(args, bytecode=True)}
    if not args.skip_cold:
        payload["no_bytecode"] = run_suite(args, bytecode=False)
    path = save("registry", payload)
    print(path.read_text())


if __name__ == "__main__":
    main()
