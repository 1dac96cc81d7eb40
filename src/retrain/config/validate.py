"""`validate` section of params.yaml: the data contract the features table must meet.

Every expectation of the great-expectations suite comes from here (data, not code). Columns
named in one map must exist in `columns` (checked by the stage, which also knows `base`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from retrain.config.base import Section

# Share of rows that must meet an expectation (great-expectations' `mostly`).
Share = Annotated[float, Field(gt=0.0, le=1.0)]

# Dtype kinds a column may be declared as. `number` accepts int or float; `str` accepts
# pandas object/string dtypes; `datetime` accepts naive or tz-aware datetime64.
DtypeKind = Literal["int", "float", "number", "str", "datetime", "bool"]


class NumericRange(Section):
    min: float | None = None
    max: float | None = None
    mostly: Share = 1.0

    @model_validator(mode="after")
    def _bounds(self) -> NumericRange:
        if self.min is None and self.max is None:
            raise ValueError("a range needs `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}")
        return self


class CategorySet(Section):
    values: list[str] = Field(min_length=1)
    # Rows whose (non-null) value is outside `values` may make up at most this share;
    # above it the batch fails (e.g. a new carrier code appearing in many rows).
    max_new_share: float = Field(0.0, ge=0.0, lt=1.0)


class RowCount(Section):
    min: int = Field(1, ge=0)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> RowCount:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"rows.min {self.min} is above rows.max {self.max}")
        return self


class ValidateSection(Section):
    # Exact column set (order-insensitive); null accepts any columns.
    columns: list[str] | None = None
    dtypes: dict[str, DtypeKind] = Field(default_factory=dict)
    # column -> share of rows that must be non-null.
    not_null: dict[str, Share] = Field(default_factory=dict)
    ranges: dict[str, NumericRange] = Field(default_factory=dict)
    categories: dict[str, CategorySet] = Field(default_factory=dict)
    rows: RowCount = RowCount()
    # Classification: each class (base.target > base.positive_above, or 0/1) must hold at
    # least this share of the labelled rows; a single-class batch fails.
    min_class_share: float = Field(0.01, gt=0.0, lt=0.5)
    # base.event_time must lie inside extract.window (half-open, UTC bounds).
    event_time_in_window: bool = True
    # base.key must be unique.
    unique_key: bool = True
    # No two rows may be equal on every column except `duplicate_rows_ignore` (a generated row
    # id such as flight_id would hide a duplicated flight otherwise).
    unique_rows: bool = True
    duplicate_rows_ignore: list[str] = Field(default_factory=list)
    # Share of rows that may be duplicates before unique_rows fails (real tables often hold a
    # few exact repeats; 0.0 fails on the first pair).
    duplicate_rows_max_share: float = Field(0.0, ge=0.0, lt=1.0)
