"""Feast store fixtures built from the tiny committed flights fixture."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retrain.featurestore import sources

FLIGHTS = Path(__file__).resolve().parents[1] / "fixtures" / "flights"
PUBLISH_LAG_HOURS = 5
DELAYED_ABOVE = 15.0
RECENT_HORIZON_HOURS = 2


@pytest.fixture(scope="session")
def flights_dir() -> Path:
    return FLIGHTS


@pytest.fixture(scope="module")
def flights(flights_dir: Path) -> pd.DataFrame:
    """The fixture flights as the feature store reads them (one copy per test module)."""
    return sources.read_flights(flights_dir)
