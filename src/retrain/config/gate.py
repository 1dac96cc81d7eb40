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
    # Resamples drawn per vectorised block: memory grows with block x test rows. Small
    # blocks keep the weight matrix in cache: 4 is 1.8x faster than 50 on 82k test rows
    # (bench/README.md, gate).
    block: int = Field(4, ge=1, le=10_000)


class SliceSettings(Section):
    """Per-slice no-regression: in every level of every column with >= min_rows rows."""

    columns: list[str] = Field(default_factory=list)
    metric: GateMetric = "roc_auc"
    min_rows: int = Field(1000, ge=1)
    max_regression_abs: float = Field(0.03, ge=0)


class LeakageScreen(Section):
    """Each model input alone vs the label on a seeded sample of the training window.

    Classification: the feature's univariate ROC AUC, symmetrised (max(auc, 1 - auc)), missing
    values ranked lowest; a category scores by its level's positive rate learnt on the other
    half of the sample (so a high-cardinality id cannot score by memorising). Regression:
    |Spearman| between the feature (a category: its out-of-half target mean) and the target.
    A feature above the bound alone predicts the label almost perfectly: the classic leak.
    """

    enabled: bool = True
    # Near-perfect alone: honest strong features reach 0.975 (breast cancer's worst perimeter).
    max_auc: float = Field(0.99, gt=0.5, le=1.0)
    max_abs_spearman: float = Field(0.99, gt=0.0, le=1.0)
    sample_rows: int = Field(50_000, ge=1_000, le=10_000_000)


class SuspicionOverride(Section):
    """A reviewer's audited exception: bless THIS artifact although it looks too good.

    Bound to one candidate by its sha256 (gate.json `candidate_sha256`), so it can never bless
    a later model; the reason is recorded in gate.json and shown in the report.
    """

    candidate_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str = Field(min_length=20, max_length=500)

    @model_validator(mode="after")
    def _real_reason(self) -> SuspicionOverride:
        if len(set(self.reason.strip().lower())) < 5:
            raise ValueError("reason must say why the gain is real (at least 20 characters)")
        return self


class SuspicionSettings(Section):
    """ "Suspiciously good — check for leakage": rules that a candidate must NOT exceed.

    Gains are measured in each metric's natural direction (higher AUC, lower RMSE). A tripped
    rule is not blessed in any `gate.mode`; only `override` blesses it.
    """

    enabled: bool = True
    # candidate - champion on the same test window, per metric (binary roc_auc, multiclass
    # roc_auc_ovr, regression r2)
    max_gain: dict[GateMetric, float] = Field(
        default_factory=lambda: {"roc_auc": 0.05, "roc_auc_ovr": 0.05, "r2": 0.1}
    )
    # test-window value - the search's own CV score (its primary metric only)
    max_gain_over_cv: dict[GateMetric, float] = Field(
        default_factory=lambda: {"roc_auc": 0.05, "roc_auc_ovr": 0.05, "r2": 0.1}
    )
    # plausibility ceiling on the candidate's test-window value
    # (0.999: honest models on easy public tables reach 0.995, e.g. scikit-learn's breast cancer;
    # none for roc_auc_ovr: an honest model on wine's 37 test rows scores 1.0000)
    ceiling: dict[GateMetric, float] = Field(
        default_factory=lambda: {"roc_auc": 0.999, "r2": 0.999}
    )
    leakage: LeakageScreen = LeakageScreen()
    override: SuspicionOverride | None = None

    @model_validator(mode="after")
    def _non_negative(self) -> SuspicionSettings:
        for name in ("max_gain", "max_gain_over_cv"):
            for metric, bound in getattr(self, name).items():
                if not bound >= 0:  # also refuses NaN
                    raise ValueError(f"{name}.{metric} must be ≥ 0, got {bound}")
        for metric, bound in self.ceiling.items():
            if bound != bound:
                raise ValueError(f"ceiling.{metric} must be a number, got {bound}")
        return self


class GateSection(Section):
    mode: Literal["enforce", "dry_run"] = "enforce"
    # Value thresholds per metric, e.g. {roc_auc: {min: 0.6}, log_loss: {max: 0.6}}.
    values: dict[GateMetric, ValueThreshold] = Field(default_factory=dict)
    changes: list[ChangeThreshold] = Field(default_factory=list)
    bootstrap: BootstrapSettings = BootstrapSettings()
    slices: SliceSettings = SliceSettings()
    # No champion yet: bless on value thresholds alone (flagged in gate.json), or refuse.
    allow_first_model: bool = True
    # Too good to be true: not blessed unless overridden (see SuspicionSettings).
    suspicion: SuspicionSettings = SuspicionSettings()
