"""`base` section: settings every stage shares."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# Time zone when params.yaml names none (base.timezone's default, so every window's too).
DEFAULT_TIMEZONE = "UTC"

# Column extract adds when base.key is null: a stable identity derived from each row's content
# and its position among identical rows (retrain.extraction.row_ids; docs/contracts.md).
ROW_ID = "row_id"


class Section(BaseModel):
    """Frozen, strict base for every params section.

    No float param may be inf or NaN (`.inf`/`.nan` in YAML): a NaN bound makes every
    comparison false, so a tampered threshold would silently pass everything.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def check_timezone(value: str) -> str:
    """The IANA name itself, or ValueError naming the expected form."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: e.g. a directory name
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'America/New_York'"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(check_timezone)]


def check_project_path(value: PurePath) -> PurePath:
    """A path the pipeline writes (and reads back) must stay in the project: relative, no `..`
    (symlinks inside the project are the repository's own business)."""
    if value.is_absolute() or ".." in value.parts:
        raise ValueError(f"{str(value)!r} must be a relative path inside the project, without '..'")
    return value


ProjectPath = Annotated[Path, AfterValidator(check_project_path)]


class BaseSection(Section):
    # numpy and scikit-learn take seeds in [0, 2**32 - 1].
    seed: int = Field(42, ge=0, le=2**32 - 1)
    model_name: str = Field("flight-delay", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    # classification: two classes (binary); multiclass: the classes listed in `classes`.
    task: Literal["classification", "multiclass", "regression"] = "classification"
    # Column the label comes from. Classification: label = target > positive_above
    # (positive_above null: the column already holds 0/1). Regression: the column itself.
    target: str = "arr_delay"
    positive_above: float | None = 15.0
    # Classification with a text or boolean target: the value that is the positive class
    # (e.g. "good", "yes", true); quote text in YAML ("yes", "no", "on" are booleans there).
    # Leave null for a numeric target (then positive_above, or 0/1 values, decide).
    positive_label: str | bool | int | None = None
    # Multiclass: every class of the target, in a fixed order (the label is the class's position
    # here, the model's probability columns follow it, serving returns these values). Quote text
    # in YAML. A target value not listed fails prepare with a message naming this key.
    classes: tuple[str | int, ...] | None = None
    event_time: str | None = "event_time"
    # Unique row id column; null: extract derives `row_id` (ROW_ID) from each row's content.
    key: str | None = "flight_id"
    # Clock of every naive date/time in params.yaml: extract.window, prepare.train_window /
    # test_window, monitor.current, and the calendars of train (CV periods, calendar features)
    # and replay (months). Each of those inherits it unless it sets its own `timezone`.
    timezone: TimeZone = DEFAULT_TIMEZONE

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, value: tuple[str | int, ...] | None) -> tuple[str | int, ...] | None:
        if value is None:
            return value
        if len(value) < 3:
            raise ValueError(
                f"multiclass needs at least three classes, got {list(value)}; two classes are "
                "task classification with positive_label"
            )
        if len({str(v) for v in value}) != len(value):
            raise ValueError(f"classes must not repeat: {list(value)}")
        return value

    @field_validator("classes", mode="before")
    @classmethod
    def _no_boolean_class(cls, value: object) -> object:
        if isinstance(value, list | tuple) and any(isinstance(v, bool) for v in value):
            raise ValueError(
                f"classes holds a boolean ({list(value)}): YAML reads yes/no/true/false as "
                "booleans, quote them"
            )
        return value

    @model_validator(mode="after")
    def _one_label_rule(self) -> BaseSection:
        if self.task == "multiclass" and self.classes is None:
            raise ValueError(
                "task multiclass needs `classes`: the target's classes in a fixed order "
                "(retrain init writes them)"
            )
        if self.task != "multiclass" and self.classes is not None:
            raise ValueError("classes is for task multiclass; set it to null")
        if self.task == "multiclass" and self.positive_above is not None:
            raise ValueError("positive_above is for task classification; set it to null")
        if self.positive_label is not None and self.task != "classification":
            raise ValueError("positive_label is for task classification; set it to null")
        if self.positive_label is not None and self.positive_above is not None:
            raise ValueError(
                "positive_label and positive_above both set; a text/boolean target needs "
                "positive_above: null, a numeric one positive_label: null"
            )
        return self

    @property
    def key_column(self) -> str:
        """The row identity column: base.key, or the derived ROW_ID when it is null."""
        return self.key if self.key is not None else ROW_ID
