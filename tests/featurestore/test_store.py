"""The Feast store on the tiny fixture: point-in-time joins checked against plain pandas."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.featurestore import sources
from retrain.featurestore.store import FlightFeatureStore, route_of

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS, RECENT_HORIZON_HOURS

WEATHER = list(sources.WEATHER_COLUMNS)
HISTORY = ["carrier_delay_rate_7d", "origin_delay_rate_1d", "route_delay_rate_28d"]


def entity_frame(flights: pd.DataFrame) -> pd.DataFrame:
    return flights[["flight_id", "origin", "tailnum", "carrier", "dest"]].assign(
        route=route_of(flights),
        event_timestamp=flights["event_time"],
        tailnum=flights["tailnum"].astype(object).where(flights["tailnum"].notna(), None),
    )


def build_and_join(work_dir: Path, data_dir: Path, flights: pd.DataFrame) -> pd.DataFrame:
    store = FlightFeatureStore(work_dir)
    store.build(data_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, RECENT_HORIZON_HOURS)
    joined = store.historical_features(entity_frame(flights))
    return joined.sort_values("flight_id").set_index("flight_id")


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, flights_dir: Path, flights: pd.DataFrame
) -> tuple[Path, pd.DataFrame]:
    work_dir = tmp_path_factory.mktemp("feast")
    return work_dir, build_and_join(work_dir, flights_dir, flights)


def test_store_lives_in_its_work_dir_and_never_writes_data(
    tmp_path: Path, flights_dir: Path, flights: pd.DataFrame
) -> None:
    before = tree_digest(flights_dir)
    store = FlightFeatureStore(tmp_path / "feast")
    store.build(flights_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, RECENT_HORIZON_HOURS)
    assert (tmp_path / "feast" / "registry.db").is_file()
    assert len(list((tmp_path / "feast" / "sources").glob("*.parquet"))) == 9
    assert tree_digest(flights_dir) == before
    views = {view.name for view in store.store.list_feature_views()}
    assert views == {
        "origin_weather",
        "plane",
        "carrier_history",
        "origin_history",
        "route_history",
        "origin_recent",
        "dest_recent",
        "carrier_origin_recent",
        "tail_recent",
    }
    entities = {entity.name for entity in store.store.list_entities()}
    assert {"origin", "tailnum", "carrier", "route", "dest"} <= entities
    config = store.store.config
    assert config.offline_store.type == "retrain.featurestore.asof.AsofDuckDBOfflineStore"
    assert config.online_store.type == "sqlite"
    assert Path(config.online_store.path).parent == tmp_path / "feast"


def test_sources_store_timestamps_in_microseconds(built: tuple[Path, pd.DataFrame]) -> None:
    # Spark reads no TIMESTAMP(NANOS) parquet column; every source must be readable there.
    import pyarrow as pa
    import pyarrow.parquet as pq

    work_dir, _ = built
    units = {
        (path.name, field.name): field.type.unit
        for path in sorted((work_dir / "sources").glob("*.parquet"))
        for field in pq.read_schema(path)
        if pa.types.is_timestamp(field.type)
    }
    assert units and set(units.values()) == {"us"}, units


def test_a_nanosecond_value_is_refused_not_truncated(tmp_path: Path) -> None:
    import pyarrow as pa

    from retrain.featurestore.store import write_source_parquet

    start = pd.Timestamp("2013-01-01 05:00", tz="UTC")
    stamps = pd.Series([start, start + pd.Timedelta(1, "ns")])
    write_source_parquet(pd.DataFrame({"t": stamps[:1]}), tmp_path / "ok.parquet")
    assert pd.read_parquet(tmp_path / "ok.parquet")["t"].iloc[0] == stamps[0]
    with pytest.raises(pa.ArrowInvalid):
        write_source_parquet(pd.DataFrame({"t": stamps}), tmp_path / "bad.parquet")
    assert not (tmp_path / "bad.parquet").exists()


def test_one_row_per_flight(built: tuple[Path, pd.DataFrame], flights: pd.DataFrame) -> None:
    _, joined = built
    assert joined.index.is_unique
    assert sorted(joined.index) == sorted(flights["flight_id"])


def test_weather_is_the_latest_observation_at_or_before_departure(
    built: tuple[Path, pd.DataFrame], flights: pd.DataFrame, flights_dir: Path
) -> None:
    _, joined = built
    weather = pd.read_csv(flights_dir / "weather.csv")
    weather["obs_time"] = pd.to_datetime(weather["time_hour"], utc=True)
    expected = pd.merge_asof(
        flights[["flight_id", "origin", "event_time"]]
        .astype({"origin": object})
        .sort_values("event_time"),
        weather[["origin", "obs_time", *WEATHER]].sort_values("obs_time"),
        left_on="event_time",
        right_on="obs_time",
        by="origin",
        direction="backward",
        tolerance=pd.Timedelta(hours=3),
    ).set_index("flight_id")
    pd.testing.assert_frame_equal(
        joined[WEATHER], expected.loc[joined.index, WEATHER], check_dtype=False
    )
    # and never an observation from after the departure
    assert (expected["obs_time"] <= expected["event_time"]).all()


def test_planes_join_on_tailnum(
    built: tuple[Path, pd.DataFrame], flights: pd.DataFrame, flights_dir: Path
) -> None:
    _, joined = built
    planes = pd.read_csv(flights_dir / "planes.csv").set_index("tailnum")
    known = flights["tailnum"].isin(planes.index)
    assert known.any() and (~known).any()  # the fixture has both kinds
    for _, flight in flights.iterrows():
        row = joined.loc[flight["flight_id"]]
        if flight["tailnum"] in planes.index:
            plane = planes.loc[flight["tailnum"]]
            assert row["plane_year"] == pytest.approx(plane["year"], nan_ok=True)
            assert row["seats"] == plane["seats"]
            assert row["manufacturer"] == plane["manufacturer"]
        else:
            assert np.isnan(row["seats"])


def expected_history(flights: pd.DataFrame, key: str, days: int) -> pd.Series:
    """Rate over the `days` local days ending with the last day published before departure,
    from cumulative daily counts (an independent formulation of the same definition)."""
    outcome = flights.assign(route=route_of(flights))
    known = outcome["arr_delay"].notna()
    first_day = outcome["local_date"].min()
    span = pd.date_range(first_day - pd.Timedelta(days=40), outcome["local_date"].max())
    daily = (
        pd.DataFrame(
            {
                "k": outcome[key],
                "d": outcome["local_date"],
                "n": known.astype(int),
                "x": ((outcome["arr_delay"] > DELAYED_ABOVE) & known).astype(int),
            }
        )
        .groupby(["k", "d"])[["n", "x"]]
        .sum()
        .unstack("k")
        .reindex(span)
        .fillna(0)
        .cumsum()
    )
    local_hour = outcome["event_time"].dt.tz_convert(sources.LOCAL_TZ).dt.hour
    last = outcome["local_date"] - pd.to_timedelta(
        np.where(local_hour >= PUBLISH_LAG_HOURS, 1, 2), unit="D"
    )
    before = last - pd.Timedelta(days=days)
    result = []
    for k, end, start in zip(outcome[key], last, before, strict=True):
        if end < first_day:
            result.append(np.nan)
            continue
        n = daily[("n", k)][end] - daily[("n", k)][start]
        x = daily[("x", k)][end] - daily[("x", k)][start]
        result.append(x / n if n else np.nan)
    return pd.Series(result, index=outcome["flight_id"].to_numpy())


@pytest.mark.parametrize(
    ("column", "key", "days"),
    [
        ("carrier_delay_rate_7d", "carrier", 7),
        ("origin_delay_rate_1d", "origin", 1),
        ("route_delay_rate_28d", "route", 28),
    ],
)
def test_history_rates_use_only_days_before_the_flight(
    built: tuple[Path, pd.DataFrame], flights: pd.DataFrame, column: str, key: str, days: int
) -> None:
    _, joined = built
    expected = expected_history(flights, key, days)
    pd.testing.assert_series_equal(
        joined[column], expected.loc[joined.index], check_names=False, check_index_type=False
    )
    first_day = flights["local_date"] == flights["local_date"].min()
    assert joined.loc[flights.loc[first_day, "flight_id"], column].isna().all()
    assert joined.loc[flights.loc[~first_day, "flight_id"], column].notna().mean() > 0.9


def test_a_flight_never_sees_its_own_day(
    built: tuple[Path, pd.DataFrame],
    flights: pd.DataFrame,
    flights_dir: Path,
    tmp_path: Path,
) -> None:
    """Rewrite every outcome of one day: that day's features must not move, the next day's must."""
    _, joined = built
    day = pd.Timestamp("2013-01-03")
    altered = flights.copy()
    on_day = altered["local_date"] == day
    altered.loc[on_day, "arr_delay"] = np.where(
        altered.loc[on_day, "arr_delay"] > DELAYED_ABOVE, -10.0, 500.0
    )
    joined_altered = build_and_join(tmp_path / "feast", flights_dir, altered)
    columns = [*HISTORY, "route_flights_28d"]
    same_day = flights.loc[on_day, "flight_id"]
    pd.testing.assert_frame_equal(
        joined.loc[same_day, columns], joined_altered.loc[same_day, columns]
    )
    next_day = flights.loc[flights["local_date"] == day + pd.Timedelta(days=1), "flight_id"]
    moved = (
        joined.loc[next_day, "carrier_delay_rate_7d"]
        != joined_altered.loc[next_day, "carrier_delay_rate_7d"]
    )
    assert moved.all()


def test_route_counts_are_flights_in_the_trailing_28_days(
    built: tuple[Path, pd.DataFrame], flights: pd.DataFrame
) -> None:
    _, joined = built
    late_jan_4 = flights[
        (flights["local_date"] == pd.Timestamp("2013-01-04"))
        & (flights["event_time"].dt.tz_convert(sources.LOCAL_TZ).dt.hour >= PUBLISH_LAG_HOURS)
    ]
    routes = route_of(flights)
    for _, flight in late_jan_4.head(20).iterrows():
        route = f"{flight['origin']}-{flight['dest']}"
        earlier = (routes == route) & (flights["local_date"] < pd.Timestamp("2013-01-04"))
        assert joined.loc[flight["flight_id"], "route_flights_28d"] == earlier.sum()


def test_missing_source_is_a_user_error(tmp_path: Path) -> None:
    from retrain.errors import UserError

    store = FlightFeatureStore(tmp_path / "empty")
    frame = pd.DataFrame(
        {
            "event_timestamp": pd.to_datetime(["2013-01-02T12:00Z"]),
            "origin": ["EWR"],
            "tailnum": ["N1"],
            "carrier": ["UA"],
            "route": ["EWR-IAH"],
            "dest": ["IAH"],
        }
    )
    with pytest.raises(UserError, match="run `retrain extract`"):
        store.historical_features(frame)


def test_daily_history_published_after_local_midnight(flights: pd.DataFrame) -> None:
    history = sources.daily_history(flights, "carrier", 7, 5, DELAYED_ABOVE, "rate")
    stamps = history["published_at"].dt.tz_convert(sources.LOCAL_TZ)
    assert (stamps.dt.hour == 5).all() and (stamps.dt.minute == 0).all()
    # one row per carrier per day, every day of the data
    assert len(history) == flights["carrier"].nunique() * flights["local_date"].nunique()
