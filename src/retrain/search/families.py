"""Model families: a searched configuration -> a whole sklearn Pipeline on raw feature rows.

Preprocessing lives inside the Pipeline (imputation, encoding with unknown-category handling,
scaling for the linear family, calendar features from the event time), so the saved model takes
the prepared table's rows as they are and serving needs nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrain.config.train import FamilySpec, ParamSpec
from retrain.errors import UserError
from retrain.search.calendar import CalendarFeatures

FAMILIES = ("linear", "random_forest", "extra_trees", "hist_gradient_boosting")
# The linear family exposes one regularization strength for both tasks:
# LogisticRegression(C=1/alpha) for classification, Ridge(alpha) for regression.
LINEAR_PARAMS = {"alpha": 1.0, "max_iter": 1000, "tol": 1e-4}


@dataclass(frozen=True)
class FeatureColumns:
    """How each input column is treated; decided once from the train table's dtypes."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]  # few levels: one-hot (linear) / ordinal (trees)
    high_cardinality: tuple[str, ...]  # many levels: cross-fitted target encoding
    event_time: str | None  # source of the calendar features

    @property
    def all(self) -> list[str]:
        cols = [*self.numeric, *self.categorical, *self.high_cardinality]
        return cols + ([self.event_time] if self.event_time else [])


def feature_columns(
    frame: Any,
    *,
    exclude: set[str],
    event_time: str | None,
    calendar: bool,
    max_categories: int,
) -> FeatureColumns:
    import pandas as pd

    numeric, categorical, high = [], [], []
    for name in frame.columns:
        if name in exclude or name == event_time:
            continue
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            numeric.append(name)
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            continue  # other timestamps are not request-time features we can encode
        elif frame[name].nunique(dropna=True) > max_categories:
            high.append(name)
        else:
            categorical.append(name)
    use_time = event_time if calendar and event_time and event_time in frame.columns else None
    if not (numeric or categorical or high or use_time):
        raise UserError(
            "the train table has no feature columns besides the key and the label",
            "check prepare's output and train.exclude_columns",
        )
    return FeatureColumns(tuple(numeric), tuple(categorical), tuple(high), use_time)


def estimator_param_names(family: str, task: str) -> set[str]:
    if family == "linear":
        return set(LINEAR_PARAMS)
    return set(_estimator_class(family, task)().get_params())


def check_family(name: str, spec: FamilySpec, task: str) -> None:
    """Reject a search space naming a parameter the estimator does not have (before training)."""
    known = estimator_param_names(name, task)
    unknown = sorted((set(spec.space) | set(spec.fixed)) - known)
    if unknown:
        raise UserError(
            f"train.families.{name} names unknown parameter(s): {', '.join(unknown)}",
            f"use parameters of the {name} estimator: {', '.join(sorted(known))}",
        )


def default_params(name: str, spec: FamilySpec, task: str) -> dict[str, Any]:
    """The estimator's own defaults where the space allows them, else the range's middle.

    Enqueued as each family's first trial, so a sane baseline is always measured.
    """
    import math

    defaults = (
        dict(LINEAR_PARAMS) if name == "linear" else _estimator_class(name, task)().get_params()
    )
    chosen: dict[str, Any] = {}
    for param, dim in spec.space.items():
        value = defaults.get(param)
        chosen[param] = value if _inside(dim, value) else _middle(dim, math)
    return chosen


def _inside(dim: ParamSpec, value: Any) -> bool:
    if dim.type == "categorical":
        return value in (dim.choices or [])
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if dim.type == "int" and value != int(value):
        return False
    return dim.low <= value <= dim.high  # type: ignore[operator]


def _middle(dim: ParamSpec, math: Any) -> Any:
    if dim.type == "categorical":
        return (dim.choices or [None])[0]
    low, high = float(dim.low), float(dim.high)  # type: ignore[arg-type]
    mid = math.sqrt(low * high) if dim.log else (low + high) / 2
    return round(mid) if dim.type == "int" else mid


def _estimator_class(family: str, task: str) -> type:
    from sklearn import ensemble, linear_model

    classes = {
        ("linear", "classification"): linear_model.LogisticRegression,
        ("linear", "regression"): linear_model.Ridge,
        ("random_forest", "classification"): ensemble.RandomForestClassifier,
        ("random_forest", "regression"): ensemble.RandomForestRegressor,
        ("extra_trees", "classification"): ensemble.ExtraTreesClassifier,
        ("extra_trees", "regression"): ensemble.ExtraTreesRegressor,
        ("hist_gradient_boosting", "classification"): ensemble.HistGradientBoostingClassifier,
        ("hist_gradient_boosting", "regression"): ensemble.HistGradientBoostingRegressor,
    }
    try:
        return classes[(family, task)]
    except KeyError:
        raise UserError(
            f"unknown model family {family!r}", f"use one of: {', '.join(FAMILIES)}"
        ) from None


def build_pipeline(
    family: str,
    params: dict[str, Any],
    *,
    task: str,
    columns: FeatureColumns,
    seed: int,
    timezone: str,
    n_jobs: int = 1,
) -> Any:
    """An unfitted Pipeline(preprocess -> estimator) for one configuration."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
        TargetEncoder,
    )

    linear = family == "linear"
    blocks: list[tuple[str, Any, list[str]]] = []
    if columns.numeric:
        if linear:  # missingness indicators keep the signal imputation would hide
            num = make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
            )
        elif family == "hist_gradient_boosting":
            # Native missing-value support: no imputation. An explicit identity transformer,
            # because "passthrough" serializes a functools.partial skops would have to trust.
            num = FunctionTransformer(feature_names_out="one-to-one")
        else:
            num = SimpleImputer(strategy="median")
        blocks.append(("numeric", num, list(columns.numeric)))
    if columns.categorical:
        if linear:
            cat = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20)
        else:  # unseen levels become missing (HGB) or a level of their own (forests)
            missing = float("nan") if family == "hist_gradient_boosting" else -1
            cat = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=missing,
                encoded_missing_value=missing,
            )
        blocks.append(("categorical", cat, list(columns.categorical)))
    if columns.high_cardinality:
        # Cross-fitted during fit, so a level's own rows do not leak into its encoding.
        enc = TargetEncoder(cv=KFold(5, shuffle=True, random_state=seed))
        blocks.append(
            (
                "high_cardinality",
                make_pipeline(enc, StandardScaler()) if linear else enc,
                list(columns.high_cardinality),
            )
        )
    if columns.event_time:
        cal = CalendarFeatures(timezone=timezone)
        blocks.append(
            (
                "calendar",
                make_pipeline(cal, StandardScaler()) if linear else cal,
                [columns.event_time],
            )
        )
    preprocess = ColumnTransformer(blocks, remainder="drop", sparse_threshold=0.3 if linear else 0)

    estimator_cls = _estimator_class(family, task)
    kwargs: dict[str, Any] = dict(params)
    if linear:
        settings = {**LINEAR_PARAMS, **kwargs}
        alpha = float(settings.pop("alpha"))
        if task == "classification":
            estimator = estimator_cls(C=1.0 / alpha, random_state=seed, **settings)
        else:
            estimator = estimator_cls(alpha=alpha, random_state=seed, **settings)
    else:
        if family == "hist_gradient_boosting" and columns.categorical:
            n_num = len(columns.numeric)
            kwargs["categorical_features"] = list(range(n_num, n_num + len(columns.categorical)))
        if family in {"random_forest", "extra_trees"}:
            kwargs.setdefault("n_jobs", n_jobs)
        estimator = estimator_cls(random_state=seed, **kwargs)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def predict_scores(model: Any, frame: Any, task: str) -> Any:
    """Positive-class probability (classification) or the prediction (regression)."""
    if task == "classification":
        return model.predict_proba(frame)[:, 1]
    return model.predict(frame)
