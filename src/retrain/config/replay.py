"""`replay` section of params.yaml: the closed-loop period-by-period replay of a year.

The year (`year`, in `timezone`) is cut into periods (`period`: calendar months, or weeks /
days counted from January 1). The first champion trains on the periods before
`initial_periods` and is gated on period `initial_periods`; periods initial_periods+1 ..
last_period (or `horizon` periods) are then served. At the end of each served period every
policy decides (`retrain.policies`, with the `policy` section's settings); a retrain trains on
the `train_periods` periods before its gate period and is gated on it. With `label_delay` = k
the labels of period t arrive only after period t+k: a retrain at the end of period t is gated
on period t-k, and the `decay` policy sees labels up to t-k, while `estimated` judges period t
without them. (`initial_months`, `last_month`, `train_months` are the older names.)
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from retrain.config.base import Section, TimeZone
from retrain.config.train import FamilyName

# The policies of retrain.policies, and the names older params used for two of them.
PolicyName = Literal[
    "never",
    "periodic",
    "drift",
    "decay",
    "estimated",
    "challenger",
    "cost_aware",
    "monthly",
    "monitor",
]
PERIODS_IN_YEAR = {"month": 12, "week": 53, "day": 366}  # the last week/day may be partial


class ReplaySection(Section):
    year: int = Field(2013, ge=1900, le=2100)
    # Calendar of the periods; unset = base.timezone (filled in by retrain.config.Params).
    timezone: TimeZone = "UTC"
    period: Literal["month", "week", "day"] = "month"
    initial_periods: int = Field(
        3, ge=2, le=365, validation_alias=AliasChoices("initial_periods", "initial_months")
    )
    last_period: int = Field(
        12, ge=3, le=366, validation_alias=AliasChoices("last_period", "last_month")
    )
    # Served periods; set it instead of last_period (last_period = initial_periods + horizon).
    horizon: int | None = Field(None, ge=1, le=364)
    train_periods: int = Field(
        3, ge=1, le=365, validation_alias=AliasChoices("train_periods", "train_months")
    )
    # Periods after which a period's labels arrive (0: at its end).
    label_delay: int = Field(0, ge=0, le=52)
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

    @property
    def last(self) -> int:
        """The last served period."""
        return self.initial_periods + self.horizon if self.horizon else self.last_period

    @model_validator(mode="after")
    def _serves_a_period(self) -> ReplaySection:
        if self.horizon is not None and "last_period" in self.model_fields_set:
            raise ValueError("set horizon or last_period (last_month), not both")
        if self.last <= self.initial_periods:
            raise ValueError(
                f"last_period ({self.last}) must be after initial_months "
                f"({self.initial_periods}): no period would be served"
            )
        most = PERIODS_IN_YEAR[self.period]
        if self.last > most:
            raise ValueError(
                f"the last served period ({self.last}) is past the {most} {self.period}s of a "
                "year: lower last_period / horizon, or use a shorter period"
            )
        if self.initial_periods - self.label_delay < 2:
            raise ValueError(
                f"label_delay ({self.label_delay}) leaves the first champion no labelled "
                f"period to train on before period {self.initial_periods}: raise initial_periods"
            )
        if len(set(self.policies)) != len(self.policies):
            raise ValueError("policies must not repeat")
        return self
