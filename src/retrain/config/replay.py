"""`replay` section of params.yaml: the closed-loop month-by-month replay of a year.

The first champion trains on the months before `initial_months` and is gated on month
`initial_months`; months initial_months+1 .. last_month are then served. At the end of each
served month a policy may retrain: train on the `train_months` months before it, gate on it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from retrain.config.base import Section, TimeZone
from retrain.config.train import FamilyName

PolicyName = Literal["never", "monthly", "monitor"]


class ReplaySection(Section):
    year: int = Field(2013, ge=1900, le=2100)
    # Calendar of the months; unset = base.timezone (filled in by retrain.config.Params).
    timezone: TimeZone = "UTC"
    initial_months: int = Field(3, ge=2, le=11)
    last_month: int = Field(12, ge=3, le=12)
    train_months: int = Field(3, ge=1, le=11)
    policies: list[PolicyName] = Field(
        default_factory=lambda: ["never", "monthly", "monitor"], min_length=1
    )
    # Small AutoML budget (overrides train.budget / train.cv / enabled families) so the whole
    # replay runs in minutes; the rest of the train section applies as is.
    trials: int = Field(3, ge=1, le=200)
    seconds: float = Field(60.0, gt=0)
    cv_period: Literal["month", "week", "day"] = "week"
    cv_folds: int = Field(2, ge=1, le=10)
    families: list[FamilyName] = Field(
        default_factory=lambda: ["hist_gradient_boosting"], min_length=1
    )

    @model_validator(mode="after")
    def _serves_a_month(self) -> ReplaySection:
        if self.last_month <= self.initial_months:
            raise ValueError(
                f"last_month ({self.last_month}) must be after initial_months "
                f"({self.initial_months}): no month would be served"
            )
        if len(set(self.policies)) != len(self.policies):
            raise ValueError("policies must not repeat")
        return self
