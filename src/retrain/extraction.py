"""Extraction: the point-in-time joined feature table from the Feast store (bundled flights) or from the user's own table (pure; the extract stage writes it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from retrain.config.extract import InputLimits, OfflineStore, Window


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
    offline_store: OfflineStore | None = None,
    repo_config: Path | None = None,
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
    store = FlightFeatureStore(work_dir, offline_store, repo_config)
    # History aggregates come from every flight in data/ (days before the window included);
    # the point-in-time join decides what each flight may see.
    store.build(data_dir, flights, publish_lag_hours, delayed_above_minutes, recent_horizon_hours)
    del flights  # every raw flight (~1.4 GB at 10x the bundled data): not needed any more
    entities = request[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(request), event_timestamp=request["event_time"]
    )
    started = time.perf_counter()
    joined = store.historical_features(entities)
    join_seconds = time.perf_counter() - started
    del entities
    return assemble_features(request, joined), join_seconds


# The columns of features.parquet that come from the point-in-time join, as float64.
_JOINED_NUMERIC = frozenset(
    (
        *WEATHER_COLUMNS,
        *HISTORY_COLUMNS,
        *RECENT_COLUMNS,
        TAIL_PREV_DEP_DELAY,
        "plane_year",
        "seats",
        "engines",
    )
)


def assemble_features(request: pd.DataFrame, joined: pd.DataFrame) -> pd.DataFrame:
    """The request rows (ordered by flight_id) with the joined features of the same flight:
    a left join on the unique `flight_id`, in FEATURE_COLUMNS order and dtypes.

    Built one column at a time, each taken out of `joined` (which it empties) and `request`
    used without copies: the peak is one copy of the table, not the four or five of a merge,
    a sort, per-column casts and a column selection (at 10x the bundled data, ~1 GB each).
    """
    import numpy as np
    import pandas as pd

    for name, frame in (("request", request), ("joined", joined)):
        if not frame["flight_id"].is_unique:
            raise ValueError(f"{name} rows repeat a flight_id")
    if not request["flight_id"].is_monotonic_increasing:
        request = request.sort_values("flight_id", kind="stable")
    request = request.reset_index(drop=True)
    ids = joined.pop("flight_id").to_numpy()
    wanted = request["flight_id"].to_numpy()
    # Row i of the result takes row rows[i] of `joined` (-1: not joined, missing values).
    same = len(ids) == len(wanted) and bool(np.array_equal(ids, wanted))
    rows = None if same else pd.Index(ids).get_indexer(wanted)

    def take(column: str) -> pd.Series:
        values = joined.pop(column)
        if rows is None:
            values.index = request.index  # in place: no copy
            return values
        array = (
            values.array
            if isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
            else values.to_numpy()
        )
        taken = pd.api.extensions.take(array, rows, allow_fill=True)
        return pd.Series(taken, index=request.index, name=column, copy=False)

    columns: dict[str, pd.Series] = {}
    departed = take(TAIL_PREV_DEPARTED_AT)
    for column in FEATURE_COLUMNS:
        if column in request.columns:
            columns[column] = request[column]
        elif column == TAIL_HOURS_AGO:
            columns[column] = hours_between(departed, request["event_time"]).astype("float64")
            del departed
        elif column in _JOINED_NUMERIC:
            columns[column] = take(column).astype("float64", copy=False)
        else:  # manufacturer, engine
            columns[column] = _as_object_strings(take(column))
    return pd.DataFrame(columns, copy=False)


# Bytes decompressed per step of the streamed size check (a bomb is refused after ~1 step).
SCAN_CHUNK = 1024 * 1024
_LIMIT_HINT = "if the file is genuine, raise extract.limits.{key} in params.yaml"


def _over(path: Path, what: str, value: int, key: str, limit: int) -> UserError:
    return UserError(
        f"{path}: {what} ({value:,}) exceeds extract.limits.{key} ({limit:,}); "
        "refused before parsing",
        _LIMIT_HINT.format(key=key),
    )


def _open_csv_stream(path: Path) -> Any:
    """A binary stream of the CSV text: decompressed on the fly for .csv.gz / .csv.zip."""
    import gzip
    import zipfile

    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zip"):
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            archive.close()
            raise UserError(
                f"{path} holds {len(members)} files; a .csv.zip must hold exactly one CSV",
                "zip the one CSV file alone",
            )
        return archive.open(members[0])
    return path.open("rb")


def scan_csv(path: Path, limits: InputLimits) -> None:
    """Stream the (decompressed) CSV once, refusing it as soon as a cap is exceeded.

    Counts decompressed bytes, lines (rows + header; quoted newlines count too, so this errs
    on the side of refusing) and the longest line, and the header's columns. Memory stays at
    one chunk: a gzip bomb of one 2 GiB field is refused after ~max_line_bytes of it.
    """
    import gzip
    import zipfile
    import zlib

    total = lines = line = 0
    header: bytes | None = b""
    try:
        with _open_csv_stream(path) as stream:
            while chunk := stream.read(SCAN_CHUNK):
                total += len(chunk)
                if total > limits.max_decompressed_bytes:
                    raise _over(
                        path,
                        "decompressed size (bytes, so far)",
                        total,
                        "max_decompressed_bytes",
                        limits.max_decompressed_bytes,
                    )
                parts = chunk.split(b"\n")
                if header is not None:
                    header += parts[0][: limits.max_line_bytes + 1 - len(header)]
                    if len(parts) > 1:
                        columns = header.count(b",") + 1
                        if columns > limits.max_columns:
                            raise _over(
                                path, "header columns", columns, "max_columns", limits.max_columns
                            )
                        header = None
                longest = max(line + len(parts[0]), *(len(p) for p in parts[1:-1]), 0)
                line = len(parts[-1]) if len(parts) > 1 else line + len(parts[0])
                if max(longest, line) > limits.max_line_bytes:
                    raise _over(
                        path,
                        "a line's length (bytes, so far)",
                        max(longest, line),
                        "max_line_bytes",
                        limits.max_line_bytes,
                    )
                lines += len(parts) - 1
                if lines > limits.max_rows + 1:
                    raise _over(path, "rows (so far)", lines - 1, "max_rows", limits.max_rows)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
        raise UserError(
            f"{path} cannot be decompressed: {type(exc).__name__}",
            "write it again (gzip or zip of one UTF-8 CSV), or use an uncompressed .csv",
        ) from None


def _check_parquet(path: Path, limits: InputLimits) -> None:
    """Rows, columns and uncompressed size from the parquet footer, before reading data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as exc:
        raise UserError(
            f"{path} is not a readable parquet file ({type(exc).__name__})",
            "write it with pandas.DataFrame.to_parquet or use a CSV file",
        ) from None
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    checks = [
        ("rows", meta.num_rows, "max_rows", limits.max_rows),
        ("columns", meta.num_columns, "max_columns", limits.max_columns),
        (
            "uncompressed size (bytes)",
            size,
            "max_decompressed_bytes",
            limits.max_decompressed_bytes,
        ),
    ]
    for what, value, key, limit in checks:
        if value > limit:
            raise _over(path, what, value, key, limit)


def _check_shape(path: Path, frame: pd.DataFrame, limits: InputLimits) -> None:
    """Exact caps on the parsed table (the streamed scan counts approximately)."""
    if len(frame) > limits.max_rows:
        raise _over(path, "rows", len(frame), "max_rows", limits.max_rows)
    if frame.shape[1] > limits.max_columns:
        raise _over(path, "columns", frame.shape[1], "max_columns", limits.max_columns)
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind in "OSU" or str(values.dtype) == "string":
            longest = values.map(lambda v: len(v) if isinstance(v, str | bytes) else 0).max()
            if longest and longest > limits.max_field_chars:
                raise _over(
                    path,
                    "a text value's length (characters)",
                    int(longest),
                    "max_field_chars",
                    limits.max_field_chars,
                )


def read_table(path: Path, encoding: str, limits: InputLimits | None = None) -> pd.DataFrame:
    """The user's parquet or CSV file, with errors that say which file and how to fix it.

    `path` must already be confined (fileio.confined). Every cap in `limits` is checked
    before pandas parses the file (the exact row/column/field caps again after). No message
    quotes the file's content: only its path, sizes, counts and positions. pandas and pyarrow
    are imported only after the streamed checks pass (a refusal costs no import time).
    """
    from retrain.config.extract import InputLimits

    limits = limits or InputLimits()
    if not path.is_file():
        raise UserError(
            f"extract.table.path {path} does not exist",
            "put the file there (under data/ so DVC tracks it) or correct extract.table.path",
        )
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise _over(path, "file size (bytes)", size, "max_file_bytes", limits.max_file_bytes)
    name = path.name.lower()
    if name.endswith(".parquet"):
        _check_parquet(path, limits)
        import pandas as pd
        import pyarrow as pa

        try:
            frame = pd.read_parquet(path)
        except (pa.ArrowException, OSError) as exc:
            raise UserError(
                f"{path} is not a readable parquet file ({type(exc).__name__})",
                "write it with pandas.DataFrame.to_parquet or use a CSV file",
            ) from None
        _check_shape(path, frame, limits)
        return frame
    if name.endswith((".csv", ".csv.gz", ".csv.zip")):
        scan_csv(path, limits)
        import pandas as pd

        try:
            frame = pd.read_csv(path, encoding=encoding, encoding_errors="strict")
        except UnicodeDecodeError as exc:
            raise UserError(
                f"{path} is not valid {encoding} text ({exc.reason} at byte {exc.start})",
                f"re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 {path.name}`) or set "
                "extract.table.encoding to the file's encoding",
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, LookupError) as exc:
            # pandas' messages give positions and counts, never the offending text.
            raise UserError(
                f"{path} cannot be parsed as CSV with encoding {encoding!r}: {exc}",
                "check the file (comma-separated, one header row) and extract.table.encoding",
            ) from None
        _check_shape(path, frame, limits)
        return frame
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
    limits: InputLimits | None = None,
) -> pd.DataFrame:
    """features.parquet content for source `table`: the user's columns, window-filtered.

    Without a key (base.key null) a `row_id` column (ROW_ID) is derived from the rows' content.
    """
    frame = read_table(path, encoding, limits)  # imports pandas once the file passed its caps
    import pandas as pd

    from retrain.config.base import ROW_ID

    required = {"base.target": target}
    if key is not None:
        required["base.key"] = key
    if event_time is not None:
        required["base.event_time"] = event_time
    missing = {role: column for role, column in required.items() if column not in frame.columns}
    if missing:
        named = ", ".join(f"{role}={column!r}" for role, column in missing.items())
        raise UserError(
            # The file's own header is not quoted: it may not be a table at all (e.g. a
            # credentials file), and error messages never print file content.
            f"{path} lacks the column(s) named by {named}; it has {frame.shape[1]} other column(s)",
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
        if not pd.api.types.is_datetime64_any_dtype(times):
            parsed = pd.to_datetime(times, format="mixed", errors="coerce")
            bad = parsed.isna() & times.notna()
            if bad.any():
                raise UserError(
                    f"{path}: column {event_time!r} (base.event_time) is not a timestamp in "
                    f"{int(bad.sum()):,} row(s), the first at data row {int(bad.argmax()) + 1}",
                    "write ISO 8601 timestamps such as 2013-05-01T14:30:00Z",
                )
            times = parsed
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
