"""`retrain features`: the online store — materialise the latest feature values, read them back.

    retrain features --materialize [--end 2013-12-31T23:59]      # offline sources -> online store
    retrain features --online --flight origin=JFK,dest=LAX,carrier=AA,tailnum=N319AA [...]

Uses the Feast work dir that `retrain extract` built (`extract.feast.work_dir`, its registry and
sources) and the offline store of `extract.feast.offline_store` to read the sources; the online
store is Feast's SQLite store in the same directory (or the stores extract.feast.repo_config
names). `--online` prints one JSON object per flight with the latest value of every feature
(null where the key was never materialised).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from retrain.errors import UserError


def _flight(text: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise UserError(
            f"--flight {text!r} is not key=value,key=value",
            "e.g. --flight origin=JFK,dest=LAX,carrier=AA,tailnum=N319AA",
        )
    return {k.strip(): v.strip() for k, v in pairs}


def _when(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--end {text!r} is not an ISO date/time", "e.g. 2013-12-31T23:59"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain features", description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--feast-dir", type=Path, default=None, help="default: params")
    parser.add_argument("--materialize", action="store_true", help="fill the online store")
    parser.add_argument("--start", default="1970-01-01", help="materialise rows from (ISO)")
    parser.add_argument("--end", default=None, help="materialise rows up to (ISO; default now)")
    parser.add_argument("--online", action="store_true", help="read the online store")
    parser.add_argument("--flight", action="append", default=[], help="key=value,... (repeat)")
    args = parser.parse_args(argv)
    if not (args.materialize or args.online):
        parser.error("give --materialize, --online, or both")
    if args.online and not args.flight:
        parser.error("--online needs at least one --flight")
    flights = [_flight(f) for f in args.flight]

    from retrain import logs
    from retrain.config import load_params
    from retrain.featurestore.store import FlightFeatureStore

    logs.setup()
    params = load_params(args.params)
    feast = params.extract.feast
    store = FlightFeatureStore(
        args.feast_dir or feast.work_dir, feast.offline_store, feast.repo_config
    )
    if not store.has_registry():
        raise UserError(
            f"no Feast registry in {store.work_dir}", "run `retrain extract` (or dvc repro) first"
        )
    if args.materialize:
        end = _when(args.end) if args.end else dt.datetime.now(dt.UTC)
        store.materialize(_when(args.start), end)
    if args.online:
        frame = store.online_features(flights)
        for record in frame.to_dict(orient="records"):
            print(json.dumps({k: _json_value(v) for k, v in record.items()}, sort_keys=True))
    return 0
