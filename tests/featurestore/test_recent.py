"""Same-day congestion (views `origin_recent`, `dest_recent`, `carrier_origin_recent`): values
against plain pandas, and no leakage of departures closer than the horizon to a flight's
scheduled departure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.featurestore import definitions, sources
from retrain.featurestore.store import FlightFeatureStore, route_of

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS

RECENT = list(sources.RECENT_COLUMNS)
ALL_RECENT = [column for view in sources.RECENT_VIEWS for column in view.columns]
TAIL = list(sources.TAIL_SOURCE_COLUMNS)
WINDOW = pd.Timedelta(hours=definitions.RECENT_WINDOW_HOURS)


def join_recent(
    work_dir: Path, data_dir: Path, flights: pd.DataFrame, horizon_hours: int
) -> pd.DataFrame:
    store = FlightFeatureStore(work_dir)
    store.build(data_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, horizon_hours)
    entities = flights[["flight_id", "origin", "carrier", "dest"]].assign(
        route=route_of(flights),
        event_timestamp=flights["event_time"],
        tailnum=flights["tailnum"].astype(object).where(flights["tailnum"].notna(), None),
    )
    joined = store.historical_features(entities)
    return joined.sort_values("flight_id").set_index("flight_id")[[*ALL_RECENT, *TAIL]]


def expected_recent(
    raw: pd.DataFrame, horizon_hours: int, view: sources.RecentView = sources.ORIGIN_RECENT
) -> pd.DataFrame:
    """From the raw CSV, flight by flight: departures with the same key (origin, dest, ...)
    whose actual time (UTC scheduled hour + minute + dep_delay) lies in the window hours before
    the whole hour at or before (scheduled departure - horizon)."""
    scheduled = pd.to_datetime(raw["time_hour"], utc=True) + pd.to_timedelta(raw["minute"], "m")
    left = raw["dep_time"].notna() & raw["dep_delay"].notna()
    departed_at = (scheduled + pd.to_timedelta(raw["dep_delay"], "m"))[left]
    first_hour = departed_at.min().floor("h")
    rows = []
    for i in raw.index:
        cutoff = (scheduled[i] - pd.Timedelta(hours=horizon_hours)).floor("h")
        stats = dict.fromkeys(sources.RECENT_STATS, np.nan)
        same_key = raw.loc[departed_at.index, list(view.keys)].eq(raw.loc[i, list(view.keys)])
        inside = same_key.all(axis=1) & (departed_at >= cutoff - WINDOW) & (departed_at < cutoff)
        delays = raw.loc[inside[inside].index, "dep_delay"]
        if cutoff > first_hour:  # else no row published yet: all unknown
            stats["departures"] = float(len(delays))
            if len(delays):
                stats["dep_delay_mean"] = delays.mean()
                stats["delayed_share"] = (delays > DELAYED_ABOVE).mean()
        rows.append([stats[stat] for stat in view.stats])
    index = pd.Index(range(len(raw)), name="flight_id")
    return pd.DataFrame(rows, columns=list(view.columns), index=index)


@pytest.fixture(scope="module")
def raw(flights_dir: Path) -> pd.DataFrame:
    return pd.read_csv(flights_dir / "flights.csv.zip")


@pytest.fixture(scope="module")
def joined(
    tmp_path_factory: pytest.TempPathFactory, flights_dir: Path, flights: pd.DataFrame
) -> pd.DataFrame:
    return join_recent(tmp_path_factory.mktemp("feast"), flights_dir, flights, 2)


def test_values_match_an_independent_pandas_calculation(
    joined: pd.DataFrame, raw: pd.DataFrame
) -> None:
    expected = expected_recent(raw, horizon_hours=2)
    got = joined[RECENT]
    pd.testing.assert_frame_equal(got, expected.loc[got.index], check_index_type=False)
    # the fixture exercises every case: busy hours, empty early mornings, the data's first hours
    assert (joined["origin_recent_departures"] > 20).any()
    assert ((joined["origin_recent_departures"] == 0) & joined[RECENT[0]].isna()).any()
    assert joined["origin_recent_departures"].isna().any()
    assert 0 < joined["origin_recent_delayed_share"].mean() < 1


@pytest.mark.parametrize("view", [sources.DEST_RECENT, sources.CARRIER_ORIGIN_RECENT])
def test_other_keys_match_an_independent_pandas_calculation(
    joined: pd.DataFrame, raw: pd.DataFrame, view: sources.RecentView
) -> None:
    expected = expected_recent(raw, horizon_hours=2, view=view)
    got = joined[list(view.columns)]
    pd.testing.assert_frame_equal(got, expected.loc[got.index], check_index_type=False)
    mean, count = view.columns[0], view.columns[-1]
    assert (got[count] > 3).any() and ((got[count] == 0) & got[mean].isna()).any()
    known = got[count].notna()
    assert known.mean() > 0.9
    if "origin" in view.keys:  # a narrower key sees at most the whole origin's departures
        whole_origin = joined.loc[known, "origin_recent_departures"]
        assert (got.loc[known, count] <= whole_origin).all()
        assert (got.loc[known, count] < whole_origin).mean() > 0.5


def test_the_horizon_is_a_parameter(
    tmp_path: Path, flights_dir: Path, flights: pd.DataFrame, raw: pd.DataFrame
) -> None:
    got = join_recent(tmp_path / "feast", flights_dir, flights, 4)
    for view in sources.RECENT_VIEWS:
        expected = expected_recent(raw, horizon_hours=4, view=view)
        columns = list(view.columns)
        pd.testing.assert_frame_equal(got[columns], expected.loc[got.index], check_index_type=False)


def test_departures_closer_than_the_horizon_never_change_a_flights_features(
    joined: pd.DataFrame, flights: pd.DataFrame, flights_dir: Path, tmp_path: Path
) -> None:
    """Pick a midday flight; delay by 5 more hours every flight that actually left less than
    the horizon before its scheduled departure (or later): its features, and those of every
    flight scheduled no later, stay the same; later flights' features move."""
    horizon = pd.Timedelta(hours=2)
    local = flights["event_time"].dt.tz_convert(sources.LOCAL_TZ)
    candidates = flights[(flights["day"] == 3) & (local.dt.hour == 13) & (local.dt.minute > 0)]
    target = candidates.iloc[0]
    departed_at = flights["event_time"] + pd.to_timedelta(flights["dep_delay"], "m")
    # departed_at == t - horizon is still visible (the join takes rows at or before t)
    late = departed_at > target["event_time"] - horizon  # NaN (cancelled) compares False
    assert late.sum() > 100
    altered = flights.copy()
    altered.loc[late, "dep_delay"] += 300.0  # they leave later still: never into view
    got = join_recent(tmp_path / "feast", flights_dir, altered, 2)

    not_later = flights.loc[flights["event_time"] <= target["event_time"], "flight_id"]
    assert target["flight_id"] in set(not_later)
    pd.testing.assert_frame_equal(got.loc[not_later], joined.loc[not_later])
    # The test can fail: the altered departures do reach flights scheduled later on, in
    # every view (origin, dest, carrier at origin, the aircraft's previous departure).
    later = flights.loc[flights["event_time"] > target["event_time"], "flight_id"]
    for column in [view.columns[0] for view in sources.RECENT_VIEWS] + [TAIL[0]]:
        before, after = joined.loc[later, column], got.loc[later, column]
        moved = before.ne(after) & ~(before.isna() & after.isna())
        assert moved.sum() > 20, column


def test_actual_departure_is_counted_in_utc_across_dst_and_cancellations_are_ignored() -> None:
    # 2013-03-10 01:30 EST (06:30 UTC) + 60 min leaves at 07:30 UTC = 03:30 EDT; a local
    # wall-clock sum would land in the skipped hour 02:30.
    scheduled = pd.to_datetime(
        ["2013-03-10T06:30Z", "2013-03-10T06:45Z", "2013-03-10T06:50Z", "2013-03-10T06:55Z"]
    )
    flights = pd.DataFrame(
        {
            "origin": pd.array(["EWR", "EWR", "EWR", "JFK"], dtype="string"),
            "event_time": scheduled,
            "dep_delay": [60.0, 15.0, np.nan, -5.0],
            "dep_time": [330.0, 200.0, np.nan, 150.0],
        }
    )
    recent = sources.recent_departures(flights, 3, 2, DELAYED_ABOVE).set_index(
        ["origin", "available_at"]
    )
    ewr = recent.loc["EWR"]
    # EWR's hour 06 UTC is empty (row published at its end + 2 h = 09:00)
    assert ewr.loc[pd.Timestamp("2013-03-10T09:00Z"), "origin_recent_departures"] == 0
    # hour 07 UTC: 07:30 (60 min late) and 07:00 (15 min late, not above 15); cancelled: none
    at_ten = ewr.loc[pd.Timestamp("2013-03-10T10:00Z")]
    assert at_ten["origin_recent_departures"] == 2
    assert at_ten["origin_recent_dep_delay_mean"] == 37.5
    assert at_ten["origin_recent_delayed_share"] == 0.5
    # the window covers hours 07..09, then slides off: zero departures, mean and share unknown
    assert ewr.loc[pd.Timestamp("2013-03-10T12:00Z"), "origin_recent_departures"] == 2
    empty = ewr.loc[pd.Timestamp("2013-03-10T13:00Z")]
    assert empty["origin_recent_departures"] == 0
    assert np.isnan(empty["origin_recent_dep_delay_mean"])
    assert np.isnan(empty["origin_recent_delayed_share"])
    # JFK's early departure (06:50) counts in hour 06, published at 09:00
    jfk = recent.loc["JFK"]
    assert jfk.loc[pd.Timestamp("2013-03-10T09:00Z"), "origin_recent_dep_delay_mean"] == -5
    assert recent["origin_recent_departures"].sum() == 3 * 3  # 3 departures x 3 hours each


def test_no_departures_at_all_gives_an_empty_source() -> None:
    flights = pd.DataFrame(
        {
            "origin": pd.array(["EWR"], dtype="string"),
            "event_time": pd.to_datetime(["2013-01-01T12:00Z"]),
            "dep_delay": [np.nan],
            "dep_time": [np.nan],
        }
    )
    recent = sources.recent_departures(flights, 3, 2, DELAYED_ABOVE)
    assert recent.empty
    assert list(recent.columns) == ["origin", "available_at", *RECENT]
