"""How long does a `dvc repro` take when nothing moved? (issue 17: goal ≤ 2 s)

A fresh clone runs the pipeline once (bundled data, `--budget` seconds of search), its model
becomes the champion, one more repro fetches the champion's artifact; then, with nothing
changed, the no-op `dvc repro` and its one always-run stage (`retrain gate --lookup-champion`)
are timed `--runs` times each (medians), next to the peer: the same lookup through MLflow's
client (`MlflowClient.get_model_version_by_alias`, what the stage did before), in a fresh
process each time, alternating.

    uv run python bench/bench_noop_repro.py [--runs 5] [--budget 10]   # -> results/noop_repro.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import measure, save, summarize

ROOT = Path(__file__).resolve().parents[1]
MODEL = "flight-delay"
CLIENT_LOOKUP = (
    "import sys; from mlflow.tracking import MlflowClient;"
    "uri = sys.argv[1]; c = MlflowClient(tracking_uri=uri, registry_uri=uri);"
    "print(c.get_model_version_by_alias(sys.argv[2], 'champion').version)"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budget", type=int, default=10, help="train.budget.seconds")
    args = parser.parse_args()
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        uri = f"sqlite:///{clone / 'mlruns.db'}"
        env["MLFLOW_TRACKING_URI"] = uri
        params = clone / "params.yaml"
        text = params.read_text()
        params.write_text(text.replace("    seconds: 60 ", f"    seconds: {args.budget} ", 1))
        quiet = {"cwd": clone, "env": env, "check": True, "stdout": subprocess.DEVNULL}
        subprocess.run(["retrain", "data"], **quiet)
        subprocess.run(["dvc", "repro"], **quiet)
        version = (clone / "registry.json").read_text()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from mlflow.tracking import MlflowClient as C;"
                "c = C(tracking_uri=sys.argv[1], registry_uri=sys.argv[1]);"
                "v = max(int(m.version) for m in c.search_model_versions(f\"name='{sys.argv[2]}'\"));"
                "c.set_registered_model_alias(sys.argv[2], 'champion', str(v))",
                uri,
                MODEL,
            ],
            **quiet,
        )
        subprocess.run(["dvc", "repro"], **quiet)  # fetches the champion; the gate re-runs
        repro, stage, client, status_runs = [], [], [], []
        lookup = ["retrain", "gate", "--lookup-champion", "--out", "build/champion"]
        for _ in range(args.runs):
            repro.append(measure(["dvc", "repro"], cwd=clone, env=env))
            stage.append(measure(lookup, cwd=clone, env=env))
            client.append(measure([sys.executable, "-c", CLIENT_LOOKUP, uri, MODEL], env=env))
            # DVC's own floor: the same stage checks with no command run
            status_runs.append(measure(["dvc", "status"], cwd=clone, env=env))
        status = subprocess.run(
            ["dvc", "status"], cwd=clone, env=env, check=True, capture_output=True, text=True
        ).stdout
    path = save(
        "noop_repro",
        {
            "command": f"bench/bench_noop_repro.py --runs {args.runs} --budget {args.budget}",
            "load_average": os.getloadavg(),
            "registry_json": version[:200],
            "dvc_status_after": status.strip()[:500],
            "noop_dvc_repro": summarize(repro),
            "champion_stage (retrain gate --lookup-champion)": summarize(stage),
            "peer: MlflowClient.get_model_version_by_alias in a fresh process": summarize(client),
            "floor: dvc status (DVC's stage checks alone)": summarize(status_runs),
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    main()
