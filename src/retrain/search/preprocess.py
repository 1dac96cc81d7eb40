"""The preprocessing every family's Pipeline starts with: raw feature rows -> estimator input.

Imputation, encoding with unknown-category handling, scaling for linear models and calendar
features from the event time live inside the Pipeline, so the saved model takes the prepared
table's rows as they are and serving needs nothing else. A family shapes it only through its
`Preprocessing` flags (`retrain.search.families`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrain.errors import UserError

# Types skops may instantiate for the preprocessing, whatever the family (beyond skops' own safe
# set). Reviewed like code: each one widens what a model file can construct.
SKOPS_TYPES = frozenset(
    {
        "numpy.dtype",
        # Calendar features from the event time (retrain.search.calendar): holds only a
        # time-zone name.
        "retrain.search.calendar.CalendarFeatures",
        # TargetEncoder's seeded cross-fitting splitter: holds n_splits, shuffle, random_state.
        "sklearn.model_selection._split.KFold",
    }
)


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


@dataclass(frozen=True, slots=True)
class Preprocessing:
    """What a family's estimator needs from the preprocessing (the defaults suit tree forests:
    median imputation, ordinal codes with unseen levels as a level of their own, dense)."""

    # Linear models: missingness indicators, standard scaling, one-hot encoding, sparse output.
    scaled: bool = False
    # The estimator handles NaN itself: no imputation, unseen levels become missing.
    native_missing: bool = False


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


def build_preprocess(
    columns: FeatureColumns, how: Preprocessing, *, seed: int, timezone: str
) -> Any:
    """An unfitted ColumnTransformer. Its output columns are, in order: numeric, categorical,
    high-cardinality, calendar (a family may rely on that order, e.g. HGB's categorical
    positions)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler, TargetEncoder

    from retrain.search.calendar import CalendarFeatures

    def scaled(step: Any) -> Any:
        return make_pipeline(step, StandardScaler()) if how.scaled else step

    blocks: list[tuple[str, Any, list[str]]] = []
    if columns.numeric:
        blocks.append(("numeric", _numeric(how), list(columns.numeric)))
    if columns.categorical:
        blocks.append(("categorical", _categorical(how), list(columns.categorical)))
    if columns.high_cardinality:
        # Cross-fitted during fit, so a level's own rows do not leak into its encoding.
        enc = TargetEncoder(cv=KFold(5, shuffle=True, random_state=seed))
        blocks.append(("high_cardinality", scaled(enc), list(columns.high_cardinality)))
    if columns.event_time:
        cal = CalendarFeatures(timezone=timezone)
        blocks.append(("calendar", scaled(cal), [columns.event_time]))
    return ColumnTransformer(blocks, remainder="drop", sparse_threshold=0.3 if how.scaled else 0)


def _numeric(how: Preprocessing) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if how.scaled:  # missingness indicators keep the signal imputation would hide
        return make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    if how.native_missing:
        # No imputation. An explicit identity transformer, because "passthrough" serializes a
        # functools.partial skops would have to trust.
        return FunctionTransformer(feature_names_out="one-to-one")
    return SimpleImputer(strategy="median")


def _categorical(how: Preprocessing) -> Any:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    if how.scaled:
        return OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20)
    # Unseen levels become missing (native NaN support) or a level of their own (forests).
    missing = float("nan") if how.native_missing else -1
    return OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=missing, encoded_missing_value=missing
    )
