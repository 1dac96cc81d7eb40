"""prepare: refuses without a passed validation; time and random splits; labels; leakage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from retrain import splitting
from retrain.config import parse_params
from retrain.errors import UserError, ValidationFailed
from retrain.stages import prepare

LEAKS = ["arr_delay", "dep_delay", "dep_time", "arr_time", "air_time"]


def features(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arr_delay = rng.normal(5, 30, n).round()
    arr_delay[::25] = np.nan  # cancelled flights
    return pd.DataFrame(
        {
            "flight_id": np.arange(n, dtype="int64"),
            # spread over 2013 in New York time; UTC spills into 2014 for the last rows
            "event_time": pd.date_range("2013-01-01 06:00", "2013-12-31 23:00", periods=n)
            .tz_localize("America/New_York")
            .tz_convert("UTC"),
            "carrier": rng.choice(["UA", "B6"], n),
            "distance": rng.uniform(100, 2000, n),
            "arr_delay": arr_delay,
            "dep_delay": arr_delay - 3,
            "dep_time": rng.integers(500, 2300, n).astype(float),
            "arr_time": rng.integers(500, 2300, n).astype(float),
            "air_time": rng.uniform(30, 300, n),
        }
    )


def write_validation(path: Path, **result: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": 1, "checks": [], "n_checks": 0, "n_failed": 0, **result}))
    return path


def run_cli(tmp_path: Path, frame: pd.DataFrame, validation: Path, **sections: Any) -> int:
    feats = tmp_path / "features.parquet"
    frame.to_parquet(feats)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(sections))
    out = tmp_path / "prepared"
    argv = ["--features", str(feats), "--validation", str(validation), "--out", str(out)]
    return prepare.cli([*argv, "--params", str(params)])


def test_time_split_follows_the_windows_and_drops_leakage(tmp_path: Path) -> None:
    frame = features()
    validation = write_validation(tmp_path / "v" / "result.json", success=True, n_rows=len(frame))
    ny = {"timezone": "America/New_York"}  # the windows' clock (base.timezone defaults to UTC)
    leaks = {"drop_columns": LEAKS}  # the flights' leakage columns (default: none)
    assert run_cli(tmp_path, frame, validation, base=ny, prepare=leaks) == 0
    train = pd.read_parquet(tmp_path / "prepared" / "train.parquet")
    test = pd.read_parquet(tmp_path / "prepared" / "test.parquet")
    boundary = pd.Timestamp("2013-10-01", tz="America/New_York")
    assert train["event_time"].max() < boundary <= test["event_time"].min()
    assert train["event_time"].is_monotonic_increasing
    assert test["event_time"].max() < pd.Timestamp("2014-01-01", tz="America/New_York")
    for part in (train, test):
        assert not set(LEAKS) & set(part.columns)
        assert {"flight_id", "event_time", "carrier", "distance", "label"} <= set(part.columns)
    known = frame["arr_delay"].notna()
    assert len(train) + len(test) == known.sum()  # every labelled row, nothing else
    assert not set(train["flight_id"]) & set(test["flight_id"])


def test_label_is_target_above_threshold_and_unknown_targets_are_dropped() -> None:
    frame = features()
    params = parse_params({})
    result = splitting.split(frame, params.base, params.prepare)
    both = pd.concat([result.train, result.test]).set_index("flight_id")
    source = frame.set_index("flight_id").loc[both.index, "arr_delay"]
    assert (both["label"] == (source > 15).astype(int)).all()
    assert both["label"].dtype == "int64" and set(both["label"]) == {0, 1}
    assert result.n_without_target == frame["arr_delay"].isna().sum() > 0
    assert result.mode == "time"


def test_regression_label_is_the_target() -> None:
    frame = features()
    params = parse_params({"base": {"task": "regression"}})
    result = splitting.split(frame, params.base, params.prepare)
    source = frame.set_index("flight_id")["arr_delay"]
    got = result.train.set_index("flight_id")["label"]
    assert got.dtype == "float64"
    assert got.equals(source.loc[got.index])


def test_zero_one_target_without_threshold() -> None:
    frame = features().assign(arr_delay=lambda f: (f["arr_delay"] > 0).astype(float))
    params = parse_params({"base": {"positive_above": None}})
    result = splitting.split(frame, params.base, params.prepare)
    assert set(result.train["label"]) == {0, 1}
    bad = features()
    with pytest.raises(UserError, match="must hold 0/1"):
        splitting.split(bad, params.base, params.prepare)


def test_hash_split_when_there_is_no_event_time_is_stable_under_seed_size_and_new_rows() -> None:
    # given features without an event time
    frame = features().drop(columns="event_time")
    params = parse_params({"base": {"event_time": None}, "prepare": {"test_size": 0.25}})
    # when split twice
    first = splitting.split(frame, params.base, params.prepare)
    again = splitting.split(frame, params.base, params.prepare)
    # then the split is the same, a quarter of the labelled rows is held out
    assert first.mode == "random"
    pd.testing.assert_frame_equal(first.test, again.test)
    n = frame["arr_delay"].notna().sum()
    assert len(first.test) == pytest.approx(0.25 * n, abs=3 * (0.25 * 0.75 * n) ** 0.5)
    test_ids = set(first.test["flight_id"])
    # and a new seed moves no row
    other_seed = parse_params(
        {"base": {"event_time": None, "seed": 7}, "prepare": {"test_size": 0.25}}
    )
    assert (
        set(splitting.split(frame, other_seed.base, other_seed.prepare).test["flight_id"])
        == test_ids
    )
    # and a larger test_size only moves train rows to test
    larger = parse_params({"base": {"event_time": None}, "prepare": {"test_size": 0.4}})
    grown = splitting.split(frame, larger.base, larger.prepare)
    assert test_ids < set(grown.test["flight_id"])
    # and new rows leave the old ones where they were
    more = pd.concat([frame, features(600, seed=1).drop(columns="event_time").iloc[400:]])
    bigger = splitting.split(more, params.base, params.prepare)
    assert set(bigger.test["flight_id"]) & set(frame["flight_id"]) == test_ids
    # while the rows on each side are a different set when the split rule differs
    assert test_ids != set(first.train["flight_id"][: len(test_ids)])


def test_all_null_event_time_falls_back_to_random_split() -> None:
    frame = features().assign(event_time=pd.NaT)
    params = parse_params({})
    assert splitting.split(frame, params.base, params.prepare).mode == "random"


def test_random_split_needs_two_classes() -> None:
    frame = features().drop(columns="event_time").assign(arr_delay=100.0)
    params = parse_params({"base": {"event_time": None}})
    with pytest.raises(UserError, match="holds only class"):
        splitting.split(frame, params.base, params.prepare)


def test_rows_outside_both_windows_are_left_out() -> None:
    frame = features()
    params = parse_params(
        {
            "prepare": {
                "train_window": {"start": "2013-03-01", "end": "2013-06-01"},
                "test_window": {"start": "2013-07-01", "end": "2013-08-01"},
            }
        }
    )
    result = splitting.split(frame, params.base, params.prepare)
    assert result.n_outside_windows > 0
    total = len(result.train) + len(result.test) + result.n_outside_windows
    assert total == frame["arr_delay"].notna().sum()


def test_empty_test_window_is_a_user_error() -> None:
    params = parse_params(
        {"prepare": {"test_window": {"start": "2015-01-01", "end": "2015-02-01"}}}
    )
    with pytest.raises(UserError, match="prepare.test_window 2015-01-01..2015-02-01"):
        splitting.split(features(), params.base, params.prepare)


def test_missing_target_column() -> None:
    params = parse_params({})
    with pytest.raises(UserError, match="'arr_delay' \\(base.target\\)"):
        splitting.split(features().drop(columns="arr_delay"), params.base, params.prepare)


def test_target_named_label_is_kept_and_a_foreign_label_column_refused() -> None:
    frame = features().rename(columns={"arr_delay": "label"})
    params = parse_params({"base": {"target": "label"}})
    result = splitting.split(frame, params.base, params.prepare)
    assert set(result.train["label"]) == {0, 1}
    with pytest.raises(UserError, match="already have a 'label' column"):
        splitting.split(features().assign(label=1), *_defaults())


def _defaults() -> tuple[Any, Any]:
    params = parse_params({})
    return params.base, params.prepare


def test_drop_columns_may_not_remove_the_key() -> None:
    params = parse_params({"prepare": {"drop_columns": ["flight_id", "dep_delay"]}})
    with pytest.raises(UserError, match="flight_id"):
        splitting.split(features(), params.base, params.prepare)


def test_target_is_dropped_even_if_not_listed() -> None:
    params = parse_params({"prepare": {"drop_columns": ["dep_delay"]}})
    result = splitting.split(features(), params.base, params.prepare)
    assert "arr_delay" not in result.train.columns
    assert "dep_time" in result.train.columns  # only what params list (plus the target)


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, UserError, "not found; refusing to prepare"),
        (
            '{"schema": 1, "success": false, "n_rows": 400, "n_checks": 1, "n_failed": 1, '
            '"checks": [{"expectation": "expect_x", "column": "temp", "success": false}]}',
            ValidationFailed,
            "validation failed.*expect_x\\(temp\\)",
        ),
        ("{not json", UserError, "not valid JSON"),
        ('{"schema": 1}', UserError, "success: Field required"),
        (
            '{"schema": 1, "success": "yes", "n_checks": 0, "n_failed": 0, "checks": []}',
            UserError,
            "success: Input should be a valid boolean",
        ),
        ('{"success": true, "n_rows": 3}', UserError, "not a schema-1 validation result"),
        (
            '{"schema": 1, "success": true, "n_rows": 3, "n_checks": 0, "n_failed": 0, '
            '"checks": []}',
            UserError,
            "for 3 rows but the features have 400",
        ),
    ],
)
def test_refuses_without_a_passed_validation_and_writes_nothing(
    tmp_path: Path, content: str | None, error: type[Exception], message: str
) -> None:
    validation = tmp_path / "v" / "result.json"
    if content is not None:
        validation.parent.mkdir()
        validation.write_text(content)
    with pytest.raises(error, match=message):
        run_cli(tmp_path, features(), validation)
    assert not (tmp_path / "prepared").exists()


def test_failed_validation_exits_1_through_the_console_script(tmp_path: Path) -> None:
    from retrain.cli import main

    feats = tmp_path / "features.parquet"
    features().to_parquet(feats)
    validation = write_validation(tmp_path / "result.json", success=False)
    argv = ["prepare", "--features", str(feats), "--validation", str(validation)]
    assert main([*argv, "--out", str(tmp_path / "prepared"), "--params", str(tmp_path / "p")]) == 2
    (tmp_path / "p").write_text("{}")
    assert main([*argv, "--out", str(tmp_path / "prepared"), "--params", str(tmp_path / "p")]) == 1
    assert not (tmp_path / "prepared").exists()


def test_a_failing_write_leaves_neither_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrain.fileio import write_tables as write_tables_atomically

    calls = []
    original = pd.DataFrame.to_parquet

    def flaky(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        original(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    out = tmp_path / "prepared"
    with pytest.raises(OSError, match="disk full"):
        write_tables_atomically(
            {out / "train.parquet": features(), out / "test.parquet": features()}
        )
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"test_size": 1.5}, "'prepare.test_size'"),
        ({"drop_column": []}, "unknown key 'drop_column'.*did you mean 'drop_columns'"),
        (
            {"train_window": {"start": "2013-01-01", "end": "2013-11-01"}},
            "train_window ends .* after test_window starts",
        ),
        ({"test_window": {"start": "2013-12-01", "end": "2013-11-01"}}, "must be before end"),
        ({"drop_columns": "arr_delay"}, "'prepare.drop_columns'"),
    ],
)
def test_prepare_params_errors(section: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_params({"prepare": section})


def test_text_and_boolean_targets_become_0_1_labels() -> None:
    frame = features().drop(columns="event_time")
    verdict = np.where(frame["arr_delay"].fillna(0) > 15, "late", "on time")
    text = frame.assign(verdict=verdict).drop(columns="arr_delay")
    params = parse_params(
        {"base": {"event_time": None, "target": "verdict", "positive_label": "late",
                  "positive_above": None}, "prepare": {"drop_columns": ["dep_delay"]}}
    )  # fmt: skip
    result = splitting.split(text, params.base, params.prepare)
    both = pd.concat([result.train, result.test]).set_index("flight_id")
    expected = pd.Series(verdict == "late", index=text["flight_id"]).astype(int)
    assert (both["label"] == expected.loc[both.index]).all()
    assert "verdict" not in both.columns  # the raw target is never a feature
    # a boolean target: True is the positive class without positive_label
    boolean = frame.assign(late=frame["arr_delay"].fillna(0) > 15).drop(columns="arr_delay")
    params = parse_params(
        {"base": {"event_time": None, "target": "late", "positive_above": None},
         "prepare": {"drop_columns": ["dep_delay"]}}
    )  # fmt: skip
    result = splitting.split(boolean, params.base, params.prepare)
    assert set(result.train["label"]) == {0, 1} and result.train["label"].dtype == "int64"


def _champion(**fields: Any):
    from retrain.artifacts import ChampionInfo

    return ChampionInfo(model="m", version="3", sha256="a" * 64, **fields)


def test_gate_holdout_never_holds_a_champion_training_row() -> None:
    # given a champion trained on the hash split at test_size 0.2
    frame = features().drop(columns="event_time")
    old = parse_params({"base": {"event_time": None}, "prepare": {"test_size": 0.2}})
    champion_train = set(splitting.split(frame, old.base, old.prepare).train["flight_id"])
    champion = _champion(split="hash", test_size=0.2)
    # when the table grows and the candidate is split at test_size 0.35 with a new seed
    grown = pd.concat([frame, features(700, seed=3).drop(columns="event_time").iloc[400:]])
    new = parse_params({"base": {"event_time": None, "seed": 9}, "prepare": {"test_size": 0.35}})
    test = splitting.split(grown, new.base, new.prepare).test
    holdout, note = splitting.champion_free_holdout(test, new.base, new.prepare, champion)
    # then the gate's rows exclude every champion training row, and the note says why
    assert champion_train & set(test["flight_id"])  # the bigger test side took some ...
    assert not champion_train & set(holdout["flight_id"])  # ... the gate's holdout none
    assert note is not None and "0.2" in note and len(holdout) < len(test)
    # and the same test_size keeps every row
    same = parse_params({"base": {"event_time": None}, "prepare": {"test_size": 0.2}})
    kept, note = splitting.champion_free_holdout(
        splitting.split(grown, same.base, same.prepare).test, same.base, same.prepare, champion
    )
    assert note is None and not champion_train & set(kept["flight_id"])


def test_gate_refuses_when_the_champion_split_is_unknown_and_cuts_time_at_train_end() -> None:
    frame = features()
    hashed = parse_params({"base": {"event_time": None}})
    test = splitting.split(frame.drop(columns="event_time"), hashed.base, hashed.prepare).test
    for champion in (_champion(), _champion(split="time")):
        with pytest.raises(UserError, match="cannot prove its holdout"):
            splitting.champion_free_holdout(test, hashed.base, hashed.prepare, champion)
    timed = parse_params({})
    test = splitting.split(frame, timed.base, timed.prepare).test
    end = "2013-11-15T00:00:00+00:00"
    holdout, note = splitting.champion_free_holdout(
        test, timed.base, timed.prepare, _champion(train_end=end)
    )
    assert holdout["event_time"].min() > pd.Timestamp(end) and note is not None
    with pytest.raises(UserError, match="cannot prove"):
        splitting.champion_free_holdout(
            test, timed.base, timed.prepare, _champion(split="hash", test_size=0.2)
        )
    # no champion: every row
    assert splitting.champion_free_holdout(
        test, timed.base, timed.prepare, _champion().model_copy(update={"version": None})
    ) == (test, None)
