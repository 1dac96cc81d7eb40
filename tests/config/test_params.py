from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from retrain.config import load_params, params_hash, parse_params
from retrain.errors import UserError


def test_project_params_load(project_root: Path) -> None:
    params = load_params(project_root / "params.yaml")
    assert params.base.task in {"classification", "regression"}


def test_params_are_frozen(project_root: Path) -> None:
    params = load_params(project_root / "params.yaml")
    with pytest.raises(ValidationError):
        params.base.seed = 1  # type: ignore[misc]


def test_unknown_key_names_key_section_and_allowed() -> None:
    with pytest.raises(UserError) as err:
        parse_params({"base": {"sed": 1}})
    text = str(err.value)
    assert "unknown key 'sed'" in text
    assert "section 'base'" in text
    assert "did you mean 'seed'" in text
    assert "allowed keys: seed" in text


def test_unknown_section() -> None:
    with pytest.raises(UserError, match="unknown key 'trian' in section '\\(top level\\)'"):
        parse_params({"trian": {}})


def test_wrong_literal_lists_allowed_values() -> None:
    with pytest.raises(
        UserError, match="'base.task'.*'classification', 'multiclass' or 'regression'"
    ):
        parse_params({"base": {"task": "clf"}})


def test_wrong_type() -> None:
    with pytest.raises(UserError, match="'base.seed'"):
        parse_params({"base": {"seed": "forty-two"}})


def test_not_a_mapping() -> None:
    with pytest.raises(UserError, match="expected a mapping"):
        parse_params(["base"])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(path)


def test_params_hash_changes_with_values() -> None:
    a = parse_params({"base": {"seed": 1}})
    b = parse_params({"base": {"seed": 2}})
    assert params_hash(a) != params_hash(b)
    assert params_hash(a) == params_hash(parse_params({"base": {"seed": 1}}))


def test_nested_unknown_key_lists_allowed_keys() -> None:
    with pytest.raises(UserError) as err:
        parse_params({"validate": {"ranges": {"temp": {"mini": 1}}}})
    assert "section 'validate.ranges.temp' (did you mean 'min'?)" in str(err.value)
    assert "allowed keys: min, max, mostly" in str(err.value)


def test_project_params_have_only_types_dvc_accepts(project_root: Path) -> None:
    # DVC refuses YAML dates (`Unsupported value of type 'date'`): dates must be quoted strings.
    import datetime

    import yaml

    def walk(node: object, path: str) -> None:
        assert not isinstance(node, datetime.date), f"{path}: quote the date in params.yaml"
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(yaml.safe_load((project_root / "params.yaml").read_text()), "params")
