"""`monitor` section of params.yaml: drift statistics, thresholds and the retrain trigger policy.

Defaults are effect sizes, not p-values: at ~80k rows a KS or chi-square test at p < 0.05 flags
almost every column (tiny, harmless shifts are "significant"), so the default verdicts come from
PSI (numeric) and Jensen-Shannon distance (categorical), whose thresholds do not move with the
sample size. bench/bench_drift.py shows the columns each choice flags on the 2013 data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from retrain.config.base import Section
from retrain.config.extract import Window
from retrain.statnames import CATALOGUE, DEFAULT_THRESHOLDS, check_statistic_name


def _known_statistic(name: str, kind: str) -> str:
    check_statistic_name(name, kind)
    return name


class TriggerPolicy(Section):
    # Share of monitored features whose verdict is "drifted" that counts as a drift signal.
    drift_share: float = Field(0.3, gt=0, le=1)
    # A drifted prediction (champion score) distribution alone also counts as drift.
    prediction_drift: bool = True
    # Performance decay trigger (needs labels in the current window): the champion's primary metric this much worse than its
    # registered test value. `decay`: in the metric's own units; `decay_relative`: a share of
    # the registered value (set one at most); both null: the metric's default
    # (retrain.metrics.DEFAULT_DECAY: 0.03 for roc_auc/pr_auc/log_loss, 0.01 brier, 0.05 r2,
    # 10 % of the registered value for rmse/mae).
    decay: float | None = Field(None, ge=0)
    decay_relative: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_decay(self) -> TriggerPolicy:
        if self.decay is not None and self.decay_relative is not None:
            raise ValueError("set decay (metric units) or decay_relative (share), not both")
        return self

    # The signal must hold for this many consecutive windows before retraining: the current
    # one and the N-1 of its length just before it, all recomputed by the same run (no state
    # is kept between runs).
    persistence: int = Field(2, ge=1, le=52)


class MonitorSection(Section):
    # Statistic that decides the verdict, per feature kind. Known: see retrain.statnames.
    numeric_statistic: str = "psi"
    categorical_statistic: str = "jensenshannon"
    prediction_statistic: str = "psi"
    # Drift threshold per statistic. For p-value tests (ks, chisquare) it is the significance
    # level (drift when p < threshold); for the others, drift when score >= threshold.
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    # Quantile bins of the reference sample for PSI / Jensen-Shannon on numeric features.
    bins: int = Field(10, ge=2, le=100)
    # Features to monitor; empty = every feature column except keys and outcome columns.
    features: list[str] = Field(default_factory=list, max_length=200)
    # Columns never monitored besides the roles (base.key or the derived row id, base.event_time,
    # base.target and the label are never monitored, whatever this says): outcome/leakage
    # columns unknown at serving time, ids with thousands of levels. None by default; the
    # flights list their delay/time columns, the calendar month and tailnum (an aircraft id with
    # ~4,000 levels: a month vs the 3 months before it scores Jensen-Shannon ~0.3 on sampling
    # noise alone, measured on 2013).
    exclude: list[str] = Field(default_factory=list)
    # The newer window compared against the champion's training window ([start, end), naive
    # times read in `timezone`, else base.timezone, like extract.window).
    current: Window = Window(start=dt.datetime(2013, 10, 1), end=dt.datetime(2014, 1, 1))
    # Tables without a time column (base.event_time: null): the file of new rows compared with
    # the champion's training rows (`retrain monitor --current-rows` overrides it). Same
    # columns as extract.table (the target optional), read like it; null: pass the flag.
    current_rows: Path | None = None
    trigger: TriggerPolicy = TriggerPolicy()

    @field_validator("numeric_statistic", "prediction_statistic")
    @classmethod
    def _numeric(cls, name: str) -> str:
        return _known_statistic(name, "numeric")

    @field_validator("categorical_statistic")
    @classmethod
    def _categorical(cls, name: str) -> str:
        return _known_statistic(name, "categorical")

    @field_validator("thresholds")
    @classmethod
    def _threshold_names(cls, thresholds: dict[str, float]) -> dict[str, float]:
        for name, value in thresholds.items():
            _known_statistic(name, "any")
            if not value > 0:
                raise ValueError(f"threshold for {name!r} must be > 0, got {value}")
            if CATALOGUE[name].uses_p_value and not value < 1:
                raise ValueError(
                    f"threshold for {name!r} is a significance level and must be < 1, got {value}"
                )
        return thresholds

    def threshold(self, statistic: str) -> float:
        return self.thresholds.get(statistic, DEFAULT_THRESHOLDS[statistic])
