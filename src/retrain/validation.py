"""Validation of the extracted features with a great-expectations suite built from params.yaml (pure; the validate stage writes the result)."""

from __future__ import annotations

import functools
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from retrain.artifacts import ValidationCheck, ValidationResult
from retrain.config.base import ROW_ID
from retrain.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from retrain.config import Params

log = logging.getLogger("retrain.validate")


SCHEMA = 1


RESULT_FILE = "result.json"


SUMMARY_FILE = "summary.md"


# Distinct offending values shown per failing expectation (enough to name a new level).
N_EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    """One expectation's outcome, as written to result.json."""

    expectation: str
    column: str | None
    success: bool
    observed: Any
    expected: dict[str, Any]
    description: str


@dataclass(frozen=True)
class ValidationReport:
    success: bool
    n_rows: int
    checks: list[Check]
    elapsed_s: float

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.success]

    def result(self) -> ValidationResult:
        # No timings: the same data and params give the same bytes, so prepare (which depends
        # on this file) is not re-run by DVC when nothing changed.
        return ValidationResult(
            success=self.success,
            n_rows=self.n_rows,
            n_checks=len(self.checks),
            n_failed=len(self.failures),
            checks=[ValidationCheck(**asdict(c)) for c in self.checks],
        )


def check_params(params: Params) -> None:
    """Cross-section consistency GX cannot report well: every named column is declared."""
    section, base = params.validate_, params.base
    if section.columns is None:
        return
    declared = set(section.columns)
    if len(declared) != len(section.columns):
        dupes = sorted({c for c in section.columns if section.columns.count(c) > 1})
        raise UserError(
            f"params.yaml validate.columns lists {dupes} more than once",
            "list each column once",
        )
    named: list[tuple[str, str]] = [
        (f"validate.{part}", column)
        for part in ("dtypes", "not_null", "ranges", "categories")
        for column in getattr(section, part)
    ]
    named += [("validate.duplicate_rows_ignore", c) for c in section.duplicate_rows_ignore]
    named += [("base.target", base.target)]
    if base.key is not None:  # the derived row_id is extract's, not the user's to declare
        named.append(("base.key", base.key))
    if base.event_time is not None:
        named.append(("base.event_time", base.event_time))
    for key, column in named:
        if column not in declared:
            raise UserError(
                f"params.yaml {key} names column '{column}', which is not in validate.columns",
                f"add '{column}' to validate.columns or correct the name in {key}",
            )


@functools.cache
def _dtype_expectation() -> type:
    """A GX expectation on a column's pandas dtype *kind*.

    GX's own ExpectColumnValuesToBeInTypeList cannot accept tz-aware datetimes or nullable
    Int64 and checks object columns value by value (slow); this one reads the batch's
    `table.column_types` metric and compares kinds, so `numbers stored as strings` (object
    dtype where int/float is declared) fails in microseconds.
    """
    import pandas as pd
    from great_expectations.expectations.expectation import BatchExpectation

    api = pd.api.types
    kinds = {
        "int": lambda d: api.is_integer_dtype(d) and not api.is_bool_dtype(d),
        "float": api.is_float_dtype,
        "number": lambda d: api.is_numeric_dtype(d) and not api.is_bool_dtype(d),
        "str": lambda d: api.is_object_dtype(d) or api.is_string_dtype(d),
        "datetime": api.is_datetime64_any_dtype,
        "bool": api.is_bool_dtype,
    }

    class ExpectColumnDtypeKindToBe(BatchExpectation):
        """Expect a column's dtype to be of a kind: int, float, number, str, datetime, bool."""

        column: str
        kind: str

        metric_dependencies = ("table.column_types",)
        domain_keys = ("batch_id", "row_condition", "condition_parser")
        success_keys = ("column", "kind")
        args_keys = ("column", "kind")

        def _validate(
            self,
            metrics: dict[str, Any],
            runtime_configuration: dict | None = None,
            execution_engine: Any = None,
        ) -> dict[str, Any]:
            dtypes = {d["name"]: d["type"] for d in metrics["table.column_types"]}
            if self.column not in dtypes:
                return {"success": False, "result": {"observed_value": "column missing"}}
            dtype = dtypes[self.column]
            return {
                "success": bool(kinds[self.kind](dtype)),
                "result": {"observed_value": str(dtype)},
            }

    return ExpectColumnDtypeKindToBe


def _fmt(value: float) -> str:
    return f"{value:g}"


def finite_columns(params: Params, frame: pd.DataFrame) -> list[str]:
    """Columns that must hold only finite numbers: declared float/number columns, ranged
    columns and every float column of the frame (integers cannot hold inf)."""
    import pandas as pd

    section = params.validate_
    declared = [c for c, kind in section.dtypes.items() if kind in ("float", "number")]
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    return list(dict.fromkeys([*declared, *section.ranges, *map(str, floats)]))


def build_expectations(
    params: Params, frame_columns: list[str], finite: list[str] | tuple[str, ...] = ()
) -> list[Any]:
    """GX expectation objects for the `validate` section (plus the base roles it refers to).

    `finite`: columns where inf/-inf fail every row they appear in (`mostly` 1.0, whatever the
    column's range tolerates); NaN counts as null (see `not_null`).
    """
    import great_expectations.expectations as gxe

    section, base = params.validate_, params.base
    dtype_expectation = _dtype_expectation()
    out: list[Any] = []

    if section.columns is not None:
        expected = list(section.columns)
        if base.key is None and ROW_ID not in expected:
            expected.append(ROW_ID)  # extract derives it (base.key null)
        out.append(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=expected,
                exact_match=True,
                description=f"columns are exactly validate.columns ({len(section.columns)})",
            )
        )
    rows = section.rows
    out.append(
        gxe.ExpectTableRowCountToBeBetween(
            min_value=rows.min,
            max_value=rows.max,
            description=f"row count in [{rows.min}, {rows.max if rows.max is not None else '∞'}]",
        )
    )
    out.append(
        gxe.ExpectColumnToExist(column=base.target, description=f"target `{base.target}` present")
    )
    for column, kind in section.dtypes.items():
        out.append(
            dtype_expectation(column=column, kind=kind, description=f"`{column}` dtype is {kind}")
        )
    for column, mostly in section.not_null.items():
        out.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=column,
                mostly=mostly,
                description=f"`{column}` non-null in ≥ {mostly:.1%} of rows",
            )
        )
    for column, bounds in section.ranges.items():
        low = _fmt(bounds.min) if bounds.min is not None else "-∞"
        high = _fmt(bounds.max) if bounds.max is not None else "∞"
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=bounds.min,
                max_value=bounds.max,
                mostly=bounds.mostly,
                description=f"`{column}` in [{low}, {high}] for ≥ {bounds.mostly:.1%} of non-null rows",
            )
        )
    for column in finite:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=-sys.float_info.max,
                max_value=sys.float_info.max,
                mostly=1.0,
                description=f"`{column}` finite: no inf or -inf in any row",
            )
        )
    for column, allowed in section.categories.items():
        out.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=list(allowed.values),
                mostly=1.0 - allowed.max_new_share,
                description=(
                    f"`{column}` in its {len(allowed.values)} known levels; new levels in "
                    f"≤ {allowed.max_new_share:.2%} of non-null rows"
                ),
            )
        )
    if base.task == "classification":
        out += _class_expectations(params)
    if section.event_time_in_window and base.event_time is not None:
        start, end = params.extract.window.bounds_utc()
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=base.event_time,
                min_value=start,
                max_value=end,
                strict_max=True,  # the window is half-open [start, end)
                description=(
                    f"`{base.event_time}` inside extract.window {params.extract.window.label()}"
                ),
            )
        )
    if section.unique_key:
        out.append(
            gxe.ExpectColumnValuesToBeUnique(
                column=base.key_column,
                description=f"key `{base.key_column}` has no duplicates",
            )
        )
    if section.unique_rows:
        compared = [
            c
            for c in (section.columns if section.columns is not None else frame_columns)
            if c not in {*section.duplicate_rows_ignore, ROW_ID if base.key is None else None}
        ]
        share = section.duplicate_rows_max_share
        ignored = ", ".join(section.duplicate_rows_ignore) or "none"
        out.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=compared,
                ignore_row_if="never",
                mostly=1.0 - share,
                description=(
                    f"no duplicated rows (compared on all columns; ignored: {ignored}; "
                    f"tolerated: ≤ {share:.2%} of rows, validate.duplicate_rows_max_share)"
                ),
            )
        )
    return out


def _class_expectations(params: Params) -> list[Any]:
    """Both classes present, each in at least `min_class_share` of the labelled rows.

    The label is `target > positive_above` (or the 0/1 column itself when positive_above is
    null); a share check is a between-expectation with `mostly`, so GX counts it in one pass.
    """
    import great_expectations.expectations as gxe

    base, share = params.base, params.validate_.min_class_share
    target = base.target
    out: list[Any] = []
    if base.positive_label is not None:  # a text/boolean target: the label value vs the rest
        label = base.positive_label
        return [
            gxe.ExpectColumnValuesToBeInSet(
                column=target,
                value_set=[label],
                mostly=share,
                description=f"positive class (`{target}` = {label!r}) in ≥ {share:.1%} of "
                "labelled rows (base.positive_label)",
            ),
            gxe.ExpectColumnValuesToNotBeInSet(
                column=target,
                value_set=[label],
                mostly=share,
                description=f"negative class (`{target}` ≠ {label!r}) in ≥ {share:.1%} of "
                "labelled rows (validate.min_class_share)",
            ),
        ]
    if base.positive_above is None:
        threshold = 0.5
        out.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=target, value_set=[0, 1], description=f"target `{target}` holds 0/1"
            )
        )
        positive, negative = f"`{target}` = 1", f"`{target}` = 0"
    else:
        threshold = base.positive_above
        positive = f"`{target}` > {_fmt(threshold)}"
        negative = f"`{target}` ≤ {_fmt(threshold)}"
    out.append(
        gxe.ExpectColumnValuesToBeBetween(
            column=target,
            min_value=threshold,
            strict_min=True,
            mostly=share,
            description=f"positive class ({positive}) in ≥ {share:.1%} of labelled rows",
        )
    )
    out.append(
        gxe.ExpectColumnValuesToBeBetween(
            column=target,
            max_value=threshold,
            mostly=share,
            description=f"negative class ({negative}) in ≥ {share:.1%} of labelled rows",
        )
    )
    return out


def _jsonable(value: Any) -> Any:
    """Plain JSON values (NaN -> null, timestamps -> ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        if math.isinf(value):  # strict JSON has no Infinity
            return "inf" if value > 0 else "-inf"
        return None if math.isnan(value) else value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    return str(value)


def _observed(result: Any) -> Any:
    """The part of a GX result a reviewer needs, kept small."""
    info = result.exception_info or {}
    # A failed metric reports {"raised_exception", "exception_message", ...} either directly
    # or keyed by metric id.
    infos = [info] if "raised_exception" in info else list(info.values())
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            message = str(item.get("exception_message"))
            return {"error": message.removeprefix("Error: ")}
    res = result.result or {}
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:
        return {
            "missing": sorted(mismatched.get("missing", [])),
            "unexpected": sorted(mismatched.get("unexpected", [])),
        }
    if "observed_value" in res:
        observed = res["observed_value"]
        return sorted(observed) if isinstance(observed, list) else _jsonable(observed)
    if "unexpected_count" in res:
        examples: list[Any] = []
        for value in res.get("partial_unexpected_list") or []:
            value = _jsonable(value)
            if value is not None and value not in examples:
                examples.append(value)
        percent = res.get("unexpected_percent")
        return {
            "element_count": res.get("element_count"),
            "missing_count": res.get("missing_count"),
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": None if percent is None else round(float(percent), 4),
            "examples": examples[:N_EXAMPLES],
        }
    return _jsonable(res)


def _expected(config: Any) -> dict[str, Any]:
    kwargs = {k: v for k, v in config.kwargs.items() if k not in {"batch_id", "column"}}
    return _jsonable(kwargs)


def _batch_groups(frame: pd.DataFrame, expectations: list[Any]) -> dict[str | None, list[Any]]:
    """Column map expectations grouped by their column; None = needs the whole table.

    GX's pandas engine filters the *whole* domain frame by a boolean mask for each map
    metric (nulls dropped, unexpected rows picked), copying every column each time. Giving
    each column's expectations a one-column batch cuts the validation CPU time by about a
    third on the full 2013 table and keeps peak memory down. Table-level expectations, dtype
    checks and anything on a missing column (GX then reports it missing) use the whole frame.
    """
    from great_expectations.expectations.expectation import ColumnMapExpectation

    groups: dict[str | None, list[Any]] = {}
    for expectation in expectations:
        column = getattr(expectation, "column", None)
        per_column = (
            isinstance(expectation, ColumnMapExpectation)
            and isinstance(column, str)
            and column in frame.columns
        )
        groups.setdefault(column if per_column else None, []).append(expectation)
    return groups


def run_expectations(frame: pd.DataFrame, expectations: list[Any]) -> list[Check]:
    """Validate the frame with an ephemeral GX context (in memory: no files, no network)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX pins this module's logger at INFO (a line about a temporary docs directory).
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("features")
        .add_dataframe_asset("features")
        .add_batch_definition_whole_dataframe("whole")
    )
    for index, expectation in enumerate(expectations):
        # GX returns results in its own order; meta.check maps them back to the suite order.
        expectation.meta = {**(expectation.meta or {}), "check": index}
    checks: list[Check | None] = [None] * len(expectations)
    for column, group in _batch_groups(frame, expectations).items():
        data = frame if column is None else frame[[column]]
        batch = batch_definition.get_batch(batch_parameters={"dataframe": data})
        # Passed whole: add_expectation compares each new one with all before it (quadratic).
        suite = gx.ExpectationSuite(name=f"features.{column or 'table'}", expectations=group)
        # BASIC: counts plus up to 20 offending values, enough to name what failed.
        outcome = batch.validate(suite, result_format="BASIC")
        for result in outcome.results:
            config = result.expectation_config
            checks[int(config.meta["check"])] = Check(
                expectation=config.type,
                column=config.kwargs.get("column"),
                success=bool(result.success),
                observed=_observed(result),
                expected=_expected(config),
                description=config.description or config.type,
            )
    missing = [i for i, c in enumerate(checks) if c is None]
    if missing:  # GX dropped an expectation: fail closed rather than report a partial suite
        raise RuntimeError(f"great-expectations returned no result for expectations {missing}")
    return [c for c in checks if c is not None]


def validate_features(frame: pd.DataFrame, params: Params) -> ValidationReport:
    """Run the params-defined suite on the features table. Pure: no files touched."""
    check_params(params)
    expectations = build_expectations(  # imports GX (seconds)
        params, list(frame.columns), finite_columns(params, frame)
    )
    start = time.perf_counter()
    checks = run_expectations(frame, expectations)
    return ValidationReport(
        success=all(c.success for c in checks),
        n_rows=len(frame),
        checks=checks,
        elapsed_s=time.perf_counter() - start,
    )


def describe_observed(check: Check) -> str:
    """One line a reviewer reads: what was seen, against what was needed."""
    observed = check.observed
    if isinstance(observed, dict) and "error" in observed:
        return f"error: {observed['error']}"
    if isinstance(observed, dict) and "missing" in observed:
        parts = [f"{k}: {', '.join(observed[k])}" for k in ("missing", "unexpected") if observed[k]]
        return "; ".join(parts) or "column sets differ"
    if isinstance(observed, dict) and "unexpected_count" in observed:
        count, total = observed["unexpected_count"] or 0, observed["element_count"] or 0
        percent, nulls = observed["unexpected_percent"], observed["missing_count"]
        text = f"{count:,} of {total:,} rows fail"
        if percent is not None and nulls is None:  # not-null checks count every row
            text += f" ({percent:.2f}%)"
        elif percent is not None:  # value checks skip nulls; GX's `mostly` uses this share
            text += f" ({percent:.2f}% of non-null rows" + (f"; {nulls:,} null)" if nulls else ")")
        if observed["examples"]:
            text += ", e.g. " + ", ".join(map(str, observed["examples"]))
        return text
    if isinstance(observed, list):
        return f"{len(observed)} values"
    return str(observed)


def render_summary(report: ValidationReport) -> str:
    """Short markdown for a PR: failing expectations with observed values, then a count."""
    passed = len(report.checks) - len(report.failures)
    verdict = "passed" if report.success else "FAILED"
    lines = [
        f"## Data validation {verdict}",
        "",
        f"{report.n_rows:,} rows · {len(report.checks)} expectations · "
        f"{len(report.failures)} failed · {passed} passed",
        "",
    ]
    if report.failures:
        lines += ["| expectation | column | check | observed |", "|---|---|---|---|"]
        for check in report.failures:
            cells = [
                check.expectation,
                check.column or "",
                check.description,
                describe_observed(check),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    lines.append(f"{passed} expectation(s) passed.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def failure_message(report: ValidationReport) -> str:
    lines = [
        f"data validation failed: {len(report.failures)} of {len(report.checks)} "
        f"expectations on {report.n_rows:,} rows"
    ]
    for check in report.failures:
        where = f"({check.column})" if check.column else ""
        lines.append(
            f"  - {check.expectation}{where}: {check.description}; observed {describe_observed(check)}"
        )
    return "\n".join(lines)
