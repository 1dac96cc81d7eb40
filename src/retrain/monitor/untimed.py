"""`retrain monitor` on a table without a time column (base.event_time: null).

No time, no windows: the reference is the champion's training rows, found the way prepare
split them (the stable hash of the row identity at or above the champion's registered
`test_size`, `retrain.splitting.hash_unit`), and the champion's held-out rows (below it) are
the out-of-sample baseline of its scores; without a registry (`--no-registry`) the reference
is every row of the table. The current rows are a file of new rows (`--current-rows` or
`monitor.current_rows`) with the table's columns (the target optional: without it only
label-free checks run), read by extract's reader under the same caps and confinement. Rows of
the file that the table already holds (same `base.key`; without a key, the same values in the
file's columns) are reported and left out: they are not new data, and a held-out row would
compare the champion's baseline with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.artifacts import VersionTags
    from retrain.config import Params
    from retrain.config.base import BaseSection

FLAG = "--current-rows"
KEY = "monitor.current_rows"
_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".csv.zip")
_FIX = f"write the new rows with the columns of extract.table.path (the target optional) to {FLAG}"


@dataclass(frozen=True)
class Reference:
    """The rows the current file is compared with, and how they were chosen."""

    rows: pd.DataFrame  # feature drift reference
    scores_rows: pd.DataFrame | None  # the champion's held-out rows (None: no champion)
    label: str


def current_rows_path(flag: Path | None, params: Params, params_path: Path) -> Path:
    """The new-rows file, confined like extract.table.path (a flag like --features)."""
    from retrain.fileio import confined, data_roots, input_roots

    if params.base.event_time is not None:
        raise UserError(
            f"{FLAG} / {KEY} is for tables without a time column, but base.event_time is "
            f"{params.base.event_time!r}: the current window is cut by time",
            "drop --current-rows and monitor.current_rows; append the new rows to the table "
            "and pick them with monitor.current or --current-window START..END",
        )
    if flag is not None:
        return confined(flag, input_roots(params_path), FLAG)
    if params.monitor.current_rows is None:
        raise UserError(
            "base.event_time is null, so the monitor needs a file of new rows to compare with "
            "the champion's training rows",
            f"pass {FLAG} data/new.csv or set {KEY} (same columns as extract.table.path)",
        )
    project = data_roots(params_path.resolve().parent)
    return confined(params.monitor.current_rows, project, KEY)


def read_current_rows(path: Path, params: Params, table: pd.DataFrame) -> pd.DataFrame:
    """The new rows, with exactly the table's columns (the target may be absent)."""
    from retrain.config.base import ROW_ID
    from retrain.extraction import read_table, row_ids

    base = params.base
    if not path.is_file():
        raise UserError(f"{FLAG} file {path} does not exist", f"{_FIX}, or correct {FLAG} / {KEY}")
    if not path.name.lower().endswith(_SUFFIXES):
        raise UserError(
            f"{FLAG} file {path} has an unsupported type", "use " + ", ".join(_SUFFIXES)
        )
    try:
        frame = read_table(path, params.extract.table.encoding, params.extract.limits)
    except UserError as err:  # the reader names extract's keys; say which file it was
        raise UserError(f"{FLAG} file: {err.message}", err.hint) from None
    derived = base.key is None
    expected = [str(c) for c in table.columns if not (derived and c == ROW_ID)]
    have = {str(c) for c in frame.columns}
    missing = [c for c in expected if c not in have and c != base.target]
    extra = len(have - set(expected))
    if missing or extra:
        # Names come from the table params point at; the new file's own header is never
        # quoted (it may not be a table at all).
        what = []
        if missing:
            what.append(f"lacks {len(missing)} column(s) of the table: {missing[:10]}")
        if extra:
            what.append(f"has {extra} column(s) the table does not")
        raise UserError(f"{FLAG} file {path} {' and '.join(what)}", _FIX)
    if frame.empty:
        raise UserError(f"{FLAG} file {path} has no rows", f"{_FIX} (at least one row)")
    if derived:
        frame.insert(0, ROW_ID, row_ids(frame))
    return frame


def _comparable(frame: pd.DataFrame, columns: list[str], like: pd.DataFrame) -> pd.DataFrame:
    """`columns` of `frame` in one form per column for both files (numbers as float64, the
    rest as text), so a 1 read as int in one file and 1.0 in the other match."""
    import pandas as pd

    out = {}
    for column in columns:
        values, other = frame[column], like[column]
        numeric = all(
            pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
            for v in (values, other)
        )
        out[column] = values.astype("float64") if numeric else values.astype(str)
    return pd.DataFrame(out)


def known_rows(current: pd.DataFrame, table: pd.DataFrame, base: BaseSection) -> pd.Series:
    """True for the rows of `current` the table already holds: the same base.key, or without
    a key the same values in every column the new file has (its derived row_id aside)."""
    import pandas as pd

    from retrain.config.base import ROW_ID

    if base.key is not None:
        return current[base.key].astype(str).isin(set(table[base.key].astype(str)))
    columns = sorted((str(c) for c in current.columns if c != ROW_ID), key=str)

    def hashed(frame: pd.DataFrame, like: pd.DataFrame) -> pd.Series:
        return pd.util.hash_pandas_object(_comparable(frame, columns, like), index=False)

    seen = set(hashed(table, current).tolist())
    return hashed(current, table).isin(seen).set_axis(current.index)


def reference_rows(
    table: pd.DataFrame,
    base: BaseSection,
    tags: VersionTags | None,
    version: str | None,
    table_name: str,
) -> Reference:
    """The champion's training rows (its registered hash split) and its held-out rows; every
    row of the table when there is no champion."""
    from retrain.splitting import hash_unit

    if version is None or tags is None:
        return Reference(table, None, f"{table_name}: every row ({len(table):,}; no champion)")
    if tags.split == "time":
        raise UserError(
            f"champion v{version} was trained under a time split, but base.event_time is null "
            "now: its training rows cannot be told apart",
            "set base.event_time back to the column it was trained with, or pass "
            "--no-registry (feature drift against the whole table)",
        )
    if tags.split != "hash" or tags.test_size is None:
        raise UserError(
            f"champion v{version} has no split/test_size tags, so its training rows are unknown",
            "register models through `retrain push` (it records them), or pass --no-registry",
        )
    labelled = table.loc[table[base.target].notna()]  # prepare trains on labelled rows only
    held_out = hash_unit(labelled[base.key_column]) < tags.test_size
    train = labelled.loc[~held_out].reset_index(drop=True)
    test = labelled.loc[held_out].reset_index(drop=True)
    if train.empty:
        raise UserError(
            f"no row of {table_name} is on champion v{version}'s training side "
            f"(hash at or above test_size {tags.test_size})",
            "point extract.table.path at the table the champion was trained on",
        )
    label = (
        f"{table_name}: champion v{version}'s training rows ({len(train):,}; row-identity "
        f"hash >= test_size {tags.test_size})"
    )
    return Reference(train, test if len(test) else None, label)
