"""The aircraft's previous departure (view `tail_recent`): values against plain pandas, never
the flight's own departure nor one closer than the horizon, unknown past the TTL, and hours
counted in UTC across a DST change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.extraction import hours_between
from retrain.featurestore import definitions, sources
from retrain.featurestore.store import FlightFeatureStore, route_of

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS, RECENT_HORIZON_HOURS

DELAY, DEPARTED_AT = sources.TAIL_PREV_DEP_DELAY, sources.TAIL_PREV_DEPARTED_AT


def join_tail(work_dir: Path, data_dir: Path, flights: pd.DataFrame) -> pd.DataFrame:
    store = FlightFeatureStore(work_dir)
    store.build(data_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, RECENT_HORIZON_HOURS)
    entities = flights[["flight_id", "origin", "carrier", "dest"]].assign(
        route=route_of(flights),
        event_timestamp=flights["event_time"],
        tailnum=flights["tailnum"].astype(object).where(flights["tailnum"].notna(), None),
    )
    joined = store.historical_features(entities).sort_values("flight_id")
    joined = joined.set_index("flight_id")[[DELAY, DEPARTED_AT, "event_timestamp"]]
    joined[DEPARTED_AT] = pd.to_datetime(joined[DEPARTED_AT], utc=True, format="ISO8601")
    return joined


@pytest.fixture(scope="module")
def joined(
    tmp_path_factory: pytest.TempPathFactory, flights_dir: Path, flights: pd.DataFrame
) -> pd.DataFrame:
    return join_tail(tmp_path_factory.mktemp("feast"), flights_dir, flights)


def departed_at(flights: pd.DataFrame) -> pd.Series:
    """Actual departure (UTC), NaT for cancelled flights: an independent formulation."""
    left = flights["dep_time"].notna()
    return (flights["event_time"] + pd.to_timedelta(flights["dep_delay"], "m")).where(left)


def test_values_match_an_independent_pandas_calculation(
    joined: pd.DataFrame, flights: pd.DataFrame
) -> None:
    horizon = pd.Timedelta(hours=RECENT_HORIZON_HOURS)
    ttl = definitions.TAIL_TTL
    left_at = departed_at(flights)
    expected = []
    for i in flights.index:
        t, tail = flights.at[i, "event_time"], flights.at[i, "tailnum"]
        seen = (
            (flights["tailnum"] == tail)
            & (left_at <= t - horizon)  # at least the horizon before
            & (left_at + horizon >= t - ttl)  # its row is not older than the TTL
        )
        if pd.isna(tail) or not seen.any():
            expected.append((np.nan, pd.NaT))
            continue
        latest = left_at[seen.fillna(False)].idxmax()
        expected.append((flights.at[latest, "dep_delay"], left_at[latest]))
    want = pd.DataFrame(expected, columns=[DELAY, DEPARTED_AT], index=flights["flight_id"])
    got = joined[[DELAY, DEPARTED_AT]]
    # the sources hold microsecond timestamps (Spark's unit); compare instants, not raw units
    want[DEPARTED_AT] = want[DEPARTED_AT].astype(got[DEPARTED_AT].dtype)
    pd.testing.assert_frame_equal(
        got, want.loc[got.index], check_index_type=False, check_names=False, check_dtype=False
    )
    # the fixture has both kinds: aircraft seen earlier that day, and first departures
    assert 0.2 < got[DELAY].notna().mean() < 0.8


def test_a_flight_never_sees_its_own_or_a_closer_departure(
    joined: pd.DataFrame, flights: pd.DataFrame
) -> None:
    own = departed_at(flights.set_index("flight_id")).loc[joined.index]
    known = joined[DEPARTED_AT].notna()
    assert known.sum() > 300
    seen = joined.loc[known, DEPARTED_AT]
    assert (seen <= joined.loc[known, "event_timestamp"] - pd.Timedelta(hours=2)).all()
    assert (seen != own[known]).all()
    # some flights left early: their own departure is before the scheduled time, still unseen
    assert (flights["dep_delay"] < 0).sum() > 100


def synthetic_flights(template: pd.DataFrame, rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Flights of the fixture's shape: (tailnum, scheduled departure UTC, dep_delay) each."""
    frame = template.iloc[[0] * len(rows)].reset_index(drop=True)
    scheduled = pd.to_datetime([when for _, when, _ in rows], utc=True)
    local = scheduled.tz_convert(sources.LOCAL_TZ)
    frame["flight_id"] = np.arange(len(rows), dtype="int64")
    frame["tailnum"] = pd.array([tail for tail, _, _ in rows], dtype="string")
    frame["event_time"] = scheduled
    frame["local_date"] = local.tz_localize(None).normalize()
    frame["dep_delay"] = [delay for _, _, delay in rows]
    frame["dep_time"] = 1200.0
    return frame


def test_ttl_and_hours_ago_across_the_spring_dst_change(
    flights: pd.DataFrame, flights_dir: Path, tmp_path: Path
) -> None:
    rows = [
        # N1 leaves 2013-03-09 22:10 EST (03:10 UTC); its next flight is 08:00 EDT (12:00 UTC):
        # 8 h 50 min later, though the local clocks differ by 9 h 50 min.
        ("N1", "2013-03-10T03:00Z", 10.0),
        ("N1", "2013-03-10T12:00Z", 0.0),
        # N2 leaves 12:30 UTC; 24.5 h later its row (stamped departure + 2 h) is 22.5 h old: served.
        ("N2", "2013-03-10T12:00Z", 30.0),
        ("N2", "2013-03-11T13:00Z", 0.0),
        # N3: 26.5 h after, the row is 24.5 h old, past the 24 h TTL: unknown.
        ("N3", "2013-03-10T12:00Z", 30.0),
        ("N3", "2013-03-11T15:00Z", 0.0),
        # N4: next flight 1.5 h after the departure, inside the horizon: not seen.
        ("N4", "2013-03-10T12:00Z", 0.0),
        ("N4", "2013-03-10T13:30Z", 0.0),
    ]
    synthetic = synthetic_flights(flights, rows)
    got = join_tail(tmp_path / "feast", flights_dir, synthetic)
    hours = hours_between(got[DEPARTED_AT], got["event_timestamp"])
    assert hours[1] == pytest.approx(8 + 50 / 60)
    assert got.at[1, DELAY] == 10.0
    assert hours[3] == pytest.approx(24.5) and got.at[3, DELAY] == 30.0
    assert np.isnan(got.at[5, DELAY]) and np.isnan(hours[5])
    assert np.isnan(got.at[7, DELAY])
    assert got.loc[[0, 2, 4, 6], DELAY].isna().all()  # first departures see nothing


def test_hours_between_reads_iso_strings_and_datetimes_in_utc() -> None:
    later = pd.Series(pd.to_datetime(["2013-11-03T12:00Z", "2013-11-03T12:00Z"]))
    # autumn change: 00:30 EDT (04:30 UTC) to 07:00 EST (12:00 UTC) is 7.5 h, not the clocks' 6.5
    as_text = pd.Series(["2013-11-03 04:30:00.000000000Z", None], dtype=object)
    hours = hours_between(as_text, later)
    assert hours[0] == 7.5 and np.isnan(hours[1])
    as_datetimes = pd.Series(pd.to_datetime(["2013-11-03T04:30Z", None], utc=True))
    pd.testing.assert_series_equal(hours_between(as_datetimes, later), hours)


def test_source_keeps_one_row_per_aircraft_and_instant() -> None:
    frame = pd.DataFrame(
        {
            "tailnum": pd.array(["N1", "N1", None, "N2"], dtype="string"),
            "origin": pd.array(["EWR", "JFK", "EWR", "LGA"], dtype="string"),
            "event_time": pd.to_datetime(["2013-01-01T12:00Z"] * 3 + ["2013-01-01T13:00Z"]),
            "dep_delay": [5.0, 5.0, 1.0, np.nan],
            "dep_time": [705.0, 705.0, 701.0, np.nan],
        }
    )
    source = sources.tail_previous_departures(frame, RECENT_HORIZON_HOURS)
    # N1's duplicate instant kept once, no tailnum and the cancelled N2 dropped
    assert list(source["tailnum"]) == ["N1"]
    assert source.at[0, "available_at"] == pd.Timestamp("2013-01-01T14:05Z")
    assert source.at[0, DEPARTED_AT] == pd.Timestamp("2013-01-01T12:05Z")
