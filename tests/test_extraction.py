"""extraction.assemble_features: the request rows with their joined features, as the left
merge on flight_id + stable sort + casts it replaces (same values, same dtypes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retrain.extraction import (
    FEATURE_COLUMNS,
    FLIGHT_COLUMNS,
    OUTCOME_COLUMNS,
    assemble_features,
    hours_between,
)
from retrain.featurestore.sources import TAIL_HOURS_AGO, TAIL_PREV_DEPARTED_AT

JOINED_COLUMNS = [
    c
    for c in FEATURE_COLUMNS
    if c not in (*FLIGHT_COLUMNS, *OUTCOME_COLUMNS, "flight_id", "event_time")
]
JOINED_COLUMNS = [c for c in JOINED_COLUMNS if c != TAIL_HOURS_AGO] + [TAIL_PREV_DEPARTED_AT]


def _request(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    times = pd.Timestamp("2013-03-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 37, unit="m")
    frame = pd.DataFrame(
        {
            "flight_id": np.arange(n, dtype="int64") * 3,
            "event_time": times.astype("datetime64[ns, UTC]"),
            **{
                c: pd.Series(rng.choice(["EWR", "JFK"], n), dtype=object)
                for c in FLIGHT_COLUMNS[:4]
            },
            **{c: rng.integers(0, 24, n).astype("int64") for c in FLIGHT_COLUMNS[4:8]},
            "distance": rng.random(n),
        }
    )
    for column in OUTCOME_COLUMNS:
        frame[column] = rng.normal(size=n)
    return frame


def _joined(request: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """What the store hands back: the given request rows, ints/None mixed in as Feast does."""
    rng = np.random.default_rng(11)
    rows = request.iloc[order].reset_index(drop=True)
    out = pd.DataFrame({"flight_id": rows["flight_id"], "origin": rows["origin"]})
    for column in JOINED_COLUMNS:
        if column in ("manufacturer", "engine"):
            out[column] = pd.Series(rng.choice(["BOEING", None], len(rows)), dtype=object)
        elif column == TAIL_PREV_DEPARTED_AT:
            out[column] = (rows["event_time"] - pd.Timedelta(hours=3)).astype("datetime64[us, UTC]")
        elif column == "seats":
            out[column] = rng.integers(10, 300, len(rows)).astype("int64")
        else:
            out[column] = rng.normal(size=len(rows))
    return out


def _as_object_strings(column: pd.Series) -> pd.Series:
    return column.astype(object).where(column.notna(), None)


def _merged(request: pd.DataFrame, joined: pd.DataFrame) -> pd.DataFrame:
    """The previous implementation (merge, sort, casts, selection), the reference."""
    features = joined[["flight_id", *JOINED_COLUMNS]]
    out = request.merge(features, on="flight_id", how="left", validate="one_to_one")
    out = out.sort_values("flight_id", kind="stable").reset_index(drop=True)
    out[TAIL_HOURS_AGO] = hours_between(out[TAIL_PREV_DEPARTED_AT], out["event_time"])
    for column in [*JOINED_COLUMNS, TAIL_HOURS_AGO]:
        if column in ("manufacturer", "engine"):
            out[column] = _as_object_strings(out[column])
        elif column != TAIL_PREV_DEPARTED_AT:
            out[column] = out[column].astype("float64")
    return out[list(FEATURE_COLUMNS)]


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(np.arange(50), id="same-order"),
        pytest.param(np.random.default_rng(3).permutation(50), id="shuffled"),
        pytest.param(np.random.default_rng(4).permutation(50)[:41], id="rows-missing"),
    ],
)
def test_assemble_equals_the_left_merge(order: np.ndarray) -> None:
    # given request rows and the store's joined rows in some order, some possibly missing
    request = _request(50)
    joined = _joined(request, order)
    expected = _merged(request, joined)
    # when they are assembled
    got = assemble_features(request, joined)
    # then the frame is the merge's, values and dtypes
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got.columns) == list(FEATURE_COLUMNS)


def test_assemble_sorts_an_unsorted_request_like_the_merge() -> None:
    # given request rows not ordered by flight_id
    request = _request(30).sample(frac=1, random_state=5)
    joined = _joined(request, np.arange(30))
    expected = _merged(request, joined)
    # when assembled, then ordered by flight_id exactly as merge + stable sort
    pd.testing.assert_frame_equal(assemble_features(request, joined), expected, check_exact=True)


@pytest.mark.parametrize("side", ["request", "joined"])
def test_assemble_refuses_a_repeated_flight(side: str) -> None:
    # given a flight_id twice on one side (the merge's one_to_one check)
    request = _request(10)
    joined = _joined(request, np.arange(10))
    if side == "request":
        request.loc[3, "flight_id"] = request.loc[2, "flight_id"]
    else:
        joined.loc[3, "flight_id"] = joined.loc[2, "flight_id"]
    # when assembled, then refused
    with pytest.raises(ValueError, match=f"{side} rows repeat a flight_id"):
        assemble_features(request, joined)
