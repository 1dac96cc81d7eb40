"""The commented params.yaml text `retrain init` writes for a `profiling.Draft`.

Written as text (not yaml.dump) so every drafted value carries the rule it came from. Strings
are quoted whenever YAML could read them as anything but a string (yes/no/on/off, numbers,
dates, null), and the time windows are written once: YAML anchors carry the data's start/end
and the train/test cut to prepare's windows and the monitor's current window.
"""

from __future__ import annotations

import json
import math
import re
import textwrap

from retrain.profiling import (
    MAX_LEVELS,
    NEW_LEVEL_SHARE,
    NOT_NULL_MARGIN,
    RANGE_MARGIN,
    RANGE_MOSTLY,
    ROWS_MAX_FACTOR,
    ROWS_MIN_SHARE,
    SLICE_MAX_LEVELS,
    TEST_SHARE,
    Draft,
    schema_allows,
)

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
# Words YAML 1.1 (PyYAML) or 1.2 read as booleans or null.
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})
WIDTH = 100  # wrap flow lists at this column
# extract.window of a table without a time column (never applied; the key must exist for DVC).
OPEN_START, OPEN_END = "1970-01-01", "2100-01-01"


def q(value: object) -> str:
    """A YAML scalar that reads back as the same string (quoted unless plainly an identifier)."""
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


def num(value: float) -> str:
    """A YAML number PyYAML reads as one (a float's exponent needs a dot in the mantissa)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    whole = isinstance(value, int) or (math.isfinite(value) and float(value).is_integer())
    if whole and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{exponent}"
    return text


def share(value: float) -> str:
    """A share in [0, 1] as YAML (1.0 rather than 1, so it reads as a share)."""
    return "1.0" if value == 1 else num(value)


def scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):
        return num(value)  # type: ignore[arg-type]
    return q(value)


def flow(items: list[str], indent: int, prefix: str = "") -> str:
    """`[a, b, ...]` wrapped at WIDTH, continuation lines indented by `indent` + 2."""
    if not items:
        return f"{prefix}[]"
    lines: list[str] = []
    current = f"{prefix}["
    for i, item in enumerate(items):
        piece = item + ("]" if i == len(items) - 1 else ",")
        if len(current) + 1 + len(piece) > WIDTH - indent and current.strip() not in ("[", ""):
            lines.append(current)
            current = " " * (indent + 2) + piece
        else:
            current += ("" if current.endswith("[") else " ") + piece
    lines.append(current)
    return "\n".join(lines)


def pad(code: str, note: str, column: int = 29) -> str:
    """`code` with `# note` aligned at `column` (or one space after a long line)."""
    return f"{code.ljust(column - 1)} # {note}" if note else code


def render(draft: Draft) -> str:
    """The whole params.yaml."""
    label, time = draft.label, draft.time
    out: list[str] = []
    add = out.append
    add(
        f"# Drafted by `retrain init` from {draft.table} ({draft.n_rows} rows, "
        f"{len(draft.columns)} columns)."
    )
    add("# Each value comes from the table by the rule in its comment; every key not written here")
    add("# takes its default from src/retrain/config/<section>.py. Review before `dvc repro`:")
    for note in draft.review:
        lines = textwrap.wrap(note, WIDTH - 6)
        add(f"#   - {lines[0]}")
        out.extend(f"#     {line}" for line in lines[1:])
    add("")

    # -- base
    add("base:")
    add("  seed: 42")
    add(pad(f"  model_name: {q(draft.model_name)}", "from the file name"))
    task_note = f"{label.task}: {label.reason}"
    add(pad(f"  task: {q(draft.task_value)}", task_note))
    add(pad(f"  target: {q(draft.target)}", "the column to predict"))
    if label.task == "binary":
        if label.positive_above is not None:
            above = (
                f"positive class {label.positive!r}: label = target > {num(label.positive_above)}"
            )
        else:
            above = (
                "the target holds 0/1 (1 = positive)"
                if label.positive_label is None
                else "not a threshold: see positive_label"
            )
        add(pad(f"  positive_above: {scalar(label.positive_above)}", above))
        if label.positive_label is not None:
            add(
                pad(
                    f"  positive_label: {scalar(label.positive_label)}",
                    f"the positive class ({label.positive_reason})",
                )
            )
        elif schema_allows("positive_label"):
            add(pad("  positive_label: null", "unused: the label needs no mapping"))
    else:
        add(pad("  positive_above: null", "unused for " + label.task))
        if schema_allows("positive_label"):
            add(pad("  positive_label: null", "unused for " + label.task))
    if label.task == "multiclass" and schema_allows("classes"):
        shares = ", ".join(f"{c} {s:.0%}" for c, s in zip(label.classes, label.shares, strict=True))
        listed = flow([q(c) for c in label.classes], 2, "  classes: ")
        note = f"label = position here; shares: {shares}"
        add(pad(listed, note) if "\n" not in listed else f"{listed}   # {note}")
    if time is not None:
        add(pad(f"  event_time: {q(time.column)}", "time column: windows, time-ordered split"))
    else:
        add(pad("  event_time: null", "no time column: seeded random split, no windows"))
    add(pad(f"  key: {scalar(draft.key)}", draft.key_reason))
    if time is not None:
        zone_note = (
            "the column's own zone"
            if time.timezone != "UTC"
            else "naive times are read in this zone: set the table's local one"
        )
        add(pad(f"  timezone: {q(time.timezone)}", zone_note))
        add("                             # every window below (and the CV calendar) inherits it")
    else:
        add(pad("  timezone: UTC", "no time column: no window is read"))
    add("")

    # -- extract
    add("extract:")
    add("  source: table")
    if time is not None:
        add(pad("  window:", "rows whose time is in [start, end), read in base.timezone;"))
        add("                             # the ONE place of the windows (YAML anchors carry them)")
        add(pad(f"    start: &data_start {q(time.start)}", "first day in the table"))
        add(pad(f"    end: &data_end {q(time.end)}", "day after the last one"))
    else:
        add(
            pad(
                f"  window: {{start: {q(OPEN_START)}, end: {q(OPEN_END)}}}",
                "unused: no time column, every row is read",
            )
        )
    add("  table:")
    add(pad(f"    path: {q(draft.table)}", "keep it under data/ (the extract stage's dependency)"))
    add("    encoding: utf-8")
    add("")

    # -- validate
    add(
        "validate:                    # great-expectations suite drafted from the table (fails closed)"
    )
    add(flow([q(c) for c in draft.columns], 2, "  columns: ") + "   # exact set, any order")
    add(pad("  dtypes:", "int | float | number (int or float) | str | datetime | bool"))
    for column, kind in draft.dtypes.items():
        add(f"    {q(column)}: {kind}")
    add(
        pad(
            "  not_null:",
            f"share of rows non-null: 1.0 if never null, else observed - {NOT_NULL_MARGIN}",
        )
    )
    for column, (required, observed) in draft.not_null.items():
        note = "" if observed == 1.0 else f"observed {observed:.3f}"
        add(pad(f"    {q(column)}: {share(required)}", note))
    add(
        pad(
            "  ranges:" + ("" if draft.ranges else " {}"),
            f"observed [min, max] widened by {RANGE_MARGIN:.0%} of the span (never below 0 for",
        )
    )
    add(
        "                             # a column never negative); mostly: share of non-null rows inside"
    )
    for column, (low, high, seen_low, seen_high) in draft.ranges.items():
        add(
            pad(
                f"    {q(column)}: {{min: {num(low)}, max: {num(high)}, mostly: {num(RANGE_MOSTLY)}}}",
                f"observed {num(seen_low)} .. {num(seen_high)}",
            )
        )
    add(
        pad(
            "  categories:" + ("" if draft.categories else " {}"),
            f"text columns with <= {MAX_LEVELS} levels; new levels in at most max_new_share",
        )
    )
    for column, levels in draft.categories.items():
        add(f"    {q(column)}:")
        add(flow([q(v) for v in levels], 6, "      values: "))
        add(f"      max_new_share: {num(NEW_LEVEL_SHARE)}")
    add(
        pad(
            f"  rows: {{min: {draft.rows_min}, max: {draft.rows_max}}}",
            f"{ROWS_MIN_SHARE:.0%} .. {ROWS_MAX_FACTOR}x the {draft.n_rows} profiled rows",
        )
    )
    if draft.min_class_share is not None:
        shares = ", ".join(
            f"{c}: {s:.3f}" for c, s in zip(label.classes, label.shares, strict=True)
        )
        add(
            pad(
                f"  min_class_share: {num(draft.min_class_share)}",
                f"half the rarest class ({shares})",
            )
        )
    if time is not None:
        add(pad("  event_time_in_window: true", "base.event_time inside extract.window"))
    else:
        add(pad("  event_time_in_window: false", "no time column"))
    add(pad(f"  unique_key: {'true' if draft.key else 'false'}", "base.key has no duplicates"))
    dup_note = (
        "no two rows equal on all columns but duplicate_rows_ignore"
        if not draft.n_duplicate_rows
        else f"{draft.n_duplicate_rows} duplicated row(s) in the profiled table"
    )
    add(pad(f"  unique_rows: {'false' if draft.n_duplicate_rows else 'true'}", dup_note))
    add(flow([q(c) for c in draft.duplicate_rows_ignore], 2, "  duplicate_rows_ignore: "))
    add("")

    # -- prepare
    add("prepare:")
    if time is not None:
        for line in textwrap.wrap(time.rule, WIDTH - 4):
            add(f"  # {line}")
        add("  train_window: {start: *data_start, end: &cut " + q(time.cut) + "}")
        add("  test_window: {start: *cut, end: *data_end}")
    else:
        add("  # train_window / test_window: unused without base.event_time")
    add(pad(f"  test_size: {num(TEST_SHARE)}", "random split (only without base.event_time)"))
    add(pad("  drop_columns: []", "REVIEW: columns known only after the outcome (leakage)"))
    add("")

    # -- train
    add(
        "train:                       # Optuna search; families and spaces: config/train.py defaults"
    )
    add(pad(f"  metric: {{{q(draft.task_value)}: {draft.primary}}}", "primary metric"))
    add("  budget: {trials: 40, seconds: 60}   # whichever comes first")
    if time is not None:
        add(
            pad(
                f"  cv: {{period: {time.cv_period}, folds: {time.cv_folds}, gap_periods: 0}}",
                f"expanding window; the coarsest period with {time.cv_folds + 1} in the train rows",
            )
        )
    else:
        add(pad("  cv: {folds: 3}", "no time column: contiguous blocks of the train rows"))
    add(
        flow([q(c) for c in draft.exclude_features], 2, "  exclude_columns: ")
        + "   # identifier-like text, columns empty when labelled"
    )
    add("")

    # -- evaluate
    add("evaluate:")
    add(
        pad(
            flow([q(c) for c in draft.slices], 2, "  slices: "),
            f"categorical columns with 2..{SLICE_MAX_LEVELS} levels (at most 3)",
        )
    )
    add("")

    # -- gate
    add("gate:")
    add("  mode: enforce")
    add("  allow_first_model: true    # no champion yet: value bounds only")
    add(
        pad(
            "  values:" + ("" if draft.values else " {}"),
            "the no-skill baseline on the profiled rows: the model must beat it",
        )
    )
    for metric, (side, bound) in draft.values.items():
        add(pad(f"    {metric}: {{{side}: {num(bound.value)}}}", bound.note))
    add("  changes:                   # candidate vs champion on the same test rows; tolerance:")
    for line in textwrap.wrap(draft.change_rule, WIDTH - 6):
        add(f"    # {line}")
    for change in draft.changes:
        parts = [f"metric: {change.metric}"]
        parts.append(f"max_regression_abs: {scalar(change.max_regression_abs)}")
        if change.max_regression_rel is not None:
            parts.append(f"max_regression_rel: {num(change.max_regression_rel)}")
        parts.append(f"bootstrap: {'true' if change.bootstrap else 'false'}")
        add("    - {" + ", ".join(parts) + "}")
    add("  slices:")
    add(flow([q(c) for c in draft.slices], 4, "    columns: ") + "   # as evaluate.slices")
    add(f"    metric: {draft.primary}")
    add(pad(f"    min_rows: {draft.slice_min_rows}", "max(30, 10% of the test rows)"))
    add(
        pad(
            f"    max_regression_abs: {num(draft.slice_tolerance)}", "twice the whole-set tolerance"
        )
    )
    add("  suspicion:                 # 'suspiciously good' is never blessed (README)")
    add("    ceiling: {}              # none until you know what is implausible here,")
    add("                             # e.g. {roc_auc: 0.99}; gain and leakage checks")
    add("                             # keep their defaults")
    add("")

    # -- monitor
    add("monitor:" + ("" if time is not None else "        # new rows: --current-rows FILE"))
    add(flow([q(c) for c in draft.monitor_exclude], 2, "  exclude: ") + "   # key, time, target")
    add(
        pad(
            f"  bins: {draft.monitor_bins}",
            f"PSI noise under half its 0.2 threshold on ~{draft.n_test} held-out rows",
        )
    )
    if time is not None:
        add(pad("  current: {start: *cut, end: *data_end}", "the test window"))
    add("  trigger:")
    add(pad(f"    decay: {num(draft.decay)}", f"primary metric drop: {draft.decay_rule}"))
    add("")
    add("export:")
    add("  input_example_rows: 5")
    add("  parity_rows: 200")
    add("")
    add("registry:")
    add("  experiment: registry       # runs that carry the registered model artifacts")
    add("")
    add("# replay: the bundled flights' month-by-month replay; not drafted for this table.")
    return "\n".join(out) + "\n"
