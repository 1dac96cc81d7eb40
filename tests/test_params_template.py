"""params_template: scalars that read back as written, and the rendered file's layout."""

from __future__ import annotations

import math

import pytest
import yaml

from retrain.params_template import flow, num, q


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "No",
        "ON",
        "off",
        "y",
        "n",
        "true",
        "null",
        "~",
        "1.0",
        "012",
        "1e3",
        "2013-01-01",
        "12:30",
        "^GSPC",
        "a: b",
        "# x",
        "mean radius",
        "it's",
        'say "hi"',
        "",
        " pad",
        "ünï",
        "-",
        "data/x.csv",
        ".inf",
        "NaN",
        "[a]",
        "{a}",
        "&a",
        "*a",
        "!x",
        "%x",
        "@x",
        "`x",
        "a,b",
    ],
)
def test_strings_read_back_as_the_same_string(text: str) -> None:
    assert yaml.safe_load(f"k: {q(text)}") == {"k": text}
    assert yaml.safe_load(f"k: [{q(text)}, {q(text)}]") == {"k": [text, text]}
    assert yaml.safe_load(f"{q(text)}: 1") == {text: 1}


def test_plain_identifiers_stay_unquoted() -> None:
    assert q("mean_radius") == "mean_radius" and q("data/x.csv") == "data/x.csv"
    assert q("yes") == '"yes"' and q("1.0") == '"1.0"'


@pytest.mark.parametrize("value", [0, 1, -3, 0.5, 1e-9, 2.5e12, 123456789.0, -0.000123, 1e20])
def test_numbers_read_back_as_numbers(value: float) -> None:
    read = yaml.safe_load(f"k: {num(value)}")["k"]
    assert isinstance(read, int | float) and not isinstance(read, bool)
    assert math.isclose(read, value, rel_tol=1e-5)


def test_flow_lists_wrap_and_read_back() -> None:
    items = [f"column_{i}" for i in range(40)]
    text = flow([q(i) for i in items], 2, "  columns: ")
    assert max(len(line) for line in text.splitlines()) <= 100
    assert len(text.splitlines()) > 1
    assert yaml.safe_load("v:\n" + text) == {"v": {"columns": items}}
    assert yaml.safe_load("v:\n" + flow([], 2, "  columns: ")) == {"v": {"columns": []}}
