"""`policy` section of params.yaml: which retrain policy the monitor uses, and each policy's
settings. The replay runs the same policies (`replay.policies`) with the same settings, so the
code that decides in production is the code measured in the simulation
(`retrain.policies`, one module per policy).

The `drift` policy's settings are `monitor.trigger` (drift share, prediction drift, decay,
persistence): it is the monitor's rule as it has always been.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from retrain.config.base import Section
from retrain.config.train import FamilyName

PolicyName = Literal["never", "periodic", "drift", "decay", "estimated", "challenger", "cost_aware"]
POLICY_NAMES: tuple[str, ...] = PolicyName.__args__  # type: ignore[attr-defined]


class _DecayAmount(Section):
    # How much worse than its registered value the champion's primary metric may get before the
    # policy fires: `decay` in the metric's units, or `decay_relative` as a share of the
    # registered value (set one at most); both null: retrain.metrics.DEFAULT_DECAY (0.03 for
    # roc_auc, 10 % of the registered value for rmse/mae, ...).
    decay: float | None = Field(None, ge=0)
    decay_relative: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_decay(self) -> _DecayAmount:
        if self.decay is not None and self.decay_relative is not None:
            raise ValueError("set decay (metric units) or decay_relative (share), not both")
        return self


class PeriodicPolicy(Section):
    # Retrain every N periods (the monitor's window length; the replay's `period`).
    every: int = Field(1, ge=1, le=366)


class DecayPolicy(_DecayAmount):
    # Realised metric on the newest labelled rows vs the registered value. Bootstrap of the
    # rows: fire only when the decay is at least the trigger AND the champion is worse than its
    # registered value with this one-sided confidence (noise on a small window does not fire).
    level: float = Field(0.95, gt=0.5, lt=1)
    resamples: int = Field(300, ge=50, le=5000)
    min_rows: int = Field(200, ge=10)


class EstimatedPolicy(_DecayAmount):
    # Performance estimated without labels: CBPE (classification) or a direct-loss estimator
    # (regression). Fires when the estimated decay is at least the trigger and the estimate's
    # `level` interval lies below the registered value.
    # What the estimator is calibrated on: `labelled` (default), the champion's test window AND
    # every labelled row that arrived since, before the current period (rows it never trained
    # on: P(label | score) drifts, and the newest labels track it); `reference`, its test
    # window alone (CBPE as published). On the 2013 replay: within 0.02 of the realised AUC in
    # 8 and 7 of 9 months vs 4 and 3 (bench/README.md).
    calibration: Literal["labelled", "reference"] = "labelled"
    level: float = Field(0.9, gt=0.5, lt=1)
    draws: int = Field(300, ge=50, le=5000)
    min_reference_rows: int = Field(100, ge=20)
    # Blocks of the labelled reference the estimator's own error is measured on (cross-fitting,
    # time-ordered when the rows have event times); the interval is widened on each side by the
    # `level` quantile of the |block errors|. 0: the label-sampling interval alone (narrower,
    # fires sooner, over-confident when the calibration is off).
    cross_fit_folds: int = Field(5, ge=0, le=20)

    @model_validator(mode="after")
    def _folds(self) -> EstimatedPolicy:
        if self.cross_fit_folds == 1:
            raise ValueError("cross_fit_folds: 0 (off) or at least 2")
        return self


class ChallengerPolicy(Section):
    # A cheap challenger each period: one model of `family` with its default params
    # (train.families.<family>: fixed + the space's defaults), seeded with base.seed, fitted on
    # the newest labelled window (its `max_rows` most recent rows) within `seconds` (boosting /
    # forests grow in steps and stop at the budget). Fires when it beats the champion on the
    # newest labelled period by at least the margin AND the one-sided `level` bound of the gain
    # is above zero (the gate's paired bootstrap, `resamples` draws).
    family: FamilyName = "hist_gradient_boosting"
    seconds: float = Field(60.0, gt=0, le=3600)
    max_rows: int = Field(100_000, ge=100)
    # The gain it must show, in the metric's units; null: margin_relative x the champion's value
    margin: float | None = Field(None, ge=0)
    margin_relative: float = Field(0.01, ge=0, le=1)
    level: float = Field(0.95, gt=0.5, lt=1)
    resamples: int = Field(300, ge=50, le=5000)
    min_rows: int = Field(200, ge=10)  # of the newest labelled period (and of its window)


class CostAwarePolicy(Section):
    # Expected gain of a retrain = the decay (from `estimated` or `decay`) in points (0.01 of
    # the metric's units) x usd_per_point x horizon periods; retrain when it exceeds the measured
    # cost of a retrain (metrics/cost/*.json summed, or the replay's measured retrains).
    source: Literal["estimated", "decay"] = "estimated"
    usd_per_point: float = Field(0.01, ge=0)  # value of one metric point for one period
    horizon: int = Field(3, ge=1, le=366)  # periods a retrain's gain is expected to last
    # Cost to assume when nothing was measured yet (null: refuse to guess, never fire).
    retrain_usd: float | None = Field(None, ge=0)


class PolicySection(Section):
    # The policy `retrain monitor` decides with (`drift`: monitor.trigger, the rule so far).
    monitor: PolicyName = "drift"
    periodic: PeriodicPolicy = PeriodicPolicy()
    decay: DecayPolicy = DecayPolicy()
    estimated: EstimatedPolicy = EstimatedPolicy()
    challenger: ChallengerPolicy = ChallengerPolicy()
    cost_aware: CostAwarePolicy = CostAwarePolicy()
