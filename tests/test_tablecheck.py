"""Params against the table before any training: every bad form named with its key; a params
file that fits passes; the extract stage writes nothing when it does not fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from retrain.cli import main
from retrain.config import parse_params
from retrain.errors import UserError
from retrain.tablecheck import check_params_against_table


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "when": pd.date_range("2021-01-01", periods=8, freq="7D", tz="UTC"),
            "shop": ["a", "b"] * 4,
            "price": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "verdict": ["good", "bad"] * 4,
        }
    )


def fitting(**overrides: dict[str, Any]) -> dict[str, Any]:
    """Params that fit table(): a binary classifier of `verdict`."""
    raw: dict[str, Any] = {
        "base": {"target": "verdict", "positive_label": "good", "positive_above": None,
                 "key": None, "event_time": "when"},
        "extract": {"source": "table", "table": {"path": "t.csv"},
                    "window": {"start": "2021-01-01", "end": "2021-03-01"}},
        "prepare": {"drop_columns": [],
                    "train_window": {"start": "2021-01-01", "end": "2021-02-01"},
                    "test_window": {"start": "2021-02-01", "end": "2021-03-01"}},
        "evaluate": {"slices": ["shop"]},
        "gate": {"slices": {"columns": ["shop"]}},
        "monitor": {"exclude": ["when"], "features": ["price"]},
    }  # fmt: skip
    for section, values in overrides.items():
        raw[section] = {**raw.get(section, {}), **values}
    return raw


def test_params_that_fit_the_table_pass() -> None:
    check_params_against_table(parse_params(fitting()), table())


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"evaluate": {"slices": ["carrier", "origin"]}}, "evaluate.slices names 'carrier', 'origin'"),
        ({"gate": {"slices": {"columns": ["origin"]}}}, "gate.slices.columns names 'origin'"),
        ({"prepare": {"drop_columns": ["arr_delay"]}}, "prepare.drop_columns names 'arr_delay'"),
        ({"monitor": {"features": ["temp"]}}, "monitor.features names 'temp'"),
        ({"monitor": {"exclude": ["flight_id"]}}, "monitor.exclude names 'flight_id'"),
        ({"train": {"exclude_columns": ["tailnum"]}}, "train.exclude_columns names 'tailnum'"),
        ({"base": {"key": "id"}}, "base.key names 'id'"),
        ({"base": {"event_time": "date"}}, "base.event_time names 'date'"),
        ({"base": {"positive_label": "yes"}}, "base.positive_label 'yes' is not a value"),
        ({"base": {"positive_label": True}}, "quote it"),
        ({"base": {"positive_label": None}}, "holds text"),
        (
            {"base": {"task": "regression", "positive_label": None}, "gate": {"slices": {"columns": []}}},
            "not numeric",
        ),
        (
            {"prepare": {"test_window": {"start": "2022-01-01", "end": "2022-02-01"}}},
            "prepare.test_window 2022-01-01..2022-02-01 (UTC) holds no row",
        ),
    ],
    ids=["evaluate-slices", "gate-slices", "drop", "monitor-features", "monitor-exclude",
         "train-exclude", "key", "time", "label-unknown", "label-yaml-bool", "text-no-label",
         "text-regression", "window-empty"],
)  # fmt: skip
def test_each_mismatch_is_named_with_its_key(overrides: dict, named: str) -> None:
    params = parse_params(fitting(**overrides))
    with pytest.raises(UserError) as err:
        check_params_against_table(params, table())
    assert named in str(err.value) and "fix:" in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    params = parse_params(
        fitting(evaluate={"slices": ["carrier"]}, gate={"slices": {"columns": ["origin"]}})
    )
    with pytest.raises(UserError) as err:
        check_params_against_table(params, table())
    assert "evaluate.slices" in str(err.value) and "gate.slices.columns" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (
            {"base": {"task": "regression"}, "gate": {"values": {"roc_auc": {"min": 0.6}}}},
            "gate.values.roc_auc: 'roc_auc'",
        ),
        (
            {"base": {"task": "regression"},
             "gate": {"changes": [{"metric": "log_loss", "max_regression_abs": 0.01}]}},
            "gate.changes[0].metric: 'log_loss'",
        ),
        (
            {"base": {"task": "regression"}, "gate": {"slices": {"columns": ["shop"]}}},
            "gate.slices.metric: 'roc_auc'",
        ),
        ({"base": {"positive_label": "good"}}, "positive_label and positive_above both set"),
        ({"monitor": {"trigger": {"decay": 0.1, "decay_relative": 0.1}}}, "not both"),
    ],
    ids=["value-metric", "change-metric", "slice-metric", "two-label-rules", "two-decays"],
)  # fmt: skip
def test_metrics_of_another_task_fail_at_params_load(raw: dict, named: str) -> None:
    with pytest.raises(UserError, match="invalid") as err:
        parse_params(raw)
    assert named in str(err.value)


def test_metrics_of_the_task_load() -> None:
    params = parse_params(
        {"base": {"task": "regression"}, "gate": {"values": {"rmse": {"max": 9.0}}}}
    )
    assert "rmse" in params.gate.values


def test_extract_writes_nothing_when_params_do_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a user table and params still naming the flights' slice columns
    monkeypatch.chdir(tmp_path)
    table().to_csv("t.csv", index=False)
    Path("params.yaml").write_text(
        yaml.safe_dump(fitting(evaluate={"slices": ["carrier", "origin"]}))
    )
    # when extract runs
    code = main(["extract", "--out", "build/features.parquet"])
    # then it fails naming the key, and nothing is written
    assert code == 2
    assert "evaluate.slices names 'carrier', 'origin'" in capsys.readouterr().err
    assert not Path("build").exists()
    # and with params that fit it writes the features (with a derived row_id)
    Path("params.yaml").write_text(yaml.safe_dump(fitting()))
    assert main(["extract", "--out", "build/features.parquet"]) == 0
    assert "row_id" in pd.read_parquet("build/features.parquet").columns


def test_multiclass_without_its_classes_is_refused_at_params_load() -> None:
    with pytest.raises(UserError, match="task multiclass needs `classes`"):
        parse_params({"base": {"task": "multiclass"}})


def test_three_text_classes_without_positive_label_name_the_limit() -> None:
    frame = table().assign(verdict=["good", "bad", "ugly", "good"] * 2)
    params = parse_params(fitting(base={"positive_label": None}))
    with pytest.raises(
        UserError, match="more than two classes set base.task: multiclass and base.classes"
    ):
        check_params_against_table(params, frame)
