"""validate stage: the real great-expectations suite from the project's params.yaml.

Every bad frame is derived in code from one small good fixture (real extract rows), so each
test shows the validator rejecting exactly one kind of damage and naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retrain.cli import main as retrain_main
from retrain.config import Params, load_params, parse_params
from retrain.errors import UserError
from retrain.stages.validate import write_outputs
from retrain.validation import (
    ValidationReport,
    failure_message,
    render_summary,
    validate_features,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def good_path() -> Path:
    return ROOT / "tests" / "fixtures" / "validate" / "features_small.parquet"


@pytest.fixture
def good(good_path: Path) -> pd.DataFrame:
    return pd.read_parquet(good_path)


def with_changes(params: Params, section: str, **changes: Any) -> Params:
    raw = params.model_dump(mode="json", by_alias=True)
    raw[section].update(changes)
    return parse_params(raw)


def rejected(frame: pd.DataFrame, params: Params) -> tuple[ValidationReport, str]:
    report = validate_features(frame, params)
    assert not report.success
    return report, failure_message(report)


def failed_checks(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(c.expectation, c.column) for c in report.failures}


# ---------------------------------------------------------------------------- good data


def test_good_fixture_passes_the_shipped_suite(good: pd.DataFrame, params: Params) -> None:
    report = validate_features(good, params)
    assert report.success, failure_message(report)
    assert report.n_rows == len(good) == 120
    kinds = {c.expectation for c in report.checks}
    # The suite really holds each family of checks the params ask for.
    assert {
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_column_dtype_kind_to_be",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_to_exist",
    } <= kinds
    section = params.validate_
    assert len(report.checks) >= len(section.dtypes) + len(section.not_null) + len(section.ranges)


# Runs the whole command in a fresh interpreter whose sockets and DNS refuse and record
# every use, so GX's import, context and validation are all covered.
NO_NETWORK = """
import socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:] or args)[:80])
    raise OSError("network disabled in this test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse
from retrain.cli import main
code = main(sys.argv[1:])
print("ATTEMPTS", attempts)
sys.exit(code)
"""


@pytest.mark.integration
def test_no_network_use(good_path: Path, tmp_path: Path) -> None:
    argv = ["validate", "--features", str(good_path), "--out", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "GX_ANALYTICS_ENABLED"}  # CLI sets it
    # A script file, as the `retrain` entry point is: with pyspark installed (team extras), GX
    # imports it, and pyspark exits 0 at import when __main__ has no __file__ (`python -c`).
    script = tmp_path / "no_network.py"
    script.write_text(NO_NETWORK)
    done = subprocess.run(
        [sys.executable, str(script), *argv, "--params", str(ROOT / "params.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "ATTEMPTS []" in done.stdout, done.stdout


# ---------------------------------------------------------------------------- bad data


def test_renamed_column(good: pd.DataFrame, params: Params) -> None:
    report, message = rejected(good.rename(columns={"carrier": "carrier_code"}), params)
    assert "expect_table_columns_to_match_set" in message
    assert "missing: carrier" in message and "unexpected: carrier_code" in message
    # The checks on the old name fail too, each naming it.
    assert ("expect_column_values_to_be_in_set", "carrier") in failed_checks(report)


def test_dropped_column(good: pd.DataFrame, params: Params) -> None:
    report, message = rejected(good.drop(columns=["temp"]), params)
    assert "missing: temp" in message
    assert ("expect_column_dtype_kind_to_be", "temp") in failed_checks(report)
    assert "column missing" in message


def test_all_null_column(good: pd.DataFrame, params: Params) -> None:
    bad = good.assign(humid=np.nan)
    report, message = rejected(bad, params)
    assert failed_checks(report) == {("expect_column_values_to_not_be_null", "humid")}
    assert "expect_column_values_to_not_be_null(humid)" in message
    assert "120 of 120 rows fail" in message


def test_numbers_stored_as_strings(good: pd.DataFrame, params: Params) -> None:
    bad = good.assign(distance=good["distance"].astype(str), month=good["month"].astype(str))
    report, message = rejected(bad, params)
    assert ("expect_column_dtype_kind_to_be", "distance") in failed_checks(report)
    assert ("expect_column_dtype_kind_to_be", "month") in failed_checks(report)
    assert "`distance` dtype is number; observed object" in message


def test_new_category_level_above_share(good: pd.DataFrame, params: Params) -> None:
    bad = good.copy()
    bad.loc[bad.index[:12], "carrier"] = "ZZ"  # 10 % of rows, allowed ≤ 0.1 %
    report, message = rejected(bad, params)
    assert failed_checks(report) == {("expect_column_values_to_be_in_set", "carrier")}
    assert "12 of 120 rows fail" in message and "e.g. ZZ" in message


def test_new_level_share_is_a_threshold(good: pd.DataFrame, params: Params) -> None:
    # dest allows new levels in ≤ 1 % of rows: 1 of 120 rows (0.83 %) passes, 2 (1.7 %) fail.
    assert params.validate_.categories["dest"].max_new_share == 0.01
    one = good.copy()
    one.loc[one.index[0], "dest"] = "NEW"
    assert validate_features(one, params).success
    two = good.copy()
    two.loc[two.index[:2], "dest"] = "NEW"
    report, _ = rejected(two, params)
    assert failed_checks(report) == {("expect_column_values_to_be_in_set", "dest")}


def test_empty_batch(good: pd.DataFrame, params: Params) -> None:
    report, message = rejected(good.iloc[0:0], params)
    assert ("expect_table_row_count_to_be_between", None) in failed_checks(report)
    assert "row count in [100," in message and "observed 0" in message


def test_single_class_target(good: pd.DataFrame, params: Params) -> None:
    bad = good.assign(arr_delay=good["arr_delay"].clip(upper=10))
    report, message = rejected(bad, params)
    assert failed_checks(report) == {("expect_column_values_to_be_between", "arr_delay")}
    assert "positive class (`arr_delay` > 15)" in message


def test_class_checks_only_for_classification(good: pd.DataFrame, params: Params) -> None:
    single_class = good.assign(arr_delay=good["arr_delay"].clip(upper=10))
    no_rules = with_changes(params, "gate", values={}, changes=[], slices={"columns": []})
    regression = with_changes(no_rules, "base", task="regression")
    report = validate_features(single_class, regression)
    assert report.success, failure_message(report)


def test_zero_one_target_when_positive_above_is_null(good: pd.DataFrame, params: Params) -> None:
    labels = with_changes(params, "base", positive_above=None)
    zero_one = good.assign(arr_delay=(good["arr_delay"] > 15).astype(float))
    assert validate_features(zero_one, labels).success
    _, message = rejected(zero_one.assign(arr_delay=0.0), labels)
    assert "positive class (`arr_delay` = 1)" in message
    report, _ = rejected(zero_one.assign(arr_delay=zero_one["arr_delay"] * 2), labels)
    assert ("expect_column_values_to_be_in_set", "arr_delay") in failed_checks(report)


def test_timestamps_outside_window(good: pd.DataFrame, params: Params) -> None:
    bad = good.copy()
    december = bad.index[bad["month"] == 12][:3]
    bad.loc[december, "event_time"] += pd.Timedelta(days=31)  # into January 2014
    report, message = rejected(bad, params)
    assert failed_checks(report) == {("expect_column_values_to_be_between", "event_time")}
    assert "inside extract.window 2013-01-01..2014-01-01" in message
    assert "2014-01" in message


def test_window_comes_from_extract_params(good: pd.DataFrame, params: Params) -> None:
    narrow = with_changes(
        params,
        "extract",
        window={"start": "2013-01-01", "end": "2013-07-01", "timezone": "America/New_York"},
    )
    report, message = rejected(good, narrow)
    assert failed_checks(report) == {("expect_column_values_to_be_between", "event_time")}
    assert "60 of 120 rows fail" in message


def test_duplicated_rows_under_new_keys(good: pd.DataFrame, params: Params) -> None:
    copies = good.iloc[:3].assign(flight_id=good["flight_id"].max() + 1 + np.arange(3))
    report, message = rejected(pd.concat([good, copies], ignore_index=True), params)
    assert failed_checks(report) == {("expect_compound_columns_to_be_unique", None)}
    assert "no duplicated rows" in message and "6 of 123 rows fail" in message


def test_a_few_duplicates_pass_within_the_tolerance_and_the_message_names_it(
    good: pd.DataFrame, params: Params
) -> None:
    # given 3 duplicated rows (6 of 123 rows are members of a duplicate pair)
    copies = good.iloc[:3].assign(flight_id=good["flight_id"].max() + 1 + np.arange(3))
    doubled = pd.concat([good, copies], ignore_index=True)
    # when the tolerance is below their share it fails, naming the key to change
    _, message = rejected(doubled, with_changes(params, "validate", duplicate_rows_max_share=0.02))
    assert "validate.duplicate_rows_max_share" in message
    # and at or above it the batch passes
    tolerant = with_changes(params, "validate", duplicate_rows_max_share=0.05)
    assert validate_features(doubled, tolerant).success


def test_duplicate_keys(good: pd.DataFrame, params: Params) -> None:
    bad = good.copy()
    bad.loc[bad.index[1], "flight_id"] = bad["flight_id"].iloc[0]
    report, message = rejected(bad, params)
    assert failed_checks(report) == {("expect_column_values_to_be_unique", "flight_id")}
    assert f"e.g. {bad['flight_id'].iloc[0]}" in message


def test_value_out_of_range(good: pd.DataFrame, params: Params) -> None:
    bad = good.copy()
    bad.loc[bad.index[:2], "humid"] = 150.0
    report, message = rejected(bad, params)
    assert failed_checks(report) == {("expect_column_values_to_be_between", "humid")}
    assert "e.g. 150" in message


# ---------------------------------------------------------------------------- params


def test_unknown_key_in_section_is_named() -> None:
    with pytest.raises(UserError) as err:
        parse_params({"validate": {"colums": ["a"]}})
    text = str(err.value)
    assert "unknown key 'colums' in section 'validate'" in text
    assert "did you mean 'columns'" in text


def test_unknown_key_in_nested_range_is_named() -> None:
    with pytest.raises(UserError, match="unknown key 'mini' in section 'validate.ranges.temp'"):
        parse_params({"validate": {"ranges": {"temp": {"mini": 0}}}})


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"not_null": {"temp": 1.5}}, "'validate.not_null.temp'"),
        ({"ranges": {"temp": {"min": 5, "max": 1}}}, "range min 5.0 is above max 1.0"),
        ({"ranges": {"temp": {"mostly": 0.5}}}, "a range needs `min`, `max` or both"),
        ({"dtypes": {"temp": "decimal"}}, "'validate.dtypes.temp'"),
        ({"categories": {"carrier": {"values": []}}}, "'validate.categories.carrier.values'"),
        ({"rows": {"min": 10, "max": 5}}, "rows.min 10 is above rows.max 5"),
        ({"min_class_share": 0.7}, "'validate.min_class_share'"),
    ],
)
def test_bad_values_are_named(section: dict[str, Any], needle: str) -> None:
    with pytest.raises(UserError) as err:
        parse_params({"validate": section})
    assert needle in str(err.value)


def test_column_not_declared_is_named(good: pd.DataFrame, params: Params) -> None:
    bad = with_changes(params, "validate", ranges={"tmep": {"min": 0, "max": 1}})
    with pytest.raises(UserError, match=r"validate\.ranges names column 'tmep'"):
        validate_features(good, bad)
    bad_base = with_changes(params, "base", key="flight")
    with pytest.raises(UserError, match=r"base\.key names column 'flight'"):
        validate_features(good, bad_base)


# ---------------------------------------------------------------------------- outputs / CLI


def test_summary_lists_failures_then_passing_count(
    good: pd.DataFrame, params: Params, tmp_path: Path
) -> None:
    report, _ = rejected(good.assign(humid=np.nan), params)
    write_outputs(report, tmp_path)
    summary = (tmp_path / "summary.md").read_text()
    assert summary == render_summary(report)
    assert "## Data validation FAILED" in summary
    assert "| expect_column_values_to_not_be_null | humid |" in summary
    assert f"{len(report.checks) - 1} expectation(s) passed." in summary
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["schema"] == 1 and result["success"] is False and result["n_rows"] == 120
    (failure,) = [c for c in result["checks"] if not c["success"]]
    assert failure["column"] == "humid"
    assert failure["observed"]["unexpected_count"] == 120
    assert failure["expected"]["mostly"] == params.validate_.not_null["humid"]
    assert set(failure) >= {"expectation", "column", "success", "observed", "expected"}


def run_cli(*argv: str) -> int:
    return retrain_main(["validate", *argv])


def test_cli_bad_file_exits_1_and_writes_failed_result(
    good: pd.DataFrame, project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = tmp_path / "features.parquet"
    good.rename(columns={"dest": "destination"}).to_parquet(features, index=False)
    out = tmp_path / "validation"
    code = run_cli(
        "--features",
        str(features),
        "--out",
        str(out),
        "--params",
        str(project_root / "params.yaml"),
    )
    assert code == 1
    result = json.loads((out / "result.json").read_text())
    assert result["success"] is False
    assert (out / "summary.md").is_file()
    err = capsys.readouterr().err
    assert "retrain validate: error: data validation failed" in err
    assert "missing: dest; unexpected: destination" in err
    assert not list(out.glob(".*.tmp"))  # no temp file left behind


def test_cli_good_file_exits_0(good_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "validation"
    argv = ("--features", str(good_path), "--out", str(out), "--params", str(ROOT / "params.yaml"))
    assert run_cli(*argv) == 0
    first = (out / "result.json").read_bytes()
    assert json.loads(first)["success"] is True
    # Same data and params, same bytes: DVC does not re-run prepare for nothing.
    assert run_cli(*argv) == 0
    assert (out / "result.json").read_bytes() == first


@pytest.mark.parametrize("content", [None, b"not a parquet file\n"])
def test_cli_missing_or_unreadable_features_is_a_user_error(
    content: bytes | None, project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = tmp_path / "features.parquet"
    if content is not None:
        features.write_bytes(content)
    out = tmp_path / "validation"
    out.mkdir()
    (out / "result.json").write_text('{"schema": 1, "success": true}')  # stale pass
    code = run_cli(
        "--features",
        str(features),
        "--out",
        str(out),
        "--params",
        str(project_root / "params.yaml"),
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(features) in err and "fix:" in err
    assert not (out / "result.json").exists()  # a stale pass never survives a failed run
