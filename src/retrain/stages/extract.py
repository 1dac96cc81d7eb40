"""`retrain extract`: one features table for the window in params.

Source `feast` (default): the entity frame is every flight scheduled inside
`extract.window`; Feast's point-in-time join adds origin weather, plane attributes,
history rates that only describe days before the flight's own, and same-day congestion (at the
origin, towards the destination, of the carrier at the origin) and the aircraft's previous
departure, from departures at least `extract.feast.recent_horizon_hours` before the flight.
Source `table`: the user's parquet/CSV file, filtered to the window when it has
`base.event_time`.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass
from retrain.extraction import check_roles, feast_features, table_features
from retrain.tablecheck import check_params_against_table

log = logging.getLogger("retrain.extract")


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retrain extract", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data"), help="raw tables (feast)")
    parser.add_argument("--out", type=Path, required=True, help="features parquet to write")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument(
        "--feast-dir", type=Path, default=None, help="Feast work dir (default: params)"
    )
    args = parser.parse_args(argv)

    from retrain import logs
    from retrain.config import load_params
    from retrain.featurestore.sources import FLIGHTS_FILE, PLANES_FILE, WEATHER_FILE
    from retrain.fileio import confined, confined_dir, data_roots, input_roots, write_tables

    logs.setup()
    started = time.perf_counter()
    params = load_params(args.params)
    options = params.extract
    check_roles(params)
    if options.source == "feast":
        # the raw tables, like extract.table.path: symlinks and .. may not lead outside
        data = confined_dir(
            args.data, (FLIGHTS_FILE, WEATHER_FILE, PLANES_FILE), input_roots(args.params), "--data"
        )
        frame, join_seconds = feast_features(
            data,
            args.feast_dir or options.feast.work_dir,
            options.window,
            options.feast.history_publish_lag_hours,
            options.feast.delayed_above_minutes,
            options.feast.recent_horizon_hours,
            offline_store=options.feast.offline_store,
            repo_config=options.feast.repo_config,
        )
        how = f"Feast point-in-time join {join_seconds:.1f} s"
    else:
        assert options.table.path is not None  # enforced by ExtractSection
        # The project is the directory of params.yaml (DVC runs the stage there).
        roots = data_roots(args.params.resolve().parent)
        frame = table_features(
            confined(options.table.path, roots, "extract.table.path"),
            options.table.encoding,
            params.base.key,
            params.base.target,
            params.base.event_time,
            options.window,
            options.limits,
        )
        how = f"table {options.table.path}"
    check_params_against_table(params, frame)  # before anything is written or trained
    write_tables({args.out: frame})
    windowed = options.source == "feast" or params.base.event_time is not None
    log.info(
        "%s rows x %d columns%s -> %s (%s; %.1f s total)",
        f"{len(frame):,}",
        frame.shape[1],
        f" in window {options.window.label()}" if windowed else " (no time column, no window)",
        args.out,
        how,
        time.perf_counter() - started,
    )
    return 0
