"""Table profile -> a params.yaml draft (pure; `retrain init` reads the table and writes the file).

Like TFDV's `infer_schema`: one pass over the user's table gives, per column, its dtype kind,
non-null share, numeric range and (for low-cardinality text) its levels; `draft_params` turns
that profile into every data-dependent setting of params.yaml, each by a rule stated here (the
constants below) and repeated in the written file's comments:

- the task from the target (`infer_task`), its positive class, the label's class shares;
- the validate suite: exact columns, dtype kinds, not-null shares, numeric ranges, category
  sets, row bounds, class balance, duplicate rows;
- the time windows (extract / train / test / monitor) from the time column, one cut;
- slices from low-cardinality categorical columns;
- gate bounds at the no-skill baseline of each of the task's metrics, changes with a tolerance
  of about one standard error on the test rows;
- monitor excludes (key, time, target, identifier-like text) and a decay in the metric's units.

What the installed params schema can express is asked of the schema itself (`schema_allows`),
so a later schema with an optional `base.key`, `base.positive_label` or a `multiclass` task is
used without changing the drafting rules.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from retrain.errors import UserError
from retrain.metrics import metric_names
from retrain.statnames import DEFAULT_THRESHOLDS

if TYPE_CHECKING:
    import pandas as pd

Task = Literal["binary", "multiclass", "regression"]
Kind = Literal["int", "float", "str", "bool", "datetime"]

# -- the drafting rules (each is stated in the written params.yaml) -----------------------------
MAX_LEVELS = 50  # a text column with at most this many levels gets a category set
NEW_LEVEL_SHARE = 0.01  # share of rows a new (unseen) level may take before validate fails
SLICE_MAX_LEVELS = 10  # slice columns: categorical with 2..this many levels
MAX_SLICES = 3  # at most this many slice columns (fewest levels first)
RANGE_MARGIN = 0.1  # numeric ranges: observed [min, max] widened by this share of the span
RANGE_MOSTLY = 0.999  # ... and met by this share of non-null rows
NOT_NULL_MARGIN = 0.05  # not-null share: observed share minus this (1.0 when never null)
ROWS_MIN_SHARE = 0.5  # rows.min: this share of the profiled rows
ROWS_MAX_FACTOR = 10  # rows.max: this many times the profiled rows
CLASS_SHARE_FACTOR = 0.5  # min_class_share: this share of the observed rarest class
TEST_SHARE = 0.2  # test side: the most recent share of rows (time) or a random share
TEST_SHARE_RANGE = (0.1, 0.3)  # a rounded time cut must leave a test share in this range
ID_UNIQUE_SHARE = 0.9  # text column with more distinct values than this share: an identifier
MAX_CLASSES = 10  # an integer target with 3..this many values is multiclass
MAX_TEXT_CLASSES = MAX_LEVELS  # a text target with more levels is refused
AUC_FLOOR = 0.55  # roc_auc floor (0.5 is chance)
MIN_CHANGE_ABS = 0.005  # smallest allowed regression of a scale-free metric vs the champion
MIN_CHANGE_REL = 0.01  # ... of a metric in the target's units (relative)
SLICE_TOLERANCE_FACTOR = 2  # a slice may regress by this many times the whole-set tolerance
DECAY_SHARE = 0.05  # regression monitor decay: this share of the no-skill RMSE/MAE
CLASSIFICATION_DECAY = 0.03  # classification monitor decay (scale-free metric points)
CV_FOLDS = 3
# monitor.bins: PSI between two samples of n rows with k bins has a noise floor of about
# (k - 1) * 2 / n; keep it at most this share of the default PSI threshold (0.2: k <= 1 + 0.05 n)
PSI_NOISE_SHARE = 0.5
# Metrics in the target's units: tolerances are relative to the champion's value.
UNIT_METRICS = frozenset({"rmse", "mae"})
POSITIVE_WORDS = frozenset(
    {"1", "true", "yes", "y", "positive", "pos", "bad", "fraud", "churn", "default", "spam"}
    | {"malignant", "fail", "failure", "defect", "sick", "disease", "event", "t"}
)
KEY_NAME = re.compile(r"^(id|key|row_?id|index|.*[_ ]id|.*Id|.*ID)$")
MODEL_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ColumnProfile:
    """One column of the table as validate would see it after extract."""

    name: str
    kind: Kind
    n_rows: int
    n_null: int
    n_distinct: int  # among non-null values
    minimum: float | None = None  # numeric only
    maximum: float | None = None
    integral: bool = False  # numeric with whole values only
    levels: tuple[str, ...] = ()  # text/bool with <= MAX_LEVELS levels, sorted

    @property
    def not_null_share(self) -> float:
        return (self.n_rows - self.n_null) / self.n_rows if self.n_rows else 0.0

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")

    @property
    def categorical(self) -> bool:
        return self.kind in ("str", "bool")


@dataclass(frozen=True)
class TableProfile:
    n_rows: int
    columns: tuple[ColumnProfile, ...]

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _kind(series: pd.Series) -> Kind:
    import pandas as pd

    api = pd.api.types
    if api.is_bool_dtype(series):
        return "bool"
    if api.is_datetime64_any_dtype(series):
        return "datetime"
    if api.is_integer_dtype(series):
        return "int"
    if api.is_numeric_dtype(series):
        return "float"
    return "str"


def profile_column(series: pd.Series) -> ColumnProfile:
    import numpy as np

    kind = _kind(series)
    values = series.dropna()
    n_distinct = int(values.nunique())
    common = {
        "name": str(series.name),
        "kind": kind,
        "n_rows": len(series),
        "n_null": int(series.isna().sum()),
        "n_distinct": n_distinct,
    }
    if kind in ("int", "float"):
        numbers = values.astype("float64")
        numbers = numbers[np.isfinite(numbers)]
        if numbers.empty:
            return ColumnProfile(**common)
        return ColumnProfile(
            **common,
            minimum=float(numbers.min()),
            maximum=float(numbers.max()),
            integral=bool((numbers == np.round(numbers)).all()),
        )
    if kind in ("str", "bool") and n_distinct <= MAX_LEVELS:
        return ColumnProfile(**common, levels=tuple(sorted({str(v) for v in values})))
    return ColumnProfile(**common)


def profile_table(frame: pd.DataFrame) -> TableProfile:
    """Per-column profile of `frame` (read the way extract reads it)."""
    duplicated = [str(c) for c in frame.columns[frame.columns.duplicated()]]
    if duplicated:
        raise UserError(
            f"the table has duplicated column names: {sorted(set(duplicated))}",
            "give every column a distinct name",
        )
    return TableProfile(
        n_rows=len(frame), columns=tuple(profile_column(frame[c]) for c in frame.columns)
    )


# -- what the installed params schema accepts --------------------------------------------------


def schema_allows(field_name: str, value: Any = None) -> bool:
    """Whether `base.<field_name>` exists in the installed schema (and accepts `value`:
    None = nullable; a string = one of its literal values)."""
    from retrain.config.base import BaseSection

    info = BaseSection.model_fields.get(field_name)
    if info is None:
        return False
    if value is None:
        return _accepts_none(info.annotation)
    return value in _literal_values(info.annotation)


def _accepts_none(annotation: Any) -> bool:
    return type(None) in get_args(annotation)


def _literal_values(annotation: Any) -> set[Any]:
    args = get_args(annotation)
    if not args:
        return set()
    if all(not get_args(a) and not isinstance(a, type) for a in args):
        return set(args)  # Literal[...] itself
    return {v for a in args for v in _literal_values(a)}


def task_value(task: Task) -> str:
    """What `base.task` says for `task` in the installed schema."""
    if schema_allows("task", task):
        return task
    if task == "binary" and schema_allows("task", "classification"):
        return "classification"
    raise UserError(
        f"the target is a {task} problem, but this version's params schema accepts base.task "
        f"in {sorted(_literal_values(_task_annotation()))} only",
        "pass --task regression if the classes are ordered numbers, or recode the target into "
        "two classes (0/1) and run init again",
    )


def _task_annotation() -> Any:
    from retrain.config.base import BaseSection

    return BaseSection.model_fields["task"].annotation


def metrics_for(task: Task) -> tuple[str, ...]:
    """The metric registry's names for `task` (as named in base.task)."""
    names = metric_names(task_value(task))
    if not names and task == "multiclass":
        names = metric_names("classification")
    return names


def primary_metric(task: Task) -> str:
    from retrain.config.train import PrimaryMetric

    value = task_value(task)
    default = PrimaryMetric.model_fields.get(value)
    if default is not None and default.default in metrics_for(task):
        return str(default.default)
    return metrics_for(task)[0]


# -- the target ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    task: Task
    reason: str  # why this task (written into the file)
    classes: tuple[str, ...] = ()  # classification: class values as text, sorted
    shares: tuple[float, ...] = ()  # their shares of the labelled rows
    positive: str | None = None  # binary: the positive class (as text)
    positive_reason: str = ""
    positive_above: float | None = None  # binary numeric: label = target > this
    positive_label: Any = None  # binary: value written to base.positive_label (if needed)


def _class_shares(target: pd.Series) -> tuple[tuple[str, ...], tuple[float, ...]]:
    counts = target.dropna().value_counts()
    ordered = sorted(counts.index, key=lambda v: (str(type(v)), v))
    total = float(counts.sum())
    return tuple(_as_text(v) for v in ordered), tuple(float(counts[v]) / total for v in ordered)


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def infer_task(target: pd.Series, requested: Task | None = None) -> Task:
    """binary (two values), multiclass (3..MAX_CLASSES whole numbers, or 3..MAX_TEXT_CLASSES
    text levels), else regression for numbers; `requested` is checked against the values."""
    col = profile_column(target)
    name = col.name
    if col.n_distinct == 0:
        raise UserError(
            f"target column {name!r} is empty (every value is missing)",
            "pass --target a column holding the outcome to predict",
        )
    if col.n_distinct == 1:
        value = _as_text(target.dropna().iloc[0])
        raise UserError(
            f"target column {name!r} holds a single value ({value!r}) in all {col.n_rows - col.n_null} "
            "labelled rows: there is nothing to learn",
            "pass --target the outcome column, or add rows with other outcomes",
        )
    if col.kind == "datetime":
        raise UserError(
            f"target column {name!r} holds timestamps", "pass --time for it and another --target"
        )
    if requested is None:
        if col.n_distinct == 2:
            return "binary"
        if col.numeric:
            return "multiclass" if col.integral and col.n_distinct <= MAX_CLASSES else "regression"
        if col.n_distinct <= MAX_TEXT_CLASSES:
            return "multiclass"
        raise UserError(
            f"target column {name!r} is text with {col.n_distinct} distinct values (more than "
            f"{MAX_TEXT_CLASSES}): it looks like an identifier or free text, not a label",
            "pass --target the outcome column (numbers for regression, a few levels for "
            "classification)",
        )
    if requested == "regression" and not col.numeric:
        raise UserError(
            f"--task regression needs a numeric target; {name!r} is {col.kind}",
            "use --task binary / multiclass, or pass a numeric --target",
        )
    if requested == "binary" and col.n_distinct != 2:
        raise UserError(
            f"--task binary needs a target with two values; {name!r} has {col.n_distinct}",
            "pass --task multiclass or regression (or leave --task out to infer it)",
        )
    if requested == "multiclass" and col.n_distinct == 2:
        raise UserError(f"--task multiclass: {name!r} has only two values", "pass --task binary")
    if requested == "multiclass" and col.n_distinct > MAX_TEXT_CLASSES:
        raise UserError(
            f"--task multiclass: {name!r} has {col.n_distinct} values (more than "
            f"{MAX_TEXT_CLASSES})",
            "pass --task regression for a numeric target, or group the classes",
        )
    return requested


def describe_label(target: pd.Series, task: Task, positive: str | None = None) -> Label:
    col = profile_column(target)
    if task == "regression":
        return Label(
            task,
            f"numeric target with {col.n_distinct} distinct values"
            + (" (whole numbers; --task regression)" if col.integral else ""),
        )
    classes, shares = _class_shares(target)
    if task == "multiclass":
        return Label(task, f"{len(classes)} classes", classes, shares)
    reason = f"two values: {', '.join(classes)}"
    if positive is not None and positive not in classes:
        raise UserError(
            f"--positive {positive!r} is not a value of the target; its values: "
            f"{', '.join(classes)}",
            f"pass --positive one of {', '.join(classes)}",
        )
    if positive is not None:
        chosen, why = positive, "--positive"
    elif col.numeric or col.kind == "bool":
        chosen = classes[-1] if col.numeric else "True"
        why = "the larger value" if col.numeric else "True"
    else:
        words = [c for c in classes if c.strip().lower() in POSITIVE_WORDS]
        if len(words) == 1:
            chosen, why = words[0], f"{words[0]!r} reads as the positive outcome"
        else:
            rare = min(range(2), key=lambda i: (shares[i], -i))
            chosen, why = classes[rare], "the rarer class"
    label = Label(task, reason, classes, shares, chosen, why)
    return _encode_positive(label, col, target)


def _encode_positive(label: Label, col: ColumnProfile, target: pd.Series) -> Label:
    """How base says which class is positive: positive_above (numbers), else positive_label."""
    from dataclasses import replace

    assert label.positive is not None
    high = label.classes[1]
    if col.numeric:
        values = sorted(float(v) for v in target.dropna().unique())
        if label.positive == high:
            above = None if values == [0.0, 1.0] else values[0]
            return replace(label, positive_above=above)
        value: Any = int(values[0]) if col.integral else values[0]
    elif col.kind == "bool":
        if label.positive == "True":
            return label  # 0/1 once read as numbers: positive_above null
        value = False
    else:
        value = label.positive
    if not schema_allows("positive_label"):
        raise UserError(
            f"the positive class {label.positive!r} of target {col.name!r} cannot be stated in "
            "this version's params schema (base.positive_above only: label = target > a number)",
            f"recode {col.name!r} to 0/1 (1 = the positive class) and run init again"
            + ("" if col.kind != "str" else ", or pass --task multiclass if that is meant"),
        )
    return replace(label, positive_label=value)


# -- time ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeSplit:
    column: str
    timezone: str
    start: str  # [start, end): every row, in `timezone`
    end: str
    cut: str  # train [start, cut), test [cut, end)
    rule: str
    n_train: int
    n_test: int
    cv_period: str
    cv_folds: int
    n_missing: int  # rows without a time (extract drops them)


def parse_times(series: pd.Series) -> tuple[pd.Series, str]:
    """Timestamps as extract reads them: (times in their own zone, the zone's IANA name)."""
    import pandas as pd

    name = str(series.name)
    times = series
    try:
        if not pd.api.types.is_datetime64_any_dtype(times):
            if pd.api.types.is_numeric_dtype(times) or pd.api.types.is_bool_dtype(times):
                raise ValueError(f"dtype {times.dtype}")
            times = pd.to_datetime(times, format="mixed")
    except (ValueError, TypeError, OverflowError) as exc:
        raise UserError(
            f"--time column {name!r} is not a timestamp: {exc}",
            "pass --time a column of ISO 8601 dates/times (e.g. 2013-05-01T14:30:00Z), or "
            "leave --time out for a random split",
        ) from None
    zone = getattr(times.dt, "tz", None)
    if zone is None:
        return times, "UTC"
    zone_name = str(zone)
    from retrain.config.base import check_timezone

    try:
        check_timezone(zone_name)
    except ValueError:
        return times.dt.tz_convert("UTC"), "UTC"  # a fixed offset: windows in UTC
    return times, zone_name


def _bound(value: pd.Timestamp) -> str:
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return f"{value:%Y-%m-%d}"
    return f"{value:%Y-%m-%d %H:%M:%S}"


def time_split(series: pd.Series, test_share: float = TEST_SHARE) -> TimeSplit:
    """Whole-day windows over the table and the train/test cut at the start of the day where
    the most recent `test_share` of the rows begins; the hour, then the second, when a day cut
    would leave a test share outside TEST_SHARE_RANGE."""
    import pandas as pd

    times, zone = parse_times(series)
    local = times if times.dt.tz is None else times.dt.tz_convert(zone).dt.tz_localize(None)
    present = local.dropna()
    if present.nunique() < 2:
        raise UserError(
            f"--time column {series.name!r} holds {present.nunique()} distinct time(s): "
            "nothing to cut into train and test",
            "leave --time out for a random split",
        )
    first, last = present.min(), present.max()
    start = first.floor("D")
    end = last.floor("D") + pd.Timedelta(days=1)
    at = present.quantile(1 - test_share)
    candidates = []
    for freq, where in (("D", "the day"), ("h", "the hour"), ("s", "the second")):
        cut = at.floor(freq)
        if cut <= first:
            cut = at.ceil(freq)
        n_test = int((present >= cut).sum())
        if first < cut <= last:
            candidates.append((cut, where, n_test))
    in_range = [
        c for c in candidates if TEST_SHARE_RANGE[0] <= c[2] / len(present) <= TEST_SHARE_RANGE[1]
    ]
    if not candidates:
        raise UserError(
            f"--time column {series.name!r}: no cut leaves rows on both sides",
            "leave --time out for a random split",
        )
    cut, where, n_test = (in_range or candidates)[0]
    n_train = len(present) - n_test
    period, folds = _cv_period(present[present < cut])
    return TimeSplit(
        column=str(series.name),
        timezone=zone,
        start=_bound(start),
        end=_bound(end),
        cut=_bound(cut),
        rule=(
            f"test = rows from the start of {where} in which the most recent "
            f"{test_share:.0%} of rows begin ({n_train} train / {n_test} test rows)"
        ),
        n_train=n_train,
        n_test=n_test,
        cv_period=period,
        cv_folds=folds,
        n_missing=len(series) - len(present),
    )


def train_side(series: pd.Series, split: TimeSplit) -> pd.Series:
    """Rows of the time column `series` before the split's cut (as prepare will split them)."""
    import pandas as pd

    times, zone = parse_times(series)
    if times.dt.tz is not None:
        times = times.dt.tz_convert(zone).dt.tz_localize(None)
    return times < pd.Timestamp(split.cut)


def _cv_period(train_times: pd.Series) -> tuple[str, int]:
    """The coarsest calendar period with CV_FOLDS + 1 distinct periods in the train rows."""
    for period, freq in (("month", "M"), ("week", "W"), ("day", "D")):
        n = train_times.dt.to_period(freq).nunique()
        if n >= CV_FOLDS + 1:
            return period, CV_FOLDS
    n_days = train_times.dt.to_period("D").nunique()
    if n_days >= 2:
        return "day", n_days - 1
    raise UserError(
        f"the train rows span one day ({train_times.min():%Y-%m-%d}): time-ordered CV needs "
        "at least two",
        "leave --time out for a random split",
    )


# -- the draft -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    value: float
    note: str  # what it is (written next to it)


@dataclass(frozen=True)
class Change:
    metric: str
    max_regression_abs: float | None
    max_regression_rel: float | None
    bootstrap: bool


@dataclass(frozen=True)
class Draft:
    """Every data-dependent setting of the params.yaml `retrain init` writes."""

    table: str
    n_rows: int
    model_name: str
    label: Label
    task_value: str
    target: str
    key: str | None
    key_reason: str
    time: TimeSplit | None
    n_test: int  # expected test rows
    # validate
    columns: list[str]
    dtypes: dict[str, str]
    not_null: dict[str, tuple[float, float]]  # column -> (required, observed)
    ranges: dict[str, tuple[float, float, float, float]]  # (min, max, observed min, max)
    categories: dict[str, tuple[str, ...]]
    rows_min: int
    rows_max: int
    min_class_share: float | None
    n_duplicate_rows: int
    duplicate_rows_ignore: list[str]
    # train / evaluate / gate / monitor
    primary: str
    metrics: tuple[str, ...]
    values: dict[str, tuple[str, Bound]]  # metric -> ("min" | "max", bound)
    changes: list[Change]
    change_rule: str
    slices: list[str]
    slice_min_rows: int
    slice_tolerance: float
    exclude_features: list[str]  # identifier-like text columns
    monitor_exclude: list[str]
    monitor_bins: int
    decay: float
    decay_rule: str
    review: list[str] = field(default_factory=list)


def monitor_bins_for(n_test: int) -> int:
    """Quantile bins whose PSI noise floor between the champion's ~n_test held-out rows and as
    many new rows stays under half the drift threshold (10 from ~180 test rows up)."""
    from retrain.config.monitor import MonitorSection

    k = 1 + math.floor(PSI_NOISE_SHARE * DEFAULT_THRESHOLDS["psi"] * n_test / 2)
    return max(2, min(MonitorSection.model_fields["bins"].default, k))


def model_name_for(path: Path) -> str:
    stem = path.name.split(".")[0]
    name = MODEL_NAME.sub("-", stem).strip("-_.")[:63]
    return name if name and name[0].isalnum() else f"model-{name}".strip("-")[:63] or "model"


def _round_out(low: float, high: float, integral: bool) -> tuple[float, float]:
    """[low, high] rounded outwards to 3 significant digits of the span (whole for integers)."""
    span = high - low
    if integral:
        return float(math.floor(low)), float(math.ceil(high))
    if span <= 0:
        return low, high
    step = 10 ** (math.floor(math.log10(span)) - 2)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def numeric_range(col: ColumnProfile) -> tuple[float, float]:
    assert col.minimum is not None and col.maximum is not None
    span = col.maximum - col.minimum
    margin = RANGE_MARGIN * (span if span > 0 else max(abs(col.maximum), 1.0))
    low, high = col.minimum - margin, col.maximum + margin
    if col.minimum >= 0:
        low = max(low, 0.0)  # a column never negative stays so
    return _round_out(low, high, col.integral)


def _round_up(value: float, digits: int = 3) -> float:
    return math.ceil(round(value * 10**digits, 9)) / 10**digits  # round: 0.95 - 0.05 is 0.8999...


def _round_down(value: float, digits: int = 3) -> float:
    return math.floor(round(value * 10**digits, 9)) / 10**digits


def _significant(value: float, digits: int = 3) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def baselines(
    label: Label, target: pd.Series, train: pd.Series | None = None
) -> dict[str, tuple[str, Bound]]:
    """Each metric's value bound at the no-skill baseline: what a constant prediction (the
    class shares, or the target's mean/median) scores on the profiled rows.

    Regression with a time split (`train`: True for the rows before the cut): the constant is
    learnt on the train side and scored on the test side, as a model would be; a trending
    target's test rows lie far from the training mean, so the whole table's spread (its std)
    would be a bound no model trained on the past can meet."""
    import numpy as np

    out: dict[str, tuple[str, Bound]] = {}
    if label.task == "regression":
        values = target.astype("float64")
        if train is not None and values[train].notna().any() and values[~train].notna().any():
            fit = values[train].dropna().to_numpy()
            y = values[~train].dropna().to_numpy()
            where = "learnt before the time cut, on the test rows"
        else:
            fit = y = values.dropna().to_numpy()
            where = ""
        mean, median = float(np.mean(fit)), float(np.median(fit))
        rmse = float(np.sqrt(np.mean((y - mean) ** 2)))
        mae = float(np.mean(np.abs(y - median)))
        spread = float(np.mean((y - np.mean(y)) ** 2))
        r2 = 1.0 - rmse**2 / spread if where and spread > 0 else 0.0
        suffix = f" ({where})" if where else ""
        out["rmse"] = ("max", Bound(_significant(rmse), f"no skill: predicting the mean{suffix}"))
        out["mae"] = ("max", Bound(_significant(mae), f"no skill: predicting the median{suffix}"))
        r2_bound = _round_down(r2, 2) if r2 < 0 else 0.0
        out["r2"] = ("min", Bound(r2_bound, f"no skill: predicting the mean{suffix}"))
        return out
    if label.task == "binary":
        assert label.positive is not None
        p = label.shares[label.classes.index(label.positive)]
        entropy = -(p * math.log(p) + (1 - p) * math.log(1 - p))
        out["roc_auc"] = ("min", Bound(AUC_FLOOR, "0.5 is chance"))
        out["pr_auc"] = ("min", Bound(_round_up(p), "no skill: the positive share"))
        out["log_loss"] = ("max", Bound(_round_up(entropy), "no skill: the class shares"))
        out["brier"] = ("max", Bound(_round_up(p * (1 - p)), "no skill: the class shares"))
        return out
    entropy = -sum(s * math.log(s) for s in label.shares if s > 0)
    out["log_loss"] = ("max", Bound(_round_up(entropy), "no skill: the class shares"))
    return out


def draft_params(
    frame: pd.DataFrame,
    table: Path,
    target: str,
    *,
    task: Task | None = None,
    time: str | None = None,
    key: str | None = None,
    positive: str | None = None,
) -> Draft:
    """The params.yaml draft for `frame` (the table at `table`, read as extract reads it)."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    if frame.empty:
        raise UserError(f"{table} has no rows", "export the table again with its data")
    named = {"--target": target, "--time": time, "--key": key}
    for option, column in named.items():
        if column is not None and column not in columns:
            close = [c for c in columns if c.lower() == column.lower()]
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(
                f"{option} {column!r} is not a column of {table}{guess}; its columns: "
                f"{', '.join(columns[:40])}",
                f"pass {option} one of the table's column names",
            )
    roles = [c for c in (target, time, key) if c is not None]
    if len(set(roles)) != len(roles):
        raise UserError(
            f"--target, --time and --key must name different columns (got {roles})",
            "pass a distinct column to each",
        )
    profile = profile_table(frame)
    inferred = infer_task(frame[target], task)
    label = describe_label(frame[target], inferred, positive)
    value = task_value(inferred)
    review: list[str] = []

    # key
    key, key_reason = _choose_key(frame, profile, key, exclude={target, time})
    # time
    split = time_split(frame[time]) if time is not None else None
    n_labelled = int(frame[target].notna().sum())
    if split is not None:
        n_test = split.n_test
    else:
        n_test = max(1, round(TEST_SHARE * n_labelled))
        stamp = _looks_like_time(frame, profile, exclude={target, key})
        if stamp:
            review.append(
                f"column {stamp!r} looks like a timestamp: pass --time {stamp} for a "
                "time-ordered split, windows and monitoring (now: random split, the monitor needs "
                "--current-rows)"
            )

    # validate
    dtypes = {
        c.name: ("number" if c.numeric and c.name != key else c.kind) for c in profile.columns
    }
    if time is not None:
        dtypes[time] = "datetime"  # extract converts it
    categorical_dtype = [c for c in columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    for column in categorical_dtype:
        del dtypes[column]  # validate's kinds have no pandas category dtype
    if categorical_dtype:
        review.append(
            f"pandas category dtype, no dtype check drafted (validate knows no such kind): "
            f"{categorical_dtype}"
        )
    not_null: dict[str, tuple[float, float]] = {}
    for col in profile.columns:
        observed = col.not_null_share
        if observed <= 0:
            review.append(f"column {col.name!r} is empty in every row")
            continue
        if col.n_null == 0:
            not_null[col.name] = (1.0, 1.0)
        else:
            not_null[col.name] = (max(0.01, _round_down(observed - NOT_NULL_MARGIN, 2)), observed)
    ranges: dict[str, tuple[float, float, float, float]] = {}
    for col in profile.columns:
        skip = col.name == key or (col.name == target and label.task != "regression")
        if col.numeric and not skip and col.minimum is not None:
            assert col.maximum is not None
            low, high = numeric_range(col)
            ranges[col.name] = (low, high, col.minimum, col.maximum)
    identifiers = [
        c.name
        for c in profile.columns
        if c.kind == "str"
        and c.name not in (key, target, time)
        and c.n_rows >= 20
        and c.n_distinct > ID_UNIQUE_SHARE * (c.n_rows - c.n_null)
    ]
    labelled = frame.loc[frame[target].notna()]
    n_unlabelled = profile.n_rows - len(labelled)
    if split is not None:  # what training sees: labelled rows before the cut
        labelled = labelled.loc[train_side(labelled[split.column], split).to_numpy()]
    empty_when_labelled = [
        c.name
        for c in profile.columns
        if c.name not in (key, target, time)
        and c.n_null < c.n_rows
        and labelled[c.name].isna().all()
    ]
    if empty_when_labelled:
        review.append(
            "column(s) empty in every labelled training row, kept out of training and "
            f"monitoring: "
            f"{empty_when_labelled}"
        )
    if n_unlabelled:
        review.append(f"{n_unlabelled} row(s) have no {target!r}: prepare drops them")
    categories = {
        c.name: c.levels
        for c in profile.columns
        if c.kind == "str" and c.levels and c.name not in (key, time)
    }
    constant = [c.name for c in profile.columns if c.n_distinct == 1 and c.name != target]
    if constant:
        review.append(f"constant column(s), no information for the model: {constant}")
    if identifiers:
        review.append(
            f"text column(s) with (almost) one value per row, kept out of training and "
            f"monitoring as identifiers/free text: {identifiers}"
        )
    compared = [c for c in columns if c != key]
    n_duplicates = int(frame.duplicated(subset=compared).sum())
    if n_duplicates:
        review.append(
            f"{n_duplicates} row(s) repeat another row on every column"
            + (f" but {key!r}" if key else "")
            + ": validate.unique_rows is false (set it true if duplicates are errors)"
        )
    if label.task != "regression":
        min_share = max(0.001, _round_down(CLASS_SHARE_FACTOR * min(label.shares), 3))
        min_share = min(min_share, 0.49)
    else:
        min_share = None

    # metrics, gate, slices, monitor
    metrics = metrics_for(inferred)
    primary = primary_metric(inferred)
    before_cut = train_side(frame[time], split) if split is not None else None
    values = {m: b for m, b in baselines(label, frame[target], before_cut).items() if m in metrics}
    if before_cut is not None and label.task == "regression":
        outside = beyond_training_range(frame[target], before_cut)
        if outside:
            review.append(
                f"{outside[0]} of {outside[1]} test row(s) have a {target!r} outside every "
                "training value (a trend): tree models cannot predict beyond the training "
                "range and linear ones extrapolate the features' trends, so expect a test "
                "error far above the CV error; predicting the change rather than the level "
                "(a differenced target) may suit this table better"
            )
    scale = math.sqrt(max(n_test, 1))
    abs_tol = max(MIN_CHANGE_ABS, _round_up(0.5 / scale))
    rel_tol = max(MIN_CHANGE_REL, _round_up(1.0 / scale))
    changes = [
        Change(
            metric=m,
            max_regression_abs=None if m in UNIT_METRICS else abs_tol,
            max_regression_rel=rel_tol if m in UNIT_METRICS else None,
            bootstrap=m == primary,
        )
        for m in metrics
    ]
    change_rule = (
        f"about one standard error on ~{n_test} test rows: scale-free metrics may lose "
        f"max({MIN_CHANGE_ABS}, 0.5/sqrt(n)) = {abs_tol}, metrics in the target's units "
        f"max({MIN_CHANGE_REL:.0%}, 1/sqrt(n)) = {rel_tol:.1%} of the champion's value"
    )
    slices = sorted(
        (
            c
            for c in profile.columns
            if c.categorical
            and c.name not in (key, target, time)
            and 2 <= c.n_distinct <= SLICE_MAX_LEVELS
        ),
        key=lambda c: (c.n_distinct, c.name),
    )[:MAX_SLICES]
    if primary in UNIT_METRICS:
        slice_tol = _significant(SLICE_TOLERANCE_FACTOR * rel_tol * values[primary][1].value)
        decay = _significant(DECAY_SHARE * values[primary][1].value)
        decay_rule = (
            f"{DECAY_SHARE:.0%} of the no-skill {primary} ({values[primary][1].value:g}), in "
            "the target's units"
        )
    else:
        slice_tol = max(0.03, _round_up(SLICE_TOLERANCE_FACTOR * abs_tol))
        decay = CLASSIFICATION_DECAY
        decay_rule = f"{CLASSIFICATION_DECAY} {primary} points"
    excluded = [*identifiers, *empty_when_labelled]
    monitor_exclude = list(
        dict.fromkeys(c for c in (key, time, target, "label", *excluded) if c is not None)
    )
    review += [
        f"task: {inferred} ({label.reason}); pass --task to override",
        *(
            [f"positive class: {label.positive!r} ({label.positive_reason}); --positive to change"]
            if label.positive is not None
            else []
        ),
        f"key: {key_reason}",
        (
            f"split: by time on {split.column!r}: {split.rule}"
            if split is not None
            else f"split: seeded random, {TEST_SHARE:.0%} test (no --time)"
        ),
        "prepare.drop_columns: list columns known only after the outcome (leakage); init "
        "cannot tell them from features",
        "validate: ranges, category sets and row bounds come from this one table; widen them "
        "where the data can legitimately move",
    ]
    return Draft(
        table=str(table),
        n_rows=profile.n_rows,
        model_name=model_name_for(table),
        label=label,
        task_value=value,
        target=target,
        key=key,
        key_reason=key_reason,
        time=split,
        n_test=n_test,
        columns=columns,
        dtypes=dtypes,
        not_null=not_null,
        ranges=ranges,
        categories=categories,
        rows_min=max(1, math.floor(ROWS_MIN_SHARE * profile.n_rows)),
        rows_max=max(ROWS_MAX_FACTOR * profile.n_rows, 1),
        min_class_share=min_share,
        n_duplicate_rows=n_duplicates,
        duplicate_rows_ignore=[key] if key is not None else [],
        primary=primary,
        metrics=metrics,
        values=values,
        changes=changes,
        change_rule=change_rule,
        slices=[c.name for c in slices],
        slice_min_rows=max(30, math.ceil(0.1 * n_test)),
        slice_tolerance=slice_tol,
        exclude_features=excluded,
        monitor_exclude=monitor_exclude,
        monitor_bins=monitor_bins_for(n_test),
        decay=decay,
        decay_rule=decay_rule,
        review=review,
    )


def beyond_training_range(target: pd.Series, train: pd.Series) -> tuple[int, int] | None:
    """(test rows whose target lies outside the train side's range, labelled test rows) when
    that is more than half of them; else None."""
    fit, test = target[train].dropna(), target[~train].dropna()
    if fit.empty or test.empty:
        return None
    n = int(((test < fit.min()) | (test > fit.max())).sum())
    return (n, len(test)) if n > len(test) / 2 else None


def _choose_key(
    frame: pd.DataFrame, profile: TableProfile, key: str | None, exclude: set[str | None]
) -> tuple[str | None, str]:
    if key is not None:
        col = profile.column(key)
        if col.n_null or col.n_distinct != col.n_rows:
            n_dup = col.n_rows - col.n_null - col.n_distinct
            raise UserError(
                f"--key {key!r} does not identify rows: {col.n_null} missing and {n_dup} "
                "repeated value(s)",
                "pass --key a column with one distinct non-null value per row"
                + (", or leave --key out" if schema_allows("key", None) else ""),
            )
        if col.kind not in ("int", "str"):
            raise UserError(
                f"--key {key!r} is {col.kind}; a key is whole numbers or text",
                "pass --key an id column",
            )
        return key, f"{key!r} (--key)"
    candidates = [
        c
        for c in profile.columns
        if c.name not in exclude
        and c.kind in ("int", "str")
        and c.n_null == 0
        and c.n_distinct == c.n_rows
        and KEY_NAME.match(c.name)
    ]
    if candidates:
        chosen = min(candidates, key=lambda c: (c.name.lower() != "id", c.name))
        return chosen.name, f"{chosen.name!r}: named like an id and unique (--key to change)"
    if schema_allows("key", None):
        return None, "none: no unique id column; rows are identified by their content"
    raise UserError(
        "no key column: this version of the pipeline needs base.key, a column with one "
        "distinct value per row, and no column named like an id (id, *_id, key) is unique",
        "add a row id column to the table (e.g. `df.insert(0, 'row_id', range(len(df)))` "
        "before saving it) or pass --key COLUMN",
    )


def _looks_like_time(
    frame: pd.DataFrame, profile: TableProfile, exclude: set[str | None]
) -> str | None:
    import pandas as pd

    for col in profile.columns:
        if col.name in exclude:
            continue
        if col.kind == "datetime":
            return col.name
        if col.kind == "str" and col.n_distinct > 1:
            sample = frame[col.name].dropna().astype(str).head(50)
            if not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
                continue
            try:
                pd.to_datetime(sample, format="mixed")
            except (ValueError, TypeError):
                continue
            return col.name
    return None
