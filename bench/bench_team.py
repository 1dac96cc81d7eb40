"""Team stack vs the default sqlite store: `retrain train` + `retrain push`, whole process.

Run: uv run python bench/bench_team.py [--trials 20] [--seconds 60] [--pg-study]   (needs `make sync-team`
and Debian's postgresql). Writes bench/results/team.json.

One project from `retrain init` on scikit-learn's breast-cancer table (569 rows; the project's
own pipeline, small and public), copied once per backend:
  sqlite        MLFLOW_TRACKING_URI unset: the project's sqlite file, in-memory Optuna study
  server        the `retrain stack` (mlflow server on PostgreSQL + S3 artifacts), same params
  server+pg     (--pg-study) as server, with the Optuna study in the stack's PostgreSQL (train.storage)
For each: `dvc repro prepare` (not measured), `retrain train` (measured), `dvc commit train`,
`dvc repro gate export` (evaluate, champion, gate, export; not measured), `retrain push` (measured).
Wall, CPU (user+sys of the process and the children it waited for) and peak RSS from wait4.
Also the training tracker's set-up against the server (item 6): a plain MLflow client's first
request (imports feast through plugin discovery) vs `MlflowTracker` (tracking.prepare_client).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from harness import save  # noqa: E402

from retrain.stack import Stack  # noqa: E402

BIN = Path(sys.executable).parent


def measure(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out[-1500:]}\n{err[-1500:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "stdout_tail": out.strip().splitlines()[-1:] if out.strip() else [],
    }


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    return env


def make_project(where: Path, trials: int, seconds: int) -> Path:
    from sklearn.datasets import load_breast_cancer

    repo = where / "base"
    (repo / "data").mkdir(parents=True)
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__"))
    load_breast_cancer(as_frame=True).frame.to_csv(repo / "data" / "cancer.csv", index=False)
    env = base_env()
    run(
        [str(BIN / "retrain"), "init", "--table", "data/cancer.csv", "--target", "target"],
        repo,
        env,
    )
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["budget"] = {"trials": trials, "seconds": seconds}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], [str(BIN / "dvc"), "init", "-q"], ["git", "add", "-A"]):
        run(cmd, repo, env)
    run(["git", "commit", "-q", "-m", "init"], repo, env)
    return repo


def one_backend(base: Path, name: str, env: dict[str, str], storage: str | None) -> dict[str, Any]:
    repo = base.parent / name.replace("+", "-")
    shutil.copytree(base, repo, symlinks=True)
    if storage:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["train"]["storage"] = storage
        params["train"]["study_name"] = f"bench-{int(time.time())}"
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc, retrain = str(BIN / "dvc"), str(BIN / "retrain")
    run([dvc, "repro", "prepare"], repo, env)
    train = measure(
        [
            retrain,
            "train",
            "--train",
            "build/prepared/train.parquet",
            "--out",
            "build/train",
            "--cost",
            "metrics/cost/train.json",
        ],
        repo,
        env,
    )
    run([dvc, "commit", "-f", "-q", "train"], repo, env)
    run([dvc, "repro", "gate", "export"], repo, env)
    push = measure(
        [
            retrain,
            "push",
            "--export",
            "build/export/model",
            "--gate",
            "metrics/gate.json",
            "--search",
            "build/train/search.json",
            "--out",
            "registry.json",
            "--cost",
            "metrics/cost/push.json",
        ],
        repo,
        env,
    )
    search = yaml.safe_load((repo / "build/train/search.json").read_text())
    return {
        "train": train,
        "push": push,
        "n_trials": search["n_trials"],
        "cv_score": search["cv_score"],
        "registered": (repo / "registry.json").read_text().count('"version"') > 0,
    }


_SETUP = """
import os, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "tracker":
    from retrain.search.tracker import MlflowTracker
    MlflowTracker("bench-setup")
else:
    from mlflow import MlflowClient
    MlflowClient(os.environ["MLFLOW_TRACKING_URI"]).search_experiments()
print(f"feast_imported={'feast' in sys.modules} setup_s={time.perf_counter() - t0:.2f}")
"""


def tracker_setup(env: dict[str, str], repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for how in ("plain", "tracker"):
        runs = [
            measure([sys.executable, "-c", _SETUP, how], Path(tempfile.gettempdir()), env)
            for _ in range(repeats)
        ]
        out[how] = {
            "wall_s": sorted(r["wall_s"] for r in runs),
            "cpu_s": sorted(r["cpu_s"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "last": runs[-1]["stdout_tail"],
        }
    return out


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--setup-repeats", type=int, default=2)
    parser.add_argument("--pg-study", action="store_true", help="also server + PostgreSQL study")
    args = parser.parse_args()
    results: dict[str, Any] = {"trials": args.trials, "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp:
        tmp_path = Path(tmp)
        tmp_path.chmod(0o755)  # as root, PostgreSQL runs as `postgres`, which must reach it
        stack = Stack(tmp_path / ".stack")
        started = time.perf_counter()
        urls = stack.up()
        results["stack_up_s"] = round(time.perf_counter() - started, 1)
        try:
            base = make_project(tmp_path, args.trials, args.seconds)
            server_env = base_env() | urls
            results["tracker_setup"] = tracker_setup(server_env, args.setup_repeats)
            print("tracker set-up", results["tracker_setup"], flush=True)
            backends = {"sqlite": (base_env(), None), "server": (server_env, None)}
            if args.pg_study:
                backends["server+pg"] = (server_env, urls["RETRAIN_OPTUNA_STORAGE"])
            for name, (env, storage) in backends.items():
                results[name] = one_backend(base, name, env, storage)
                print(name, results[name], flush=True)
                save("team", results)  # what is measured so far
        finally:
            started = time.perf_counter()
            stack.down()
            results["stack_down_s"] = round(time.perf_counter() - started, 1)
    for step in ("train", "push"):
        for what in ("wall_s", "cpu_s", "peak_rss_mb"):
            results[f"ratio_server_vs_sqlite_{step}_{what}"] = ratio(
                results["server"][step][what], results["sqlite"][step][what]
            )
    print(save("team", results))


if __name__ == "__main__":
    main()
