"""`cost` section of params.yaml: the price of a CPU-hour and per-stage budgets.

Every pipeline stage records its own wall time, CPU seconds and peak memory from the OS
(`retrain.cost`, `metrics/cost/<stage>.json`); these settings turn CPU seconds into money and
cap what a stage may spend.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from retrain.config.base import Section

# The pipeline's stages (dvc.yaml), the names `cost.budget` accepts.
StageName = Literal["extract", "validate", "prepare", "train", "evaluate", "gate", "export", "push"]
PIPELINE_STAGES: tuple[str, ...] = get_args(StageName)

# A GitHub-hosted Linux 2-core runner costs $0.006 a minute (GitHub's published rate, 2026):
# $0.36 an hour for 2 vCPUs, so $0.18 per CPU-hour.
DEFAULT_PRICE_PER_CPU_HOUR = 0.18


class StageBudget(Section):
    """At most this many CPU seconds, or this many dollars, for one run of the stage."""

    cpu_seconds: float | None = Field(None, gt=0)
    usd: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_limit(self) -> StageBudget:
        if self.cpu_seconds is None and self.usd is None:
            raise ValueError("set cpu_seconds or usd (or remove the stage from cost.budget)")
        return self


class CostSection(Section):
    # USD per CPU-hour (CPU seconds are what the OS measures; a runner's per-minute price
    # divided by its vCPUs).
    price_per_cpu_hour: float = Field(DEFAULT_PRICE_PER_CPU_HOUR, ge=0)
    # Per-stage limits, e.g. {train: {cpu_seconds: 1800}}; a stage over its limit fails.
    budget: dict[StageName, StageBudget] = Field(default_factory=dict)

    def cpu_limit(self, stage: str) -> float | None:
        """The stage's budget in CPU seconds (the tighter of its two limits), or None."""
        budget = self.budget.get(stage)  # type: ignore[call-overload]
        if budget is None:
            return None
        limits = [budget.cpu_seconds] if budget.cpu_seconds is not None else []
        if budget.usd is not None and self.price_per_cpu_hour > 0:
            limits.append(budget.usd / self.price_per_cpu_hour * 3600)
        return min(limits) if limits else None

    def usd(self, cpu_seconds: float) -> float:
        return cpu_seconds / 3600 * self.price_per_cpu_hour
