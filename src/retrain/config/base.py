"""`base` section: settings every stage shares."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Frozen, strict base for every params section."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class BaseSection(Section):
    seed: int = 42
    model_name: str = Field("flight-delay", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    task: Literal["classification", "regression"] = "classification"
    # Column the label comes from. Classification: label = target > positive_above
    # (positive_above null: the column already holds 0/1). Regression: the column itself.
    target: str = "arr_delay"
    positive_above: float | None = 15.0
    event_time: str | None = "event_time"
    key: str = "flight_id"
