"""`train` section of params.yaml: the AutoML search as data.

Families, their search spaces, the budget (trials AND seconds), the time-ordered CV scheme, the
primary metric per task and where the Optuna study lives. The code never hard-codes any of them.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from retrain.config.base import Section, TimeZone
from retrain.metrics import metric_names

# The model families retrain.search can build (also what replay.families may name).
FamilyName = Literal["linear", "random_forest", "extra_trees", "hist_gradient_boosting", "lightgbm"]
Scalar = str | int | float | bool | None


class ParamSpec(Section):
    """One dimension of a family's search space (an Optuna distribution)."""

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty `choices` list")
            if self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter takes `choices`, not `low`/`high`")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} parameter needs both `low` and `high`")
        if self.choices is not None:
            raise ValueError(f"an {self.type} parameter takes `low`/`high`, not `choices`")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("`low` and `high` must be finite numbers")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scaled range needs low > 0 (got {self.low})")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int parameter needs integer `low` and `high`")
        return self


class FamilySpec(Section):
    """A model family: whether the search may pick it, its search space and fixed settings."""

    enabled: bool = True
    space: dict[str, ParamSpec] = Field(default_factory=dict)
    # Constant estimator settings (not searched), e.g. early stopping or n_jobs.
    fixed: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_overlap(self) -> FamilySpec:
        both = sorted(set(self.space) & set(self.fixed))
        if both:
            raise ValueError(f"parameters both searched and fixed: {', '.join(both)}")
        return self


class Budget(Section):
    # The search stops at whichever comes first. `seconds` bounds the whole stage, refit
    # included: the search stops early enough for the estimated refit (retrain.search.budget),
    # and the ensemble (or the rows) refit is cut to what fits (search.json `refit`).
    trials: int = Field(40, ge=1)
    seconds: float = Field(60.0, gt=0)


class CrossValidation(Section):
    # Expanding window over contiguous calendar periods of base.event_time: fold k trains on
    # every period before its validation period (a random split overstates AUC on this data).
    period: Literal["month", "week", "day"] = "month"
    folds: int = Field(3, ge=1)
    # Periods skipped between the train and validation part of a fold (label latency).
    gap_periods: int = Field(0, ge=0)
    # Cap on rows each fold trains on during the search (the most recent rows are kept, as the
    # refit uses all). null = no cap. Keeps trials cheap so the budget buys more of them.
    max_train_rows: int | None = Field(40000, ge=10)


class Pruning(Section):
    # Optuna MedianPruner on the running mean of the folds: a trial whose early folds score
    # below the median of earlier trials at the same fold stops there.
    enabled: bool = True
    startup_trials: int = Field(4, ge=0)


class EnsembleSelection(Section):
    # Greedy selection (retrain.search.ensemble) over the top `pool` complete trials: a trial
    # joins the equal-weight soft vote while it raises the CV score by at least `min_gain`.
    # The model is the best single trial when no partner helps (or enabled: false).
    enabled: bool = True
    max_members: int = Field(3, ge=2)
    pool: int = Field(10, ge=2)
    min_gain: float = Field(0.0005, ge=0)


class PrimaryMetric(Section):
    classification: Literal[metric_names("classification")] = "roc_auc"  # type: ignore[valid-type]
    regression: Literal[metric_names("regression")] = "rmse"  # type: ignore[valid-type]
    multiclass: Literal[metric_names("multiclass")] = "roc_auc_ovr"  # type: ignore[valid-type]


def _default_families() -> dict[str, FamilySpec]:
    forest_space = {
        "n_estimators": ParamSpec(type="int", low=20, high=80, log=True),
        "min_samples_leaf": ParamSpec(type="int", low=10, high=200, log=True),
        "max_features": ParamSpec(type="float", low=0.1, high=0.6),
    }
    return {
        "hist_gradient_boosting": FamilySpec(
            space={
                "learning_rate": ParamSpec(type="float", low=0.02, high=0.3, log=True),
                "max_leaf_nodes": ParamSpec(type="int", low=15, high=127, log=True),
                "min_samples_leaf": ParamSpec(type="int", low=20, high=400, log=True),
                "l2_regularization": ParamSpec(type="float", low=1e-6, high=10.0, log=True),
                "max_features": ParamSpec(type="float", low=0.3, high=1.0),
            },
            fixed={"max_iter": 300, "early_stopping": True, "n_iter_no_change": 15},
        ),
        "linear": FamilySpec(
            space={"alpha": ParamSpec(type="float", low=1e-4, high=100.0, log=True)},
        ),
        "random_forest": FamilySpec(
            space=forest_space, fixed={"max_depth": 16, "max_samples": 0.3}
        ),
        "extra_trees": FamilySpec(
            space=forest_space, fixed={"max_depth": 16, "bootstrap": True, "max_samples": 0.3}
        ),
        # LightGBM (the optional `lightgbm` package): boosted trees with native missing values
        # and categorical splits. Off: in place of HGB it gained test AUC at a 180 s budget,
        # not at the default 60 s (bench/README.md, "The `lightgbm` family, end to end").
        "lightgbm": FamilySpec(
            enabled=False,
            space={
                "n_estimators": ParamSpec(type="int", low=50, high=500, log=True),
                "learning_rate": ParamSpec(type="float", low=0.02, high=0.3, log=True),
                "num_leaves": ParamSpec(type="int", low=15, high=255, log=True),
                "min_child_samples": ParamSpec(type="int", low=10, high=400, log=True),
                "colsample_bytree": ParamSpec(type="float", low=0.3, high=1.0),
                "reg_lambda": ParamSpec(type="float", low=1e-6, high=10.0, log=True),
            },
        ),
    }


class TrainSection(Section):
    metric: PrimaryMetric = PrimaryMetric()
    budget: Budget = Budget()
    cv: CrossValidation = CrossValidation()
    pruning: Pruning = Pruning()
    ensemble: EnsembleSelection = EnsembleSelection()
    families: dict[FamilyName, FamilySpec] = Field(default_factory=_default_families)
    # Random trials before TPE models the space.
    startup_trials: int = Field(6, ge=0)
    # Families whose estimator defaults run as the first trials (a measured baseline each).
    enqueue_defaults: tuple[FamilyName, ...] = ("hist_gradient_boosting", "linear")
    # Optuna storage: null = in-memory; `sqlite:///study.db`; `postgresql+psycopg://...` for
    # teams (the locked driver: `make sync-team`).
    # Several processes (or CI matrix jobs) with the same storage + study name share one study.
    storage: str | None = None
    study_name: str = Field("retrain", min_length=1)
    # MLflow experiment; null = base.model_name.
    experiment: str | None = None
    leaderboard_size: int = Field(10, ge=1)
    # Threads per fit (OpenMP for HGB, n_jobs for forests). Fixed rather than "all cores": on a
    # shared 2-core box oversubscribed OpenMP threads spin-wait and fits run ~4x slower.
    n_jobs: int = Field(1, ge=1)
    # Input columns never used as features (besides base.key and the label).
    exclude_columns: tuple[str, ...] = ()
    # Request-time calendar features derived from base.event_time inside the Pipeline (in
    # `timezone`). Off by default: measured test AUC 0.713 with vs 0.717 without on the 2013 data.
    calendar_features: bool = False
    # Time zone of the CV periods' calendar and of the calendar features (local minute, day of
    # week, distance to US federal holidays); unset = base.timezone (filled in by Params).
    timezone: TimeZone = "UTC"
    # Categorical columns with more levels than this are target-encoded (cross-fitted)
    # instead of one-hot / ordinal encoded.
    max_categories: int = Field(60, ge=2)
    # A training run left RUNNING by a killed process is marked KILLED by the next `retrain
    # train` of the experiment: at once when its pid is gone from this host, and after this many
    # hours when it belongs to another host (whose processes cannot be checked from here).
    stale_run_hours: float = Field(24.0, gt=0)

    @model_validator(mode="after")
    def _some_family(self) -> TrainSection:
        if not any(spec.enabled for spec in self.families.values()):
            raise ValueError("no model family is enabled; enable at least one")
        return self
