"""retrain.loosening: every way to weaken the gate or the data contract is named; tightening
and unrelated changes are not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from retrain.config import parse_params
from retrain.loosening import compare

MAIN: dict[str, Any] = {
    "gate": {
        "mode": "enforce",
        "allow_first_model": False,
        "values": {"roc_auc": {"min": 0.65}, "log_loss": {"max": 0.6}},
        "changes": [
            {"metric": "roc_auc", "max_regression_abs": 0.005, "max_regression_rel": 0.01},
            {"metric": "log_loss", "max_regression_abs": 0.01, "bootstrap": False},
        ],
        "bootstrap": {"resamples": 1000, "confidence": 0.95},
        "slices": {"columns": ["origin", "carrier"], "min_rows": 1000},
    },
    "prepare": {"test_size": 0.2, "drop_columns": ["arr_delay", "dep_delay"]},
    "validate": {
        "columns": ["a", "b"],
        "not_null": {"a": 1.0},
        "ranges": {"a": {"min": 0, "max": 10}},
        "categories": {"b": {"values": ["x"], "max_new_share": 0.0}},
        "rows": {"min": 100, "max": 1000},
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MAIN)
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("gate.mode", "dry_run", "gate.mode: enforce → dry_run"),
        ("gate.allow_first_model", True, "gate.allow_first_model: false → true"),
        ("gate.values.roc_auc", {"min": 0.0}, "gate.values.roc_auc.min: 0.65 → 0 (lower floor)"),
        ("gate.values.log_loss", _DELETE, "gate.values.log_loss: removed"),
        ("gate.changes", [], "gate.changes[roc_auc]: removed"),
        (
            "gate.changes",
            [{"metric": "roc_auc", "max_regression_abs": 0.05, "max_regression_rel": 0.01}],
            "gate.changes[roc_auc].max_regression_abs: 0.005 → 0.05",
        ),
        ("gate.bootstrap.resamples", 100, "gate.bootstrap.resamples: 1000 → 100"),
        ("gate.bootstrap.confidence", 0.6, "gate.bootstrap.confidence: 0.95 → 0.6"),
        ("gate.slices.columns", ["origin"], "gate.slices.columns: carrier removed"),
        ("gate.suspicion", {"enabled": False}, "gate.suspicion.enabled: true → false"),
        ("gate.suspicion", {"leakage": {"enabled": False}}, "gate.suspicion.leakage.enabled"),
        ("gate.suspicion", {"max_gain": {}}, "gate.suspicion.max_gain.roc_auc: 0.05 → none"),
        ("gate.suspicion", {"ceiling": {"roc_auc": 1.0}}, "gate.suspicion.ceiling.roc_auc"),
        (
            "gate.suspicion",
            {"override": {"candidate_sha256": "ab" * 32, "reason": "reviewed in #12, real gain"}},
            "gate.suspicion.override: added for candidate abababababab",
        ),
        ("prepare.test_size", 0.45, "prepare.test_size: 0.2 → 0.45"),
        ("prepare.drop_columns", ["arr_delay"], "dep_delay no longer dropped"),
        ("validate.columns", None, "validate.columns: removed"),
        ("validate.not_null", {"a": 0.5}, "validate.not_null.a: 1 → 0.5 (more nulls)"),
        ("validate.ranges", {"a": {"min": 0, "max": 1e9}}, "validate.ranges.a.max"),
        ("validate.rows", {"min": 1, "max": 1000}, "validate.rows.min: 100 → 1"),
        ("validate.unique_key", False, "validate.unique_key: true → false"),
    ],
)
def test_each_loosening_is_named(path: str, value: Any, named: str) -> None:
    # given main's params and a run that weakens one rule
    old, new = parse_params(MAIN), parse_params(_with(path, value))
    # when they are compared
    loosened, _ = compare(old, new)
    # then that rule is named (and nothing is when comparing main with itself)
    assert any(named in item for item in loosened), loosened
    assert compare(old, old) == ([], [])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("gate.values.roc_auc", {"min": 0.7}),  # a higher floor
        ("gate.bootstrap.resamples", 5000),
        ("gate.slices.columns", ["origin", "carrier", "dest"]),
        ("gate.suspicion", {"max_gain": {"roc_auc": 0.02, "roc_auc_ovr": 0.05, "r2": 0.1}}),
        ("gate.changes", [{"metric": "roc_auc"}, {"metric": "log_loss"}]),  # no regression at all
        ("validate.ranges", {"a": {"min": 1, "max": 9}}),
        ("base", {"seed": 7}),
    ],
)
def test_tightening_or_unrelated_changes_are_not_loosenings(path: str, value: Any) -> None:
    loosened, _ = compare(parse_params(MAIN), parse_params(_with(path, value)))
    assert loosened == []


def test_other_safety_relevant_changes_are_listed_apart() -> None:
    new = _with("train", {"metric": {"classification": "pr_auc"}})
    new["prepare"]["test_window"] = {"start": "2013-11-01", "end": "2014-01-01"}
    new["prepare"]["train_window"] = {"start": "2013-01-01", "end": "2013-11-01"}
    loosened, changed = compare(parse_params(MAIN), parse_params(new))
    assert "train.metric.classification: roc_auc → pr_auc" in changed
    assert (
        "prepare.test_window: 2013-10-01..2014-01-01 (92 days) → 2013-11-01..2014-01-01 (61 days)"
        in changed
    )
    assert loosened == []  # a moved window is listed, not flagged: every dispatch moves it
