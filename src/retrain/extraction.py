"""Extraction: the point-in-time joined feature table from the Feast store (bundled flights) or from the user's own table (pure; the extract stage writes it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.errors import UserError
from retrain.featurestore.sources import (
    RECENT_VIEWS,
    TAIL_HOURS_AGO,
    TAIL_PREV_DEP_DELAY,
    TAIL_PREV_DEPARTED_AT,
    WEATHER_COLUMNS,
)

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import Params
    from retrain.config.extract import Window


KEY_COLUMNS = ("flight_id", "event_time")


FLIGHT_COLUMNS = (
    "carrier",
    "origin",
    "dest",
    "tailnum",
    "month",
    "day_of_week",
    "dep_hour",
    "arr_hour",
    "distance",
)


PLANE_COLUMNS = ("plane_year", "seats", "engines", "manufacturer", "engine")


HISTORY_COLUMNS = (
    "carrier_delay_rate_7d",
    "origin_delay_rate_1d",
    "route_delay_rate_28d",
    "route_flights_28d",
)


# Same-day congestion (Feast views `origin_recent`, `dest_recent`, `carrier_origin_recent`):
# departures that left at least extract.feast.recent_horizon_hours before the flight's
# scheduled departure.
RECENT_COLUMNS = tuple(column for view in RECENT_VIEWS for column in view.columns)


# The same aircraft's previous NYC departure (Feast view `tail_recent`), same horizon.
TAIL_COLUMNS = (TAIL_PREV_DEP_DELAY, TAIL_HOURS_AGO)


OUTCOME_COLUMNS = ("arr_delay", "dep_delay", "dep_time", "arr_time", "air_time")


# The exact column order of features.parquet for source `feast` (docs/contracts.md).
FEATURE_COLUMNS = (
    *KEY_COLUMNS,
    *FLIGHT_COLUMNS,
    *WEATHER_COLUMNS,
    *PLANE_COLUMNS,
    *HISTORY_COLUMNS,
    *RECENT_COLUMNS,
    *TAIL_COLUMNS,
    *OUTCOME_COLUMNS,
)


STRING_COLUMNS = ("carrier", "origin", "dest", "tailnum", "manufacturer", "engine")


INT_COLUMNS = ("flight_id", "month", "day_of_week", "dep_hour", "arr_hour")


def _in_window(times: pd.Series, window: Window) -> pd.Series:
    start, end = window.bounds_utc()
    return (times >= start) & (times < end)


def _as_object_strings(column: pd.Series) -> pd.Series:
    return column.astype(object).where(column.notna(), None)


def flights_in_window(flights: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The request-time view of each flight in the window (what is known before departure)."""
    import pandas as pd

    rows = flights.loc[_in_window(flights["event_time"], window)]
    frame = pd.DataFrame(
        {
            "flight_id": rows["flight_id"].astype("int64"),
            "event_time": rows["event_time"].astype("datetime64[ns, UTC]"),
            "carrier": _as_object_strings(rows["carrier"]),
            "origin": _as_object_strings(rows["origin"]),
            "dest": _as_object_strings(rows["dest"]),
            "tailnum": _as_object_strings(rows["tailnum"]),
            "month": rows["month"].astype("int64"),
            "day_of_week": rows["local_date"].dt.dayofweek.astype("int64"),
            "dep_hour": (rows["sched_dep_time"] // 100).astype("int64"),
            "arr_hour": (rows["sched_arr_time"] // 100 % 24).astype("int64"),
            "distance": rows["distance"].astype("float64"),
        }
    )
    for column in OUTCOME_COLUMNS:
        frame[column] = rows[column].astype("float64")
    return frame.reset_index(drop=True)


def hours_between(earlier: pd.Series, later: pd.Series) -> pd.Series:
    """Hours from `earlier` to `later` (NaN where `earlier` is missing). Both are read as UTC
    instants (Feast hands timestamps back as datetimes or ISO strings), so a DST change
    between them never adds or loses an hour."""
    import pandas as pd

    start = pd.to_datetime(earlier, utc=True, format="ISO8601")
    return (later - start) / pd.Timedelta(hours=1)


def feast_features(
    data_dir: Path,
    work_dir: Path,
    window: Window,
    publish_lag_hours: int,
    delayed_above_minutes: float,
    recent_horizon_hours: int,
) -> tuple[pd.DataFrame, float]:
    """features.parquet content for source `feast`, and the point-in-time join's seconds."""
    from retrain.featurestore.sources import read_flights
    from retrain.featurestore.store import FlightFeatureStore, route_of

    flights = read_flights(data_dir)
    request = flights_in_window(flights, window)
    if request.empty:
        first, last = flights["event_time"].min(), flights["event_time"].max()
        raise UserError(
            f"no flights scheduled in extract.window {window.label()}; "
            f"{data_dir} holds {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC",
            "move extract.window in params.yaml inside the data's range",
        )
    store = FlightFeatureStore(work_dir)
    # History aggregates come from every flight in data/ (days before the window included);
    # the point-in-time join decides what each flight may see.
    store.build(data_dir, flights, publish_lag_hours, delayed_above_minutes, recent_horizon_hours)
    entities = request[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    started = time.perf_counter()
    joined = store.historical_features(entities)
    join_seconds = time.perf_counter() - started
    features = joined[
        [
            "flight_id",
            *WEATHER_COLUMNS,
            *PLANE_COLUMNS,
            *HISTORY_COLUMNS,
            *RECENT_COLUMNS,
            TAIL_PREV_DEP_DELAY,
            TAIL_PREV_DEPARTED_AT,
        ]
    ]
    out = request.merge(features, on="flight_id", how="left", validate="one_to_one")
    out = out.sort_values("flight_id", kind="stable").reset_index(drop=True)
    out[TAIL_HOURS_AGO] = hours_between(out[TAIL_PREV_DEPARTED_AT], out["event_time"])
    numeric = (
        *WEATHER_COLUMNS,
        *HISTORY_COLUMNS,
        *RECENT_COLUMNS,
        *TAIL_COLUMNS,
        "plane_year",
        "seats",
        "engines",
    )
    for column in numeric:
        out[column] = out[column].astype("float64")
    for column in ("manufacturer", "engine"):
        out[column] = _as_object_strings(out[column])
    return out[list(FEATURE_COLUMNS)], join_seconds


def read_table(path: Path, encoding: str) -> pd.DataFrame:
    """The user's parquet or CSV file, with errors that say which file and how to fix it."""
    import pandas as pd
    import pyarrow as pa

    if not path.is_file():
        raise UserError(
            f"extract.table.path {path} does not exist",
            "put the file there (under data/ so DVC tracks it) or correct extract.table.path",
        )
    name = path.name.lower()
    if name.endswith(".parquet"):
        try:
            return pd.read_parquet(path)
        except (pa.ArrowException, OSError) as exc:
            raise UserError(
                f"{path} is not a readable parquet file: {exc}",
                "write it with pandas.DataFrame.to_parquet or use a CSV file",
            ) from None
    if name.endswith((".csv", ".csv.gz", ".csv.zip")):
        try:
            return pd.read_csv(path, encoding=encoding, encoding_errors="strict")
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{path} is not valid {encoding} text ({exc.reason} at byte {exc.start})",
                f"re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 {path.name}`) or set "
                "extract.table.encoding to the file's encoding",
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, LookupError) as exc:
            raise UserError(
                f"{path} cannot be parsed as CSV with encoding {encoding!r}: {exc}",
                "check the file (comma-separated, one header row) and extract.table.encoding",
            ) from None
    raise UserError(
        f"extract.table.path {path} has an unsupported type",
        "use a .parquet, .csv, .csv.gz or .csv.zip file",
    )


def row_ids(frame: pd.DataFrame) -> pd.Series:
    """A stable identity per row for tables without a key (docs/contracts.md, `row_id`).

    64-bit hash of the row's values (pandas' `hash_pandas_object`, columns in name order so a
    reordered file gives the same ids) as 16 hex digits, plus `-n` where n counts the identical
    rows before it (0 for the first). The same row keeps its id when rows are added, removed
    or reordered elsewhere in the table; only a change of its own values gives it a new one.
    """
    import pandas as pd

    ordered = frame[sorted(frame.columns, key=str)]
    hashes = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    text = pd.Series([f"{h:016x}" for h in hashes], index=frame.index, dtype=object)
    nth = text.groupby(text, sort=False).cumcount()
    return text + "-" + nth.astype(str)


def table_features(
    path: Path,
    encoding: str,
    key: str | None,
    target: str,
    event_time: str | None,
    window: Window,
) -> pd.DataFrame:
    """features.parquet content for source `table`: the user's columns, window-filtered.

    Without a key (base.key null) a `row_id` column (ROW_ID) is derived from the rows' content.
    """
    import pandas as pd

    from retrain.config.base import ROW_ID

    frame = read_table(path, encoding)
    required = {"base.target": target}
    if key is not None:
        required["base.key"] = key
    if event_time is not None:
        required["base.event_time"] = event_time
    missing = {role: column for role, column in required.items() if column not in frame.columns}
    if missing:
        named = ", ".join(f"{role}={column!r}" for role, column in missing.items())
        raise UserError(
            f"{path} lacks the column(s) named by {named}; it has: "
            f"{', '.join(map(str, frame.columns[:30]))}",
            "rename the column(s) in the file or point base.key / base.target / "
            "base.event_time in params.yaml at existing ones (base.event_time: null if the "
            "table has no time column)",
        )
    if key is None:
        if ROW_ID in frame.columns:
            raise UserError(
                f"{path} has a {ROW_ID!r} column but base.key is null, so extract would "
                f"derive {ROW_ID!r} itself",
                f"set base.key: {ROW_ID} if that column identifies rows, or rename it",
            )
        frame.insert(0, ROW_ID, row_ids(frame))  # from the file's values, before any filter
    if event_time is not None:
        times = frame[event_time]
        try:
            if not pd.api.types.is_datetime64_any_dtype(times):
                times = pd.to_datetime(times, format="mixed")
        except (ValueError, TypeError) as exc:
            raise UserError(
                f"{path}: column {event_time!r} (base.event_time) is not a timestamp: {exc}",
                "write ISO 8601 timestamps such as 2013-05-01T14:30:00Z",
            ) from None
        if getattr(times.dt, "tz", None) is None:
            times = times.dt.tz_localize(window.timezone)  # naive: the window's clock
        frame[event_time] = times.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        frame = frame.loc[_in_window(frame[event_time], window)].reset_index(drop=True)
        if frame.empty:
            raise UserError(
                f"{path} has no rows with {event_time} in extract.window {window.label()}",
                "move extract.window in params.yaml to cover the table's time range",
            )
    if frame.empty:
        raise UserError(f"{path} has no rows", "export the table again with its data")
    return frame


def check_roles(params: Params) -> None:
    """Source `feast` writes fixed column names; base's roles must point at them."""
    base = params.base
    if params.extract.source != "feast":
        return
    wrong = []
    if base.key != "flight_id":
        wrong.append(f"base.key={base.key!r} (expected 'flight_id')")
    if base.event_time != "event_time":
        wrong.append(f"base.event_time={base.event_time!r} (expected 'event_time')")
    if base.target not in FEATURE_COLUMNS:
        wrong.append(f"base.target={base.target!r} (not a feature column)")
    if wrong:
        raise UserError(
            "extract.source 'feast' writes the columns of docs/contracts.md, but "
            + "; ".join(wrong),
            "set base.key: flight_id, base.event_time: event_time and a target such as "
            "arr_delay, or use extract.source: table for your own table",
        )
