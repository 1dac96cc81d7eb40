"""extract: Feast source on the tiny fixture, table source (parquet/CSV), bad inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from retrain import extraction
from retrain.config import parse_params
from retrain.config.extract import Window
from retrain.errors import UserError
from retrain.featurestore.sources import read_flights
from retrain.stages import extract

FLIGHTS = Path(__file__).resolve().parents[1] / "fixtures" / "flights"
NY = "America/New_York"


def write_params(path: Path, **sections: Any) -> Path:
    path.write_text(yaml.safe_dump(sections, sort_keys=False))
    return path


def window(start: str, end: str, timezone: str = NY) -> dict[str, str]:
    return {"start": start, "end": end, "timezone": timezone}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    tmp = tmp_path_factory.mktemp("extract")
    params = write_params(
        tmp / "params.yaml",
        extract={
            "window": window("2013-01-01", "2013-01-04"),
            "feast": {"recent_horizon_hours": 3},
        },
    )
    out = tmp / "out" / "features.parquet"
    argv = ["--data", str(FLIGHTS), "--out", str(out), "--params", str(params)]
    assert extract.cli([*argv, "--feast-dir", str(tmp / "feast")]) == 0
    assert [p.name for p in out.parent.iterdir()] == ["features.parquet"]  # no temp left
    return pd.read_parquet(out)


def test_feast_output_has_exactly_the_contract_columns(extracted: pd.DataFrame) -> None:
    assert list(extracted.columns) == list(extraction.FEATURE_COLUMNS)
    assert str(extracted["event_time"].dtype) == "datetime64[ns, UTC]"
    for column in extraction.INT_COLUMNS:
        assert extracted[column].dtype == "int64", column
    for column in extraction.STRING_COLUMNS:
        assert extracted[column].dropna().map(type).eq(str).all(), column
    numeric = (
        set(extraction.FEATURE_COLUMNS)
        - set(extraction.STRING_COLUMNS)
        - set(extraction.INT_COLUMNS)
    )
    for column in numeric - {"event_time"}:
        assert extracted[column].dtype == "float64", column
    assert extracted["flight_id"].is_monotonic_increasing and extracted["flight_id"].is_unique


def test_feast_output_rows_are_the_window_and_event_time_is_scheduled_departure(
    extracted: pd.DataFrame,
) -> None:
    raw = pd.read_csv(FLIGHTS / "flights.csv.zip")
    raw["flight_id"] = range(len(raw))
    expected = raw[raw["day"] <= 3].set_index("flight_id")  # Jan 1-3 New York days
    assert sorted(extracted["flight_id"]) == sorted(expected.index)
    got = extracted.set_index("flight_id")
    scheduled = pd.to_datetime(expected["time_hour"], utc=True) + pd.to_timedelta(
        expected["minute"], unit="m"
    )
    pd.testing.assert_series_equal(
        got["event_time"], scheduled.loc[got.index], check_names=False, check_dtype=False
    )
    assert (got["dep_hour"] == expected.loc[got.index, "hour"]).all()
    assert got["arr_delay"].equals(expected.loc[got.index, "arr_delay"].astype(float))


def test_same_day_congestion_uses_the_params_horizon(extracted: pd.DataFrame) -> None:
    """extract.feast.recent_horizon_hours (3 in this fixture's params) reaches the views."""
    assert extraction.RECENT_COLUMNS == (
        "origin_recent_dep_delay_mean",
        "origin_recent_delayed_share",
        "origin_recent_departures",
        "dest_recent_dep_delay_mean",
        "dest_recent_departures",
        "carrier_origin_recent_dep_delay_mean",
        "carrier_origin_recent_departures",
    )
    raw = pd.read_csv(FLIGHTS / "flights.csv.zip")
    scheduled = pd.to_datetime(raw["time_hour"], utc=True) + pd.to_timedelta(raw["minute"], "m")
    departed_at = scheduled + pd.to_timedelta(raw["dep_delay"], "m")  # NaT when cancelled
    busy = extracted[extracted["origin_recent_departures"] > 0].iloc[::40]
    assert len(busy) > 10
    for flight in busy.itertuples():
        end = (flight.event_time - pd.Timedelta(hours=3)).floor("h")
        in_window = (departed_at >= end - pd.Timedelta(hours=3)) & (departed_at < end)
        for prefix, same in (
            ("origin_recent", raw["origin"] == flight.origin),
            ("dest_recent", raw["dest"] == flight.dest),
            (
                "carrier_origin_recent",
                (raw["carrier"] == flight.carrier) & (raw["origin"] == flight.origin),
            ),
        ):
            inside = same & in_window
            assert getattr(flight, f"{prefix}_departures") == inside.sum(), prefix
            assert getattr(flight, f"{prefix}_dep_delay_mean") == pytest.approx(
                raw.loc[inside, "dep_delay"].mean(), nan_ok=True
            ), prefix


def test_previous_departure_of_the_aircraft_and_its_hours_ago(extracted: pd.DataFrame) -> None:
    """tail_prev_hours_ago is a real departure of the same aircraft, at least the params
    horizon (3 h here) and at most TTL + horizon before the flight, with its dep_delay."""
    raw = pd.read_csv(FLIGHTS / "flights.csv.zip")
    scheduled = pd.to_datetime(raw["time_hour"], utc=True) + pd.to_timedelta(raw["minute"], "m")
    departed_at = scheduled + pd.to_timedelta(raw["dep_delay"], "m")
    known = extracted.dropna(subset=["tail_prev_hours_ago"])
    assert 0.2 < len(known) / len(extracted) < 0.8
    assert extracted["tail_prev_dep_delay"].isna().equals(extracted["tail_prev_hours_ago"].isna())
    assert known["tail_prev_hours_ago"].between(3, 24 + 3).all()
    for flight in known.iloc[::10].itertuples():
        previous = flight.event_time - pd.Timedelta(hours=flight.tail_prev_hours_ago)
        same = (raw["tailnum"] == flight.tailnum) & (
            (departed_at - previous).abs() < pd.Timedelta(seconds=1)
        )
        assert same.sum() == 1
        assert raw.loc[same, "dep_delay"].item() == flight.tail_prev_dep_delay
        # and no departure of the aircraft between that one and the horizon
        between = (
            (raw["tailnum"] == flight.tailnum)
            & (departed_at > previous)
            & (departed_at <= flight.event_time - pd.Timedelta(hours=3))
        )
        assert not between.any()


def test_window_filter_uses_the_windows_clock() -> None:
    flights = read_flights(FLIGHTS)
    jan2 = extraction.flights_in_window(
        flights, Window(start="2013-01-02", end="2013-01-03", timezone=NY)
    )
    assert len(jan2) == (flights["day"] == 2).sum()
    local = jan2["event_time"].dt.tz_convert(NY)
    assert (local.dt.day == 2).all()
    utc_day = extraction.flights_in_window(flights, Window(start="2013-01-02", end="2013-01-03"))
    assert set(utc_day["flight_id"]) != set(jan2["flight_id"])  # UTC day != New York day


def test_empty_window_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no flights scheduled in extract.window 2014-03-01"):
        extraction.feast_features(
            FLIGHTS, tmp_path / "feast", Window(start="2014-03-01", end="2014-04-01"), 5, 15.0, 2
        )


def test_missing_raw_table_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="flights.csv.zip") as err:
        extraction.feast_features(
            tmp_path, tmp_path / "feast", Window(start="2013-01-01", end="2013-02-01"), 5, 15.0, 2
        )
    assert "retrain data" in str(err.value)


def test_feast_source_needs_its_column_roles() -> None:
    params = parse_params({"base": {"key": "id", "target": "delay"}})
    with pytest.raises(UserError, match="base.key='id'.*base.target='delay'"):
        extraction.check_roles(params)
    extraction.check_roles(parse_params({}))  # defaults are consistent
    extraction.check_roles(parse_params({"base": {"target": "dep_delay", "task": "regression"}}))


# --- source: table ---------------------------------------------------------------------------


def user_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "when": [
                "2021-05-01 10:00",
                "2021-05-02 10:00",
                "2021-06-01 10:00",
                "2021-07-01 10:00",
            ],
            "city": ["Zürich", "Genève", "Bern", "Basel"],
            "y": [0, 1, 0, 1],
        }
    )


# The sections a user's params set for this table (the flights defaults name flights columns).
TABLE_SECTIONS: dict[str, Any] = {
    "prepare": {
        "drop_columns": [],
        "train_window": window("2021-05-01", "2021-06-01", "Europe/Zurich"),
        "test_window": window("2021-06-01", "2021-06-15", "Europe/Zurich"),
    },
    "evaluate": {"slices": ["city"]},
    "gate": {"slices": {"columns": []}},
    "monitor": {"exclude": ["id"]},
}


def run_table(tmp_path: Path, table: Path, **base: Any) -> tuple[int, Path]:
    params = write_params(
        tmp_path / "params.yaml",
        base={"key": "id", "target": "y", "event_time": "when", "positive_above": None, **base},
        extract={
            "source": "table",
            "table": {"path": str(table)},
            "window": window("2021-05-01", "2021-06-15", "Europe/Zurich"),
        },
        **TABLE_SECTIONS,
    )
    out = tmp_path / "build" / "features.parquet"
    return extract.cli(["--out", str(out), "--params", str(params)]), out


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_table_source_reads_parquet_and_csv_and_applies_the_window(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"mine.{suffix}"
    table = user_table()
    if suffix == "parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    code, out = run_table(tmp_path, path)
    assert code == 0
    got = pd.read_parquet(out)
    assert list(got["id"]) == [1, 2, 3]
    assert list(got.columns) == ["id", "when", "city", "y"]
    assert str(got["when"].dtype) == "datetime64[ns, UTC]"
    # naive times are read in the window's time zone (Zurich is UTC+2 in May)
    assert got["when"][0] == pd.Timestamp("2021-05-01T08:00Z")
    assert got["city"][0] == "Zürich"


def test_table_without_event_time_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "mine.parquet"
    user_table().drop(columns="when").to_parquet(path)
    code, out = run_table(tmp_path, path, event_time=None)
    assert code == 0
    assert len(pd.read_parquet(out)) == 4


def test_non_utf8_csv_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    user_table().to_csv(path, index=False, encoding="latin-1")
    with pytest.raises(UserError) as err:
        run_table(tmp_path, path)
    text = str(err.value)
    assert str(path) in text and "not valid utf-8" in text
    assert "iconv" in text and "extract.table.encoding" in text
    assert not (tmp_path / "build").exists()


def test_declared_encoding_reads_a_latin1_csv(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    user_table().to_csv(path, index=False, encoding="latin-1")
    params = write_params(
        tmp_path / "params.yaml",
        base={"key": "id", "target": "y", "event_time": None},
        extract={"source": "table", "table": {"path": str(path), "encoding": "latin-1"}},
        **TABLE_SECTIONS,
    )
    out = tmp_path / "features.parquet"
    assert extract.cli(["--out", str(out), "--params", str(params)]) == 0
    assert pd.read_parquet(out)["city"][1] == "Genève"


@pytest.mark.parametrize(
    ("drop", "role"), [("y", "base.target='y'"), ("when", "base.event_time='when'")]
)
def test_missing_role_column_names_file_and_role(tmp_path: Path, drop: str, role: str) -> None:
    path = tmp_path / "mine.parquet"
    user_table().drop(columns=drop).to_parquet(path)
    with pytest.raises(UserError) as err:
        run_table(tmp_path, path)
    text = str(err.value)
    assert str(path) in text and role in text and "params.yaml" in text
    assert not (tmp_path / "build").exists()


def test_unparsable_event_time(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    user_table().assign(when="yesterday").to_csv(path, index=False)
    with pytest.raises(UserError, match="'when' \\(base.event_time\\) is not a timestamp"):
        run_table(tmp_path, path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.parquet", None, "does not exist"),
        ("table.xlsx", b"PK", "unsupported type"),
        ("broken.parquet", b"not parquet", "not a readable parquet file"),
        ("empty.csv", b"", "cannot be parsed as CSV"),
    ],
)
def test_bad_table_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        run_table(tmp_path, path)


def test_table_rows_outside_the_window(tmp_path: Path) -> None:
    path = tmp_path / "mine.parquet"
    user_table().assign(when="2030-01-01 00:00").to_parquet(path)
    with pytest.raises(UserError, match="no rows with when in extract.window"):
        run_table(tmp_path, path)


# --- params ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"sourse": "feast"}, "unknown key 'sourse' in section 'extract'.*did you mean 'source'"),
        ({"source": "bigquery"}, "'extract.source'.*'feast' or 'table'"),
        ({"source": "table"}, "needs extract.table.path"),
        ({"window": window("2013-02-01", "2013-01-01")}, "must be before end"),
        ({"window": window("2013-01-01", "2013-02-01", "New York")}, "unknown time zone"),
        ({"window": {"start": "2013-01-01"}}, "'extract.window.end'"),
        ({"feast": {"history_publish_lag_hours": -1}}, "history_publish_lag_hours"),
        ({"feast": {"recent_horizon_hours": 0}}, "recent_horizon_hours"),
        ({"feast": {"workdir": "x"}}, "unknown key 'workdir' in section 'extract.feast'"),
    ],
)
def test_extract_params_errors(section: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_params({"extract": section})


def test_params_error_exits_2_through_the_console_script(tmp_path: Path) -> None:
    from retrain.cli import main

    params = write_params(tmp_path / "params.yaml", extract={"source": "table"})
    out = tmp_path / "features.parquet"
    assert main(["extract", "--out", str(out), "--params", str(params)]) == 2
    assert not out.exists()


def test_log_line_says_rows_and_window(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "mine.parquet"
    user_table().to_parquet(path)
    run_table(tmp_path, path)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("retrain.extract: 3 rows")
    assert "2021-05-01..2021-06-15 (Europe/Zurich)" in lines[0]
