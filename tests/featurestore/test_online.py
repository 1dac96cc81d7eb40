"""The online store (Feast's SQLite store): `retrain features --materialize`, then `--online`
reads each flight's latest feature values, equal to the newest source rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from retrain.cli import main
from retrain.featurestore import sources
from retrain.featurestore.store import FlightFeatureStore

from .conftest import DELAYED_ABOVE, PUBLISH_LAG_HOURS, RECENT_HORIZON_HOURS

ROOT = Path(__file__).resolve().parents[2]
FLIGHT = "origin=LGA,dest=ATL,carrier=DL,tailnum=N11206"


@pytest.mark.integration
@pytest.mark.slow
def test_materialize_then_online_gives_the_latest_values(
    tmp_path: Path, flights_dir: Path, flights: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a built store (what `retrain extract` leaves in the Feast work dir)
    work = tmp_path / "feast"
    FlightFeatureStore(work).build(
        flights_dir, flights, PUBLISH_LAG_HOURS, DELAYED_ABOVE, RECENT_HORIZON_HOURS
    )
    base = ["features", "--params", str(ROOT / "params.yaml"), "--feast-dir", str(work)]
    # When the online store is read before anything was materialised: no values
    assert main([*base, "--online", "--flight", FLIGHT]) == 0
    before = json.loads(capsys.readouterr().out.splitlines()[0])
    assert before["temp"] is None and before["seats"] is None
    # When it is materialised up to a time and read again
    end = "2013-01-05T03:30:00+00:00"
    assert main([*base, "--materialize", "--end", end, "--online", "--flight", FLIGHT]) == 0
    after = json.loads(capsys.readouterr().out.splitlines()[0])
    # Then the weather is LGA's newest observation at or before `end`, the plane its record
    weather = sources.weather_source(flights_dir)
    latest = weather[(weather["origin"] == "LGA") & (weather["time_hour"] <= pd.Timestamp(end))]
    newest = latest.sort_values("time_hour").iloc[-1]
    for column in sources.WEATHER_COLUMNS:
        expected = newest[column]
        assert after[column] == (None if pd.isna(expected) else pytest.approx(expected)), column
    plane = sources.planes_source(flights_dir).set_index("tailnum").loc["N11206"]
    assert after["seats"] == plane["seats"] and after["plane_year"] == plane["plane_year"]
    assert after["origin"] == "LGA" and after["tailnum"] == "N11206"


def test_bad_requests_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["features", "--params", str(ROOT / "params.yaml"), "--feast-dir", str(tmp_path)]
    # No store built yet, a malformed --flight: exit 2 with a fix
    assert main([*base, "--online", "--flight", "origin=LGA"]) == 2
    assert "no Feast registry" in capsys.readouterr().err
    assert main([*base, "--online", "--flight", "LGA"]) == 2
    assert "key=value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base])  # neither --materialize nor --online
