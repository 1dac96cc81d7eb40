"""Helpers for the gate / export / push / promote / registry tests (importable from tests/).

Real parts only: scikit-learn Pipelines fitted on the tiny fixture window, saved with skops via
retrain.model_io, exported as real MLflow model directories, registered in a real MLflow store
(a sqlite file in tmp_path, or a real `mlflow server` process on 127.0.0.1).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gate"
TRAIN = FIXTURES / "train.parquet"
TEST = FIXTURES / "test.parquet"
FEATURES = ["carrier", "origin", "dep_hour", "temp", "distance"]
MODEL = "flight-delay"


@contextmanager
def one_thread() -> Iterator[None]:
    """OpenMP on a busy 2-core box spins: a 0.1 s fit takes 10 s with default threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@functools.cache
def fit_pipeline(
    kind: str = "hgb",
    *,
    shuffle_labels: bool = False,
    shuffle_where: str | None = None,
    seed: int = 0,
):
    """A real preprocessing + model Pipeline fitted on the fixture train window (cached:
    tests only read it).

    shuffle_labels: the degraded candidate (labels permuted: no signal left).
    shuffle_where: permute labels only where origin == this value (a slice regression).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = pd.read_parquet(TRAIN)
    y = train["label"].to_numpy().copy()
    rng = np.random.default_rng(seed)
    if shuffle_labels:
        y = rng.permutation(y)
    if shuffle_where is not None:
        mask = (train["origin"] == shuffle_where).to_numpy()
        y[mask] = rng.permutation(y[mask])
    cat = ["carrier", "origin"]
    num = ["dep_hour", "temp", "distance"]
    if kind == "hgb":
        pre = ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), cat)], remainder="passthrough"
        )
        est = HistGradientBoostingClassifier(max_iter=40, random_state=seed)
    else:
        pre = ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), cat), ("num", StandardScaler(), num)]
        )
        est = LogisticRegression(max_iter=500)
    with one_thread():
        return Pipeline([("pre", pre), ("model", est)]).fit(train[FEATURES], y)


def save(pipeline, path: Path) -> str:
    from retrain.model_io import save_model

    return save_model(pipeline, path)


def export(pipeline, workdir: Path, name: str = "cand") -> tuple[Path, str]:
    """Save + export; returns (export dir, sha256 of the skops file)."""
    from retrain.exporting import export_model

    skops = workdir / f"{name}.skops"
    sha = save(pipeline, skops)
    out = workdir / f"{name}-export"
    export_model(
        skops, TEST, out, task="classification", threshold=0.4, input_example_rows=3, parity_rows=50
    )
    return out, sha


_SESSION_DIR: list[Path] = []


def exported_model(kind: str = "hgb", seed: int = 0) -> tuple[Path, str]:
    """A real export of fit_pipeline(kind, seed=seed), made once per session (read-only:
    tests that tamper with it work on a copy)."""
    # One cache key per (kind, seed) however it is called: exported_model("hgb") and
    # exported_model("hgb", 0) must not export twice into the same directory.
    return _exported_model(kind, seed)


@functools.cache
def _exported_model(kind: str, seed: int) -> tuple[Path, str]:
    import atexit
    import tempfile

    if not _SESSION_DIR:
        _SESSION_DIR.append(Path(tempfile.mkdtemp(prefix="retrain-exports-")))
        atexit.register(shutil.rmtree, _SESSION_DIR[0], True)
    return export(fit_pipeline(kind, seed=seed), _SESSION_DIR[0], f"{kind}-{seed}")


def register(registry, export_dir: Path, sha: str, baseline: str | None = None, **extra):
    tags = {"sha256": sha, **({"baseline_version": baseline} if baseline else {}), **extra}
    ref, _ = registry.register(MODEL, export_dir, tags)
    return ref


def write_search(path: Path, run_id: str = "run-123") -> Path:
    """A search.json as the train stage writes it (the fields push and report read matter)."""
    from retrain.artifacts import SearchSummary

    SearchSummary(
        task="classification",
        primary_metric="roc_auc",
        greater_is_better=True,
        best_family="hist_gradient_boosting",
        best_params={},
        best_trial=0,
        cv_score=0.7,
        threshold=0.4,
        n_trials=1,
        n_pruned=0,
        n_trials_this_worker=1,
        stopped_by="trials",
        search_s=1.0,
        refit_s=1.0,
        elapsed_s=2.0,
        study_name="study",
        mlflow_run_id=run_id,
        train_start="2013-06-01",
        train_end="2013-08-01",
        n_train=100,
    ).write(path)
    return path


_TEMPLATE_DB: list[Path] = []


def fresh_store(directory: Path) -> str:
    """URI of a fresh, real MLflow sqlite store in `directory`.

    Creating the schema runs ~40 alembic migrations (seconds on a busy box), so the first
    store of the session is migrated once and later ones start from a copy of that empty file.
    """
    import tempfile

    if not _TEMPLATE_DB:
        from retrain.registry import MlflowRegistry as Registry

        template = Path(tempfile.mkdtemp(prefix="retrain-template-")) / "mlruns.db"
        Registry(f"sqlite:///{template}").model_tags("none")  # creates and migrates the schema
        _TEMPLATE_DB.append(template)
    db = directory / "mlruns.db"
    shutil.copyfile(_TEMPLATE_DB[0], db)
    return f"sqlite:///{db}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mlflow_server_process(root: Path, timeout_s: float = 300) -> Iterator[str]:
    """A real `mlflow server` (sqlite backend, local artifact root) on a free 127.0.0.1 port."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: killed as a whole at the end
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not become healthy in time")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
