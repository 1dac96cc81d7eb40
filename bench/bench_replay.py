"""The 2013 replay with every retrain policy (issue 16): mean monthly AUC, retrains and their
measured cost per policy; the label-free CBPE estimate vs the realised AUC per month (within
0.02? realised inside the interval?) against the naive estimate "AUC = the registered test
AUC"; and with label delay k = 1, `estimated` vs `decay`.

Each run is one whole `retrain replay` process, measured by the harness (wall, CPU, peak RSS).

    uv run python bench/bench_replay.py --features build/features/features.parquet --delay 0
    uv run python bench/bench_replay.py --features build/features/features.parquet --delay 1
    # -> bench/results/replay_k0.json, replay_k1.json (+ the replay's own outputs in --out)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from harness import measure, save, set_dotted

ROOT = Path(__file__).resolve().parents[1]
ALL = ["never", "periodic", "drift", "decay", "estimated", "challenger", "cost_aware"]
DELAYED = ["never", "periodic", "decay", "estimated", "challenger"]


def estimate_quality(result: dict[str, Any], metric: str) -> dict[str, Any]:
    """Per served month: the CBPE estimate vs the realised value, and the naive estimate.

    The champion of `never` ages the whole year: its months are the cleanest test. All
    policies' months (different champions, same months) are counted too."""

    def count(months: list[dict[str, Any]]) -> dict[str, Any]:
        rows = [m for m in months if m.get("estimate") and "value" in m["estimate"]]
        within = sum(abs(m["estimate"]["value"] - m[metric]) <= 0.02 for m in rows)
        inside = sum(m["estimate"]["low"] <= m[metric] <= m["estimate"]["high"] for m in rows)
        # the label-sampling interval alone: the recorded one less the cross-fitted margin
        margin = [m["estimate"].get("margin", 0.0) for m in rows]
        sampling = sum(
            m["estimate"]["low"] + w <= m[metric] <= m["estimate"]["high"] - w
            for m, w in zip(rows, margin, strict=True)
        )
        naive = sum(
            m["estimate"]["naive"] is not None and abs(m["estimate"]["naive"] - m[metric]) <= 0.02
            for m in rows
        )
        err = [abs(m["estimate"]["value"] - m[metric]) for m in rows]
        widths = [m["estimate"]["high"] - m["estimate"]["low"] for m in rows]
        naive_err = [abs(m["estimate"]["naive"] - m[metric]) for m in rows]
        return {
            "periods": len(rows),
            "within_0.02": within,
            "inside_interval": inside,
            "inside_sampling_interval": sampling,
            "naive_within_0.02": naive,
            "mean_abs_error": round(sum(err) / len(err), 4) if err else None,
            "naive_mean_abs_error": round(sum(naive_err) / len(naive_err), 4) if err else None,
            "mean_interval_width": round(sum(widths) / len(widths), 4) if widths else None,
            "per_period": [
                {
                    "period": m["period"],
                    "realised": round(m[metric], 4),
                    "estimate": m["estimate"]["value"],
                    "low": m["estimate"]["low"],
                    "high": m["estimate"]["high"],
                    "margin": m["estimate"].get("margin"),  # the cross-fitted error's widening
                    "naive": m["estimate"]["naive"],
                }
                for m in rows
            ],
        }

    policies = result["policies"]
    out = {}
    if "never" in policies:
        out["never"] = count(policies["never"]["periods"])
    out["all_policies"] = count([m for p in policies.values() for m in p["periods"]])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--delay", type=int, default=0)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--policies", nargs="+", help="default: all (k = 0) / those k > 0 suits")
    parser.add_argument("--name", help="results file name (default replay_k<delay>)")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=YAML",
        help="params overrides, e.g. policy.challenger.margin_relative=0.02",
    )  # fmt: skip
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["replay"].update(
        label_delay=args.delay,
        policies=args.policies or (DELAYED if args.delay else ALL),
        trials=args.trials,
        seconds=args.seconds,
    )
    for item in args.set:  # e.g. policy.challenger.margin_relative=0.02
        set_dotted(params, *item.split("=", 1))
    out = args.out or ROOT / "build" / f"replay-k{args.delay}"
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        path = Path(tmp) / "params.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        cmd = [
            str(venv_bin / "retrain"),
            "replay",
            "--params",
            str(path),
            "--features",
            str(args.features.resolve()),
            "--out",
            str(out),
        ]
        process = measure(cmd, cwd=ROOT, env=env)
    load_after = os.getloadavg()
    result = json.loads((out / "replay.json").read_text())
    metric = result["metric"]
    key = "auc" if metric == "roc_auc" else metric
    summary = {
        name: {
            f"mean_{key}": round(p[f"mean_{key}"], 4),
            "retrains": p["retrains"],
            "promotions": p["promotions"],
            "retrain_cpu_s": p["retrain_cpu_s"],
            "retrain_usd": p["retrain_usd"],
            "policy_cpu_s": p["policy_cpu_s"],
            "cost_usd": p["cost_usd"],
        }
        for name, p in result["policies"].items()
    }
    payload = {
        "label_delay": args.delay,
        "policies_run": list(result["policies"]),
        "trials": args.trials,
        "seconds": args.seconds,
        "overrides": args.set,
        "process": process,
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "trainings": result["trainings"],
        "policies": summary,
        "estimate_vs_realised": estimate_quality(result, metric),
    }
    print(json.dumps(payload, indent=2))
    save(args.name or f"replay_k{args.delay}", payload)


if __name__ == "__main__":
    main()
