"""Slices: the rows of each level of a column, with ONE label for missing values, shared by
evaluate (metrics/slices.json) and the gate (per-slice no-regression)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MISSING_LEVEL = "(missing)"


def slice_levels(column: pd.Series) -> Iterator[tuple[str, np.ndarray]]:
    """(level, boolean row mask) for every level of `column`, in sorted order; missing values
    form the level `MISSING_LEVEL`."""
    import numpy as np

    keys = column.astype("string").fillna(MISSING_LEVEL).to_numpy()
    for level in np.unique(keys):
        yield str(level), keys == level
