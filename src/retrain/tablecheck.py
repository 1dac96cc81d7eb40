"""Params against the table, before any training: the extract stage's last step.

params.yaml is checked on its own at load time (keys, types, metrics of the task); what it can
only get wrong against a real table is checked here, on the extracted features: every column
params names exists, the target can become a label for base.task, and the time windows lie
hold rows. Every problem is reported at once, each with the params key to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrain.config.base import ROW_ID
from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import Params

# Columns later stages add themselves (prepare's label, extract's derived row identity).
ADDED_COLUMNS = ("label", ROW_ID)


def named_columns(params: Params) -> list[tuple[str, str]]:
    """(params key, column) for every column params.yaml names outside `validate` (validate
    checks its own names against validate.columns)."""
    base = params.base
    named = [("base.target", base.target)]
    if base.key is not None:
        named.append(("base.key", base.key))
    if base.event_time is not None:
        named.append(("base.event_time", base.event_time))
    named += [("evaluate.slices", c) for c in params.evaluate.slices]
    named += [("gate.slices.columns", c) for c in params.gate.slices.columns]
    named += [("prepare.drop_columns", c) for c in params.prepare.drop_columns]
    named += [("train.exclude_columns", c) for c in params.train.exclude_columns]
    named += [("monitor.features", c) for c in params.monitor.features]
    named += [("monitor.exclude", c) for c in params.monitor.exclude]
    return named


def column_problems(params: Params, columns: list[str]) -> list[str]:
    present = {str(c) for c in columns} | set(ADDED_COLUMNS)
    missing: dict[str, list[str]] = {}
    for key, column in named_columns(params):
        if column not in present:
            missing.setdefault(key, []).append(column)
    shown = ", ".join(map(str, columns[:30])) + (" …" if len(columns) > 30 else "")
    return [
        f"{key} names {', '.join(map(repr, names))}, not a column of the table (it has: "
        f"{shown}); fix: remove {'them' if len(names) > 1 else 'it'} from {key} or use "
        "existing columns"
        for key, names in missing.items()
    ]


def label_problems(params: Params, frame: pd.DataFrame) -> list[str]:
    """The target must become a label for base.task (the same rules prepare applies)."""
    from retrain.splitting import derive_label

    if params.base.target not in frame.columns:
        return []  # reported with the columns
    try:
        derive_label(frame[[params.base.target]], params.base)
    except UserError as err:
        return [f"{err.message}; fix: {err.hint}" if err.hint else err.message]
    return []


def window_problems(params: Params, frame: pd.DataFrame) -> list[str]:
    """Each of prepare's windows holds rows of the user's table (source `table`, with an
    event time). The bundled Feast source is left to prepare's own check: its tests extract a
    few days and never prepare them."""
    import pandas as pd

    time_column = params.base.event_time
    if params.extract.source != "table" or time_column is None or time_column not in frame:
        return []
    times = pd.to_datetime(frame[time_column], utc=True)
    problems = []
    for key in ("train_window", "test_window"):
        window = getattr(params.prepare, key)
        start, end = window.bounds_utc()
        if not ((times >= start) & (times < end)).any():
            problems.append(
                f"prepare.{key} {window.label()} holds no row of the table (its "
                f"{time_column} spans {times.min():%Y-%m-%d %H:%M} .. "
                f"{times.max():%Y-%m-%d %H:%M} UTC inside extract.window); fix: move "
                f"prepare.{key} (and extract.window) over the table's time range"
            )
    return problems


def check_params_against_table(params: Params, frame: pd.DataFrame) -> None:
    """UserError listing every mismatch between params.yaml and the extracted table."""
    problems = column_problems(params, [str(c) for c in frame.columns])
    problems += label_problems(params, frame)
    problems += window_problems(params, frame)
    if problems:
        raise UserError(
            "params.yaml does not fit the table:\n  - " + "\n  - ".join(problems),
            "change the params keys named above (nothing was written)",
        )
