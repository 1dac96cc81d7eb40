"""Feast store fixtures built from the tiny committed flights fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

FLIGHTS = Path(__file__).resolve().parents[1] / "fixtures" / "flights"
PUBLISH_LAG_HOURS = 5
DELAYED_ABOVE = 15.0


@pytest.fixture(scope="session")
def flights_dir() -> Path:
    return FLIGHTS
