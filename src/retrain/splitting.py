"""Labels and the train/test split of the extracted features (pure; the prepare stage writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.artifacts import ChampionInfo
    from retrain.config.base import BaseSection
    from retrain.config.prepare import PrepareSection


LABEL = "label"


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    mode: str  # "time" or "random" (a hash of the row identity)
    n_without_target: int
    n_outside_windows: int
    dropped_columns: tuple[str, ...]


def _label_values(target: pd.Series, base: BaseSection) -> pd.Series:
    """0/1 labels of a classification target (rows with a known target only)."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    label = base.positive_label
    if label is None and pd.api.types.is_bool_dtype(target):
        label = True  # a boolean target: True is the positive class
    if label is not None:
        values = target.unique().tolist()
        if isinstance(label, str) and not numeric:
            hit = target.astype(str) == label
        else:
            hit = target == label
        if not hit.any():
            quote = (
                f'; YAML read it as {label!r}: quote it, e.g. positive_label: "yes"'
                if isinstance(label, bool) and not pd.api.types.is_bool_dtype(target)
                else ""
            )
            raise UserError(
                f"base.positive_label {label!r} is not a value of {base.target!r}; it holds "
                f"{sorted(map(str, values))[:10]}{quote}",
                "set base.positive_label to the value of the positive class (quoted text)",
            )
        return hit.astype("int64")
    if not numeric:
        values = sorted(map(str, target.unique().tolist()))
        raise UserError(
            f"target column {base.target!r} holds text ({len(values)} values: {values[:10]}) "
            "and base.positive_label is null",
            'set base.positive_label to the positive class, e.g. positive_label: "yes" '
            "(quoted); for more than two classes set base.task: multiclass and base.classes "
            "(retrain init writes them)",
        )
    numbers = target.astype("float64")
    if base.positive_above is None:
        if not numbers.isin([0.0, 1.0]).all():
            raise UserError(
                f"base.positive_above is null, so {base.target!r} must hold 0/1, but it has "
                f"{sorted(numbers.unique().tolist())[:5]}",
                "set base.positive_above to the threshold that defines the positive class, or "
                "base.positive_label to the positive value (more than two classes: base.task: "
                "multiclass with base.classes)",
            )
        return numbers.astype("int64")
    return (numbers > base.positive_above).astype("int64")


def class_codes(target: pd.Series, base: BaseSection) -> pd.Series:
    """Multiclass label: each value's position in base.classes (matched by its text form)."""
    import pandas as pd

    assert base.classes is not None  # BaseSection requires it for multiclass
    position = {str(c): i for i, c in enumerate(base.classes)}
    text = target.astype(str)
    if pd.api.types.is_float_dtype(target) and (target == target.round()).all():
        text = target.astype("int64").astype(str)  # 1.0 in a CSV column with gaps is class 1
    codes = text.map(position)
    unknown = sorted(set(text[codes.isna()].tolist()))
    if unknown:
        raise UserError(
            f"target column {base.target!r} holds value(s) {unknown[:10]} that base.classes "
            f"{list(base.classes)} does not list",
            "add them to base.classes (quoted text), or drop those rows from the table",
        )
    return codes.astype("int64")


def derive_label(frame: pd.DataFrame, base: BaseSection) -> tuple[pd.DataFrame, int]:
    """Add `label` from `base.target`; drops rows whose target is unknown (cancelled flights).
    Returns the frame and how many rows were dropped.

    Regression: the numeric target itself. Classification: 1 where the target equals
    base.positive_label (text, boolean or a number; a boolean target without it: True), else
    target > base.positive_above, else the 0/1 target itself.
    """
    import pandas as pd

    target = frame[base.target]
    if base.task == "regression" and (
        not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target)
    ):
        raise UserError(
            f"target column {base.target!r} is {target.dtype}, not numeric, but base.task is "
            "regression",
            "point base.target at a numeric column, or set base.task: classification with "
            "base.positive_label",
        )
    known = target.notna()
    frame = frame.loc[known].copy()
    if base.task == "regression":
        frame[LABEL] = frame[base.target].astype("float64")
    elif base.task == "multiclass":
        frame[LABEL] = class_codes(frame[base.target], base)
    else:
        frame[LABEL] = _label_values(frame[base.target], base)
    return frame, int((~known).sum())


def test_side(keys: pd.Series, test_size: float) -> pd.Series:
    """True for the rows whose identity hashes into the test side (docs/contracts.md).

    Each key (as text) hashes to a fixed number u in [0, 1); the row is a test row when
    u < test_size. The seed plays no part, so a row stays on its side under a new seed, a
    larger test_size only moves train rows to test, and new rows never move old ones.
    """
    return hash_unit(keys) < test_size


def hash_unit(keys: pd.Series) -> pd.Series:
    """A fixed number in [0, 1) per key (64-bit hash of its text form, fixed hash key)."""
    import numpy as np
    import pandas as pd

    hashed = pd.util.hash_pandas_object(
        keys.astype(str), index=False, hash_key="retrain-split-v1"
    ).to_numpy(dtype=np.uint64)
    return pd.Series((hashed >> np.uint64(11)) / float(1 << 53), index=keys.index)


def split_rule(base: BaseSection, options: PrepareSection) -> tuple[str, float]:
    """("time", test_size) with an event time, else ("hash", test_size): what push records
    on a version so a later gate can keep that version's training rows out of its holdout."""
    return ("time" if base.event_time is not None else "hash"), options.test_size


def champion_free_holdout(
    test: pd.DataFrame, base: BaseSection, options: PrepareSection, champion: ChampionInfo
) -> tuple[pd.DataFrame, str | None]:
    """The test rows the champion did not train on, and a note when some were removed.

    Hash split: a row the champion trained on hashed at or above the champion's test_size, so
    only rows below min(champion's, current test_size) are kept (a new seed or new rows move
    nothing; a larger test_size would otherwise pull champion training rows in). Time split:
    rows after the champion's last training event. A champion whose split is not recorded, or
    was made the other way, cannot be checked: UserError (a time split with an unrecorded
    split still has train_end).
    """
    import pandas as pd

    if champion.version is None:
        return test, None
    mode, test_size = split_rule(base, options)
    recorded = champion.split == "hash" and champion.test_size is not None
    if (mode == "hash" and not recorded) or (mode == "time" and champion.split == "hash"):
        raise UserError(
            f"champion v{champion.version} was trained under a "
            f"{champion.split or 'unrecorded'} split, this candidate under a {mode} split: the "
            "gate cannot prove its holdout excludes the champion's training rows",
            "keep base.event_time as it was when the champion was trained, or promote this "
            "model by hand (`retrain promote --force --reason ...`) after checking it",
        )
    if mode == "hash":
        assert champion.test_size is not None
        limit = min(test_size, champion.test_size)
        kept = test.loc[hash_unit(test[base.key_column]) < limit]
        why = f"hash below the champion's prepare.test_size {champion.test_size}"
    else:
        if champion.train_end is None:
            return test, None
        assert base.event_time is not None
        end = pd.Timestamp(champion.train_end)
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
        kept = test.loc[pd.to_datetime(test[base.event_time], utc=True) > end]
        why = f"after the champion's last training row ({champion.train_end})"
    if kept.empty:
        raise UserError(
            f"no test row is free of champion v{champion.version}'s training rows ({why})",
            "move prepare.test_window after the champion's training window, or keep "
            "prepare.test_size at least the champion's",
        )
    if len(kept) == len(test):
        return test, None
    note = f"gate holdout: {len(kept):,} of {len(test):,} test rows ({why})"
    return kept.reset_index(drop=True), note


def split(frame: pd.DataFrame, base: BaseSection, options: PrepareSection) -> Split:
    """The pure core: label, leakage columns out, time or random split."""
    for role, column in (("base.key", base.key_column), ("base.target", base.target)):
        if column not in frame.columns:
            raise UserError(
                f"features lack column {column!r} ({role})",
                f"set {role} in params.yaml to a column of the features, or re-run extract",
            )
    protected = {base.key_column, base.event_time} & set(options.drop_columns)
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
        order = [time_column, base.key_column]
        train = labelled.loc[in_train].sort_values(order, kind="stable")
        test = labelled.loc[in_test].sort_values(order, kind="stable")
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
        in_test = test_side(labelled[base.key_column], options.test_size)
        train = labelled.loc[~in_test].sort_values(base.key_column, kind="stable")
        test = labelled.loc[in_test].sort_values(base.key_column, kind="stable")
        if train.empty or test.empty:
            raise UserError(
                f"the hash split left the {'train' if train.empty else 'test'} side empty "
                f"({len(labelled)} rows, prepare.test_size {options.test_size})",
                "give more rows or change prepare.test_size",
            )
        if base.task == "multiclass" and base.classes is not None:
            counts = train[LABEL].value_counts()
            absent = [c for i, c in enumerate(base.classes) if i not in counts.index]
            if absent:
                raise UserError(
                    f"the hash split's train side holds no row of class(es) {absent} "
                    f"({len(train)} rows)",
                    "every class in base.classes needs training rows: give more rows, "
                    "lower prepare.test_size or remove the class from base.classes",
                )
        if base.task != "regression":
            for name, part in (("train", train), ("test", test)):
                counts = part[LABEL].value_counts()
                if len(counts) < 2:
                    raise UserError(
                        f"the hash split's {name} side holds only class(es) "
                        f"{counts.to_dict()} ({len(part)} rows)",
                        "a classification target needs both classes on each side: give "
                        "more rows or change prepare.test_size",
                    )
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
