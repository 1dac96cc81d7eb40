"""One source of each default: the bundled params.yaml agrees with the section models' defaults
except for an explicit list of flights-specific overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from retrain.config import Params, load_params

# Keys the bundled params.yaml sets to a value other than the model's default, on purpose: they
# describe the bundled 2013 NYC flights, while the code default is the generic choice. Anything
# else params.yaml sets must equal the default (change the default in src/retrain/config/ instead).
FLIGHTS_OVERRIDES: dict[str, str] = {
    # The NYC airports' local clock (the flights are scheduled in it); generic default: UTC.
    "base.timezone": "flights are scheduled in New York local time",
    # The flights' data contract; generic default: no expectations beyond the base roles.
    "validate.columns": "the flights feature table's exact column set",
    "validate.dtypes": "the flights columns' types",
    "validate.not_null": "measured null shares of the 2013 flights",
    "validate.ranges": "physical ranges of the flights columns",
    "validate.categories": "carriers, airports, engines seen in 2013",
    "validate.rows.min": "a flights batch smaller than this is a broken extract",
    "validate.rows.max": "a year of NYC flights is ~340k rows",
    "validate.duplicate_rows_ignore": "flight_id is a generated row id",
    # The flights' release policy; generic default: no value/change rules, no slices.
    "gate.values": "ROC AUC floor and log-loss ceiling for the delay classifier",
    "gate.changes": "roc_auc / log_loss non-inferiority vs the champion",
    "gate.slices.columns": "origin airport and carrier columns of the flights",
    # The flights' columns; generic default: none (a column named here must exist in the table).
    "evaluate.slices": "carrier and origin levels get their own metrics",
    "prepare.drop_columns": "delays and times known only after departure (leakage)",
    "monitor.exclude": "flights outcome columns, month and tailnum are never monitored",
}


def _field(model: BaseModel, key: str) -> str:
    """Field name of a params key (`validate` is the alias of `validate_`)."""
    for name, info in type(model).model_fields.items():
        if key in (name, info.alias):
            return name
    raise AssertionError(f"{key!r} is not a field of {type(model).__name__}")


def _set_keys(raw: dict[str, Any], loaded: BaseModel, default: BaseModel, prefix: str = ""):
    """(dotted key, loaded value, default value) for every leaf key the YAML sets.

    Recurses into sections (models); a dict or list of user keys (e.g. validate.ranges,
    train.families) is one value, compared as a whole.
    """
    for key, value in raw.items():
        name = _field(loaded, key)
        here, there = getattr(loaded, name), getattr(default, name)
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and isinstance(here, BaseModel):
            yield from _set_keys(value, here, there, f"{dotted}.")
        else:
            yield dotted, here, there


@pytest.fixture(scope="module")
def bundled() -> tuple[dict[str, Any], Params]:
    path = Path(__file__).resolve().parents[2] / "params.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")), load_params(path)


def test_bundled_params_agree_with_the_code_defaults(bundled) -> None:
    # given the bundled params.yaml and the models' defaults
    raw, loaded = bundled
    # when every key it sets is compared with the default
    differ = {k: (v, d) for k, v, d in _set_keys(raw, loaded, Params()) if v != d}
    # then only the deliberate flights overrides differ
    unexpected = {k: v for k, v in differ.items() if k not in FLIGHTS_OVERRIDES}
    assert not unexpected, (
        "params.yaml and the code defaults disagree (key: (params.yaml, default)); change the "
        f"default in src/retrain/config/ or add a commented FLIGHTS_OVERRIDES entry: {unexpected}"
    )


def test_every_allowed_override_is_set_and_differs(bundled) -> None:
    raw, loaded = bundled
    values = {k: (v, d) for k, v, d in _set_keys(raw, loaded, Params())}
    for key in FLIGHTS_OVERRIDES:
        assert key in values, f"{key} is allow-listed but not set in params.yaml"
        here, default = values[key]
        assert here != default, f"{key} equals its default now: drop it from FLIGHTS_OVERRIDES"


def test_bundled_params_set_the_timezone_once(bundled) -> None:
    raw, loaded = bundled

    def zones(node: Any, path: str) -> list[str]:
        found = [path] if isinstance(node, dict) and "timezone" in node else []
        for key, value in node.items() if isinstance(node, dict) else ():
            found += zones(value, f"{path}.{key}" if path else key)
        return found

    assert zones(raw, "") == ["base"]
    # and every window and calendar still reads the flights' clock
    ny = "America/New_York"
    assert loaded.base.timezone == ny
    assert loaded.extract.window.timezone == ny
    assert loaded.prepare.train_window.timezone == ny
    assert loaded.prepare.test_window.timezone == ny
    assert loaded.monitor.current.timezone == ny
    assert loaded.train.timezone == ny
    assert loaded.replay.timezone == ny
