"""params.yaml against hostile or nonsensical content: YAML bombs, deep nesting, huge files,
YAML 1.1 booleans where text was meant, and out-of-bounds numbers. Each is refused fast with a
message naming the problem (and the key); the bundled params.yaml still loads."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from retrain.cli import main
from retrain.config import load_params, parse_params
from retrain.config.safeyaml import MAX_ALIASES, MAX_BYTES, MAX_DEPTH
from retrain.errors import UserError


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def nested(depth: int) -> str:
    return "base:\n  x: " + "[" * depth + "]" * depth + "\n"


def many_aliases(n: int) -> str:
    return "base: {target: &t arr_delay}\nx: [" + ", ".join(["*t"] * n) + "]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (billion_laughs(), "expands to more than 100,000 YAML nodes"),
        ("base: &a {x: [*a]}\n", "expands to more than"),  # an alias inside its own anchor
        (nested(MAX_DEPTH + 1), f"more than {MAX_DEPTH} levels deep"),
        (nested(5000), "not valid YAML"),  # libyaml's own depth limit
        (many_aliases(MAX_ALIASES + 1), f"more than {MAX_ALIASES} YAML aliases"),
        ("base:\n  seed: 1\n" + "#" * (MAX_BYTES + 1) + "\n", "a params file may have at most"),
    ],
)
def test_hostile_yaml_is_refused_fast(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(UserError, match=message):
        load_params(path)
    assert time.perf_counter() - started < 1.0


def test_yaml_bomb_exits_2_through_the_console_script_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(billion_laughs())
    out = tmp_path / "build" / "features.parquet"
    assert main(["extract", "--out", str(out), "--params", str(path)]) == 2
    assert not out.parent.exists()
    err = capsys.readouterr().err
    assert "alias bomb" in err and "Traceback" not in err


def test_modest_anchors_and_aliases_still_load(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(
        "prepare:\n"
        '  train_window: &train {start: "2013-01-01", end: "2013-10-01"}\n'
        '  test_window: {start: "2013-10-01", end: "2014-01-01"}\n'
        "monitor:\n"
        "  current: *train\n"
    )
    params = load_params(path)
    assert params.monitor.current.end == params.prepare.train_window.end


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"base": {"target": "no"}}, None),  # quoted: fine
        ({"base": {"target": False}}, "base.target"),  # `target: no` unquoted
        ({"evaluate": {"slices": ["carrier", True]}}, "evaluate.slices.1"),
        ({"validate": {"categories": {"x": {"values": ["NO", False]}}}}, "values.1"),
    ],
)
def test_yaml_booleans_where_text_was_meant_say_to_quote(raw: dict[str, Any], key: str) -> None:
    if key is None:
        assert parse_params(raw).base.target == "no"
        return
    with pytest.raises(UserError) as err:
        parse_params(raw)
    assert key in str(err.value) and "quote the value" in str(err.value)


def test_boolean_key_says_to_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base:\n  on: 1\n")
    with pytest.raises(UserError, match="key True in section 'base'.*quote the key"):
        load_params(path)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"prepare": {"test_size": 0.99}}, "prepare.test_size"),
        ({"prepare": {"test_size": 0.0}}, "prepare.test_size"),
        ({"base": {"seed": -1}}, "base.seed"),
        ({"base": {"positive_above": float("nan")}}, "base.positive_above"),
        ({"gate": {"values": {"roc_auc": {"min": float("nan")}}}}, "gate.values.roc_auc.min"),
        ({"gate": {"bootstrap": {"resamples": 10}}}, "gate.bootstrap.resamples"),
        ({"train": {"budget": {"seconds": 0}}}, "train.budget.seconds"),
        ({"train": {"budget": {"seconds": float("inf")}}}, "train.budget.seconds"),
        ({"train": {"stale_run_hours": 0}}, "train.stale_run_hours"),
        ({"monitor": {"thresholds": {"ks": 1.5}}}, "monitor.thresholds"),
        ({"monitor": {"thresholds": {"psi": float("inf")}}}, "monitor.thresholds.psi"),
        ({"extract": {"table": {"encoding": "utf-9"}}}, "extract.table.encoding"),
        ({"extract": {"limits": {"max_rows": 0}}}, "extract.limits.max_rows"),
        ({"extract": {"feast": {"work_dir": "/home/u/.feast"}}}, "extract.feast.work_dir"),
        ({"prepare": {"train_window": {"start": "2013-02-01", "end": "2013-02-01"}}}, "before"),
    ],
)
def test_out_of_bounds_param_is_refused_naming_its_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(UserError) as err:
        parse_params(raw)
    assert key in str(err.value)


@pytest.mark.parametrize(
    "raw",
    [
        {"prepare": {"test_size": 0.5}},
        {"base": {"seed": 0}},
        {"monitor": {"thresholds": {"ks": 0.01, "psi": 2.0}}},
        {"extract": {"table": {"encoding": "latin-1"}}},
        {"gate": {"bootstrap": {"resamples": 100}}},
        {"extract": {"feast": {"work_dir": "f"}}},
    ],
)
def test_in_bounds_values_load(raw: dict[str, Any]) -> None:
    parse_params(raw)


def test_tampered_test_size_exits_2_through_the_console_script(
    tmp_path: Path, project_root: Path, capsys: pytest.CaptureFixture
) -> None:
    text = (project_root / "params.yaml").read_text()
    assert "test_size: 0.2 " in text
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("test_size: 0.2 ", "test_size: 0.99 "))
    out = tmp_path / "build" / "features.parquet"
    assert main(["extract", "--out", str(out), "--params", str(path)]) == 2
    assert "prepare.test_size" in capsys.readouterr().err
    assert not out.parent.exists()
