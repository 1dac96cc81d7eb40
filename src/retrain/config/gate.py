"""`gate` section of params.yaml: the rules a candidate must pass to be registered.

Every number a reviewer might argue about lives here, not in code. Metric names are checked
against the metrics the gate can compute, so a typo fails at load time with the list of names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from retrain.config.base import Section
from retrain.metrics import greater_is_better, metric_names

# Metrics the gate computes from scores (threshold-free, so candidate and champion are scored
# the same way): every name in the metric registry.
GateMetric = Literal[metric_names()]  # type: ignore[valid-type]


class ValueThreshold(Section):
    """Absolute bounds on the candidate's metric: `min` (floor) and/or `max` (ceiling)."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> ValueThreshold:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of min, max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ChangeThreshold(Section):
    """Candidate vs champion on one metric.

    The candidate may be worse than the champion by at most `max_regression_abs` AND at most
    `max_regression_rel` x |champion value| (each optional; both given = the stricter one holds).
    `direction` defaults to the metric's natural one.
    """

    metric: GateMetric
    direction: Literal["higher", "lower"] | None = None
    max_regression_abs: float | None = Field(0.0, ge=0)
    max_regression_rel: float | None = Field(None, ge=0)
    # Paired bootstrap non-inferiority: the lower confidence bound of the improvement must
    # be above minus the allowed regression.
    bootstrap: bool = True

    def better(self) -> Literal["higher", "lower"]:
        if self.direction is not None:
            return self.direction
        return "higher" if greater_is_better(self.metric) else "lower"


class BootstrapSettings(Section):
    resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    # Resamples drawn per vectorised block: memory grows with block x test rows.
    block: int = Field(50, ge=1, le=10_000)


class SliceSettings(Section):
    """Per-slice no-regression: in every level of every column with >= min_rows rows."""

    columns: list[str] = Field(default_factory=list)
    metric: GateMetric = "roc_auc"
    min_rows: int = Field(1000, ge=1)
    max_regression_abs: float = Field(0.03, ge=0)


class GateSection(Section):
    mode: Literal["enforce", "dry_run"] = "enforce"
    # Value thresholds per metric, e.g. {roc_auc: {min: 0.6}, log_loss: {max: 0.6}}.
    values: dict[GateMetric, ValueThreshold] = Field(default_factory=dict)
    changes: list[ChangeThreshold] = Field(default_factory=list)
    bootstrap: BootstrapSettings = BootstrapSettings()
    slices: SliceSettings = SliceSettings()
    # No champion yet: bless on value thresholds alone (flagged in gate.json), or refuse.
    allow_first_model: bool = True
