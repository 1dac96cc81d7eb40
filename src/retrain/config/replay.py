"""`replay` section of params.yaml: the closed-loop month-by-month replay of a year."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from retrain.config.base import Section


class ReplaySection(Section):
    year: int = Field(2013, ge=1900, le=2100)
    # Months the first champion trains on (1..initial_months); the replay serves the months after.
    initial_months: int = Field(3, ge=1, le=11)
    # Last month served (inclusive).
    last_month: int = Field(12, ge=2, le=12)
    policies: list[Literal["never", "monthly", "monitor"]] = Field(
        default_factory=lambda: ["never", "monthly", "monitor"], min_length=1
    )
    # Retraining uses a sliding window of this many most recent months (0 = all months so far).
    train_months: int = Field(3, ge=0, le=12)
    # Small AutoML budget so the whole replay runs in minutes.
    trials: int = Field(4, ge=1, le=200)
    # Subsample of training rows per retrain (0 = all), for speed.
    max_train_rows: int = Field(60000, ge=0)
