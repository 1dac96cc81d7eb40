"""Labels and the train/test split of the extracted features (pure; the prepare stage writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config.base import BaseSection
    from retrain.config.prepare import PrepareSection


LABEL = "label"


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    mode: str  # "time" or "random"
    n_without_target: int
    n_outside_windows: int
    dropped_columns: tuple[str, ...]


def derive_label(frame: pd.DataFrame, base: BaseSection) -> tuple[pd.DataFrame, int]:
    """Add `label` from `base.target`; drops rows whose target is unknown (cancelled flights).
    Returns the frame and how many rows were dropped."""
    import pandas as pd

    target = frame[base.target]
    if not pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target):
        raise UserError(
            f"target column {base.target!r} is {target.dtype}, not numeric",
            "point base.target at a numeric (or 0/1) column",
        )
    known = target.notna()
    frame = frame.loc[known].copy()
    target = frame[base.target].astype("float64")
    if base.task == "regression":
        frame[LABEL] = target
    elif base.positive_above is None:
        if not target.isin([0.0, 1.0]).all():
            raise UserError(
                f"base.positive_above is null, so {base.target!r} must hold 0/1, but it has "
                f"{sorted(target.unique().tolist())[:5]}",
                "set base.positive_above to the threshold that defines the positive class",
            )
        frame[LABEL] = target.astype("int64")
    else:
        frame[LABEL] = (target > base.positive_above).astype("int64")
    return frame, int((~known).sum())


def split(frame: pd.DataFrame, base: BaseSection, options: PrepareSection) -> Split:
    """The pure core: label, leakage columns out, time or random split."""
    for role, column in (("base.key", base.key), ("base.target", base.target)):
        if column not in frame.columns:
            raise UserError(
                f"features lack column {column!r} ({role})",
                f"set {role} in params.yaml to a column of the features, or re-run extract",
            )
    protected = {base.key, base.event_time} & set(options.drop_columns)
    if protected:
        raise UserError(
            f"prepare.drop_columns lists {sorted(protected)}, which train/test must keep "
            "(base.key / base.event_time)",
            "remove them from prepare.drop_columns",
        )
    if LABEL in frame.columns and base.target != LABEL:
        raise UserError(
            f"features already have a {LABEL!r} column, which prepare writes from {base.target!r}",
            f"rename that column, or set base.target: {LABEL} if it is the target",
        )
    labelled, n_without_target = derive_label(frame, base)
    # The raw target is leakage too, whether or not drop_columns names it.
    dropped = tuple(
        c
        for c in dict.fromkeys((*options.drop_columns, base.target))
        if c in labelled.columns and c != LABEL
    )
    labelled = labelled.drop(columns=list(dropped))
    if labelled.empty:
        raise UserError(
            f"no rows with a known {base.target!r} to split",
            "check extract's output; every row's target is missing",
        )

    time_column = base.event_time
    has_time = (
        time_column is not None
        and time_column in labelled.columns
        and labelled[time_column].notna().any()
    )
    if has_time:
        times = labelled[time_column]
        train_start, train_end = options.train_window.bounds_utc()
        test_start, test_end = options.test_window.bounds_utc()
        in_train = (times >= train_start) & (times < train_end)
        in_test = (times >= test_start) & (times < test_end)
        train = labelled.loc[in_train].sort_values([time_column, base.key], kind="stable")
        test = labelled.loc[in_test].sort_values([time_column, base.key], kind="stable")
        for name, part, window in (
            ("train", train, options.train_window),
            ("test", test, options.test_window),
        ):
            if part.empty:
                raise UserError(
                    f"prepare.{name}_window {window.label()} holds no rows; the features span "
                    f"{times.min():%Y-%m-%d %H:%M} .. {times.max():%Y-%m-%d %H:%M} UTC",
                    f"move prepare.{name}_window inside the extracted window",
                )
        n_outside = int((~(in_train | in_test)).sum())
        mode = "time"
    else:
        from sklearn.model_selection import train_test_split

        stratify = None
        if base.task == "classification":
            counts = labelled[LABEL].value_counts()
            if len(counts) < 2 or counts.min() < 2:
                raise UserError(
                    f"cannot stratify: label counts are {counts.to_dict()}",
                    "a classification target needs at least two rows of each class",
                )
            stratify = labelled[LABEL]
        train, test = train_test_split(
            labelled, test_size=options.test_size, random_state=base.seed, stratify=stratify
        )
        train = train.sort_values(base.key, kind="stable")
        test = test.sort_values(base.key, kind="stable")
        n_outside = 0
        mode = "random"
    return Split(
        train=train.reset_index(drop=True),
        test=test.reset_index(drop=True),
        mode=mode,
        n_without_target=n_without_target,
        n_outside_windows=n_outside,
        dropped_columns=dropped,
    )
