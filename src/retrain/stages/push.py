"""Stage `push`: register a blessed candidate as the `challenger` and write `registry.json`.

`registry.json` is committed by the retrain pull request; merging it promotes the version it
names (`retrain promote`). Not blessed → `registry.json` says so (`version: null`) and nothing
is registered.

Idempotent: a version is identified by its artifact sha256 and the champion version it was
gated against; re-running with the same inputs returns the existing version, and two
concurrent pushes end with one version (see Registry.register). A failure (registry down,
tampered export) leaves `registry.json` untouched.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.artifacts import GateVerdict, SearchSummary

if TYPE_CHECKING:
    pass
from retrain.pushing import push
from retrain.splitting import split_rule

log = logging.getLogger("retrain.push")


def cli(argv: list[str]) -> int:
    from retrain import lineage, logs
    from retrain.config import load_params, params_hash

    parser = argparse.ArgumentParser(prog="retrain push", description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="build/export/model")
    parser.add_argument("--gate", type=Path, required=True, help="metrics/gate.json")
    parser.add_argument("--search", type=Path, required=True, help="build/train/search.json")
    parser.add_argument("--out", type=Path, required=True, help="registry.json")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logs.setup()
    params = load_params(args.params)
    gate = GateVerdict.read(args.gate, "run the gate stage (dvc repro gate)")
    search = SearchSummary.read(args.search, "run the train stage (dvc repro train)")
    record, created = push(
        args.export,
        gate,
        search,
        model=params.base.model_name,
        experiment=params.registry.experiment,
        lineage={
            "git_commit": lineage.git_commit(),
            "data_hash": lineage.data_hash(),
            "params_hash": params_hash(params),
        },
        split=split_rule(params.base, params.prepare),
    )
    record.write(args.out)
    if record.version is None:
        log.info("not blessed (%s): nothing registered", gate.summary)
    else:
        log.info(
            "%s %s version %s as challenger (baseline %s)",
            "registered" if created else "already registered:",
            record.model,
            record.version,
            record.baseline_version or "none",
        )
    return 0
