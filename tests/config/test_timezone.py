"""`base.timezone`: the one time zone every window and calendar inherits unless it sets its own."""

from __future__ import annotations

import datetime as dt
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from retrain.config import TIMEZONE_INHERITORS, Params, parse_params
from retrain.config.extract import Window
from retrain.errors import UserError


def zones(params: Params) -> dict[str, str]:
    out = {}
    for path in TIMEZONE_INHERITORS:
        node: Any = params
        for part in path:
            node = getattr(node, part)
        out[".".join(path)] = node.timezone
    return out


def test_windows_and_calendars_inherit_base_timezone() -> None:
    # given only base.timezone
    params = parse_params({"base": {"timezone": "Europe/Paris"}})
    # then every window and calendar reads that clock
    assert set(zones(params).values()) == {"Europe/Paris"}
    # and the window bounds are converted from it
    start, end = params.prepare.test_window.bounds_utc()
    assert start == dt.datetime(2013, 9, 30, 22, tzinfo=dt.UTC)
    assert end == dt.datetime(2013, 12, 31, 23, tzinfo=dt.UTC)


def test_an_own_timezone_wins() -> None:
    params = parse_params(
        {
            "base": {"timezone": "Europe/Paris"},
            "monitor": {"current": {"start": "2013-10-01", "end": "2014-01-01", "timezone": "UTC"}},
            "train": {"timezone": "Asia/Tokyo"},
        }
    )
    got = zones(params)
    assert got.pop("monitor.current") == "UTC"
    assert got.pop("train") == "Asia/Tokyo"
    assert set(got.values()) == {"Europe/Paris"}


def test_a_window_set_without_timezone_inherits_it() -> None:
    window = {"start": "2013-03-01", "end": "2013-04-01"}
    params = parse_params({"base": {"timezone": "America/Chicago"}, "extract": {"window": window}})
    assert params.extract.window.timezone == "America/Chicago"
    assert params.extract.window.start == dt.datetime(2013, 3, 1)


def test_default_timezone_is_utc_everywhere() -> None:
    params = parse_params({})
    assert params.base.timezone == "UTC"
    assert set(zones(params).values()) == {"UTC"}
    assert Params() == params


def test_inheritance_happens_before_the_window_checks() -> None:
    # train ends 2013-10-01 00:00 in New York (04:00 UTC); a test window starting at midnight
    # UTC would overlap it, one starting at midnight New York time does not.
    train = {"start": "2013-01-01", "end": "2013-10-01"}
    test = {"start": "2013-10-01", "end": "2014-01-01"}
    ny = {"timezone": "America/New_York"}
    assert parse_params({"base": ny, "prepare": {"train_window": train, "test_window": test}})
    with pytest.raises(UserError, match="after test_window starts"):
        parse_params({"prepare": {"train_window": {**train, **ny}, "test_window": test}})


def test_unknown_base_timezone_is_reported_once() -> None:
    with pytest.raises(UserError) as err:
        parse_params({"base": {"timezone": "Mars/Olympus"}})
    text = str(err.value)
    assert "'base.timezone'" in text and "unknown time zone 'Mars/Olympus'" in text
    assert text.count("unknown time zone") == 1


@pytest.mark.parametrize("section", ["train", "replay"])
def test_calendar_timezones_are_checked(section: str) -> None:
    with pytest.raises(UserError, match=f"'{section}.timezone'.*unknown time zone"):
        parse_params({section: {"timezone": "America"}})


def test_every_timezone_setting_inherits() -> None:
    # A new window or `timezone` field must be added to TIMEZONE_INHERITORS.
    def find(model: type[BaseModel], path: tuple[str, ...]) -> set[tuple[str, ...]]:
        found = set()
        for name, info in model.model_fields.items():
            if name == "timezone":
                found.add(path)
            for kind in (info.annotation, *get_args(info.annotation)):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    if kind is Window:
                        found.add((*path, name))
                    else:
                        found |= find(kind, (*path, name))
        return found

    assert find(Params, ()) - {("base",)} == set(TIMEZONE_INHERITORS)
