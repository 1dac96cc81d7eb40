"""`evaluate` section of params.yaml: slices, plot resolution, permutation importance."""

from __future__ import annotations

from pydantic import Field

from retrain.config.base import Section


class Importance(Section):
    # Permutation importance of the raw input columns on a seeded sample of the test rows.
    rows: int = Field(5000, ge=10)
    repeats: int = Field(3, ge=1)


class EvaluateSection(Section):
    # Columns whose levels get their own metrics in metrics/slices.json (none by default;
    # `retrain init` drafts low-cardinality categorical columns, the flights set carrier, origin).
    slices: tuple[str, ...] = ()
    # Levels with fewer test rows than this are reported with `n` only (metrics too noisy).
    min_slice_rows: int = Field(30, ge=1)
    # Points kept in curve plots (ROC, precision-recall) so the committed JSON stays small.
    curve_points: int = Field(200, ge=10)
    calibration_bins: int = Field(10, ge=2)
    # Rows in the residual scatter plot (regression).
    residual_points: int = Field(1000, ge=10)
    importance: Importance = Importance()
