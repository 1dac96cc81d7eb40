"""profiling: the table profile and the params draft's rules, on small frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.errors import UserError
from retrain.profiling import (
    draft_params,
    infer_task,
    model_name_for,
    numeric_range,
    profile_column,
    schema_allows,
    time_split,
)

TABLE = Path("data/t.csv")


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "size": rng.uniform(10, 20, n),
            "count": rng.integers(0, 5, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "name": [f"item {i}" for i in range(n)],
            "y": rng.integers(0, 2, n),
        }
    )


# --- task inference ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0], "binary"),
        ([2.0, 5.0, 5.0], "binary"),
        ([True, False, True], "binary"),
        (["good", "bad", "bad"], "binary"),
        ([0, 1, 2, 2, 1], "multiclass"),
        (["a", "b", "c"], "multiclass"),
        ([0.5, 1.5, 2.25, 3.0], "regression"),
        (list(range(30)), "regression"),  # whole numbers, too many values for classes
    ],
)
def test_task_is_inferred_from_the_target(values: list, task: str) -> None:
    assert infer_task(pd.Series(values, name="y")) == task


def test_a_target_with_one_value_or_none_is_refused() -> None:
    with pytest.raises(UserError, match="single value"):
        infer_task(pd.Series([1, 1, None], name="y"))
    with pytest.raises(UserError, match="empty"):
        infer_task(pd.Series([None, None], name="y", dtype=float))


def test_free_text_target_is_refused() -> None:
    with pytest.raises(UserError, match="identifier or free text"):
        infer_task(pd.Series([f"t{i}" for i in range(100)], name="y"))


@pytest.mark.parametrize(
    ("values", "task", "message"),
    [
        (["a", "b"], "regression", "numeric target"),
        ([0, 1, 2], "binary", "two values"),
        ([0, 1], "multiclass", "--task binary"),
    ],
)
def test_requested_task_must_fit_the_target(values: list, task: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        infer_task(pd.Series(values, name="y"), task)  # type: ignore[arg-type]


def test_requested_task_that_fits_is_kept() -> None:
    assert infer_task(pd.Series([0, 1, 2, 3] * 5, name="y"), "regression") == "regression"


# --- column rules ------------------------------------------------------------------------------


def test_column_profile_kinds_levels_and_ranges() -> None:
    col = profile_column(pd.Series(["b", "a", None, "a"], name="c"))
    assert (col.kind, col.n_null, col.n_distinct, col.levels) == ("str", 1, 2, ("a", "b"))
    num = profile_column(pd.Series([1.0, 3.0, np.nan], name="x"))
    assert (num.kind, num.minimum, num.maximum, num.integral) == ("float", 1.0, 3.0, True)


def test_numeric_range_adds_the_margin_and_keeps_non_negative_columns_non_negative() -> None:
    low, high = numeric_range(profile_column(pd.Series([10.0, 20.0], name="x")))
    assert (low, high) == (9.0, 21.0)  # 10% of the span each side
    low, high = numeric_range(profile_column(pd.Series([0.5, 100.0], name="x")))
    assert low == 0.0 and high >= 109.95
    low, high = numeric_range(profile_column(pd.Series([-5, 5], name="x")))
    assert (low, high) == (-6.0, 6.0)  # integers: whole bounds


def test_model_name_comes_from_the_file_name() -> None:
    assert model_name_for(Path("data/My Table (v2).csv.gz")) == "My-Table-v2"
    assert model_name_for(Path("data/_x.parquet")) == "x"


# --- the draft ---------------------------------------------------------------------------------


def test_draft_of_a_binary_table() -> None:
    df = frame()
    df.loc[:9, "size"] = np.nan
    draft = draft_params(df, TABLE, "y")
    assert draft.label.task == "binary" and draft.task_value == "classification"
    assert draft.label.positive == "1" and draft.label.positive_above is None
    assert draft.key == "id" and draft.time is None
    assert draft.dtypes == {
        "id": "int",
        "size": "number",
        "count": "number",
        "colour": "str",
        "name": "str",
        "y": "number",
    }
    assert draft.not_null["size"] == (0.9, 0.95) and draft.not_null["id"] == (1.0, 1.0)
    assert "id" not in draft.ranges and "y" not in draft.ranges  # key, class label
    assert draft.categories == {"colour": ("blue", "green", "red")}  # name: 200 levels
    assert draft.slices == ["colour"]
    assert draft.exclude_features == ["name"]  # one value per row: an identifier
    assert draft.monitor_exclude == ["id", "y", "label", "name"]
    assert draft.rows_min == 100 and draft.rows_max == 2000
    share = min(draft.label.shares)
    assert draft.min_class_share == pytest.approx(share / 2, abs=0.001)
    assert set(draft.values) == {"roc_auc", "pr_auc", "log_loss", "brier"}
    positive_share = draft.label.shares[1]
    assert draft.values["pr_auc"][1].value == pytest.approx(positive_share, abs=0.001)
    assert [c.metric for c in draft.changes if c.bootstrap] == ["roc_auc"]


def test_draft_of_a_regression_table_has_unit_tolerances() -> None:
    df = frame().assign(y=lambda d: d["size"] * 100 + d["count"])
    draft = draft_params(df, TABLE, "y")
    assert draft.label.task == "regression" and draft.primary == "rmse"
    assert draft.min_class_share is None
    rmse = draft.values["rmse"]
    assert rmse[0] == "max" and rmse[1].value == pytest.approx(df["y"].std(ddof=0), rel=0.01)
    assert draft.values["r2"] == ("min", draft.values["r2"][1]) and draft.values["r2"][1].value == 0
    by_metric = {c.metric: c for c in draft.changes}
    assert by_metric["rmse"].max_regression_abs is None and by_metric["rmse"].max_regression_rel
    assert by_metric["r2"].max_regression_rel is None
    assert draft.decay == pytest.approx(0.05 * rmse[1].value, rel=0.01)  # in the target's units


def test_numeric_binary_target_other_than_0_1_gets_a_threshold() -> None:
    draft = draft_params(frame().assign(y=lambda d: d["y"] * 3 + 2), TABLE, "y")  # 2 / 5
    assert draft.label.positive == "5" and draft.label.positive_above == 2.0


def test_duplicated_rows_turn_unique_rows_off_and_are_counted() -> None:
    df = frame(50)
    df = pd.concat([df, df.iloc[:3].assign(id=[100, 101, 102])], ignore_index=True)
    draft = draft_params(df, TABLE, "y")
    assert draft.n_duplicate_rows == 3
    assert any("3 row(s) repeat" in note for note in draft.review)


def test_time_split_cuts_at_a_day_with_the_last_fifth_on_the_test_side() -> None:
    times = pd.Series(pd.date_range("2020-01-01", periods=366, freq="D"), name="t")
    split = time_split(times)
    assert (split.start, split.end) == ("2020-01-01", "2021-01-01")
    assert split.cut == "2020-10-19" and split.n_test == 74 and split.n_train == 292
    assert (split.cv_period, split.cv_folds) == ("month", 3)
    assert split.timezone == "UTC"


def test_time_split_keeps_a_named_zone_and_picks_the_cv_period() -> None:
    times = pd.Series(
        pd.date_range("2020-03-01 08:00", periods=120, freq="h", tz="Europe/Paris"), name="t"
    )
    split = time_split(times)
    assert split.timezone == "Europe/Paris"
    assert (split.start, split.end, split.cut) == ("2020-03-01", "2020-03-07", "2020-03-05")
    assert (split.cv_period, split.cv_folds) == ("day", 3)  # 4 days of train rows


def test_time_split_cuts_at_an_hour_when_a_day_cut_misses_the_test_share() -> None:
    times = pd.Series(pd.date_range("2020-03-01", periods=40, freq="h"), name="t")
    split = time_split(times)  # a cut at 2020-03-02 would test on 40% of the rows
    assert split.cut == "2020-03-02 07:00:00" and split.n_test == 9
    assert (split.cv_period, split.cv_folds) == ("day", 1)


def test_time_column_that_is_not_a_timestamp_is_refused() -> None:
    with pytest.raises(UserError, match="not a timestamp"):
        time_split(pd.Series(["soon", "later"], name="t"))
    with pytest.raises(UserError, match="not a timestamp"):
        time_split(pd.Series([1, 2, 3], name="t"))
    with pytest.raises(UserError, match="1 distinct"):
        time_split(pd.Series(["2020-01-01"] * 3, name="t"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "nope"}, "--target 'nope' is not a column"),
        ({"target": "Y"}, "did you mean 'y'"),
        ({"target": "y", "time": "when"}, "--time 'when' is not a column"),
        ({"target": "y", "key": "count"}, "does not identify rows"),
        ({"target": "y", "key": "y"}, "different columns"),
        ({"target": "y", "positive": "7"}, "--positive '7' is not a value"),
    ],
)
def test_bad_inputs_are_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        draft_params(frame(), TABLE, **kwargs)


def test_no_key_column_is_a_user_error_while_the_schema_needs_one() -> None:
    df = frame().drop(columns="id")
    if schema_allows("key", None):
        assert draft_params(df, TABLE, "y").key is None
    else:
        with pytest.raises(UserError, match="needs base.key") as err:
            draft_params(df, TABLE, "y")
        assert "row_id" in str(err.value)


def test_text_labels_need_positive_label_in_the_schema() -> None:
    df = frame().assign(y=lambda d: np.where(d["y"] == 1, "bad", "good"))
    if schema_allows("positive_label"):
        draft = draft_params(df, TABLE, "y")
        assert draft.label.positive == "bad" and draft.label.positive_label == "bad"
    else:
        with pytest.raises(UserError, match="recode 'y' to 0/1"):
            draft_params(df, TABLE, "y")


def test_multiclass_follows_the_schema() -> None:
    df = frame().assign(y=lambda d: d["count"] % 3)
    if schema_allows("task", "multiclass"):
        assert draft_params(df, TABLE, "y").task_value == "multiclass"
    else:
        with pytest.raises(UserError, match="multiclass problem"):
            draft_params(df, TABLE, "y")


def test_a_timestamp_text_column_is_pointed_out_when_no_time_is_given() -> None:
    df = frame().assign(day=pd.date_range("2020-01-01", periods=200, freq="D").astype(str))
    draft = draft_params(df, TABLE, "y")
    assert any("pass --time day" in note for note in draft.review)
    assert not any("timestamp" in note for note in draft_params(frame(), TABLE, "y").review)


def test_pandas_category_columns_get_levels_but_no_dtype_check() -> None:
    df = frame().assign(colour=lambda d: d["colour"].astype("category"))
    draft = draft_params(df, TABLE, "y")
    assert "colour" not in draft.dtypes and draft.categories["colour"] == ("blue", "green", "red")
    assert any("category dtype" in note for note in draft.review)


def test_a_column_empty_in_every_labelled_row_is_kept_out_of_training() -> None:
    df = frame().assign(y=lambda d: d["y"].astype(float), late=np.nan)
    df.loc[:9, "y"] = np.nan
    df.loc[:9, "late"] = 1.0  # values only where the target is missing
    draft = draft_params(df, TABLE, "y")
    assert draft.exclude_features == ["name", "late"]
    assert "late" in draft.monitor_exclude
    assert any("10 row(s) have no 'y'" in note for note in draft.review)
    assert draft_params(frame(), TABLE, "y").exclude_features == ["name"]


def test_with_time_a_column_empty_before_the_cut_is_kept_out_of_training() -> None:
    df = frame(100).assign(t=pd.date_range("2020-01-01", periods=100, freq="D"), new=np.nan)
    df.loc[90:, "new"] = 1.0  # only in the test period
    draft = draft_params(df, TABLE, "y", time="t")
    assert draft.time is not None and draft.time.cut == "2020-03-20"
    assert "new" in draft.exclude_features
    df.loc[5, "new"] = 2.0
    assert "new" not in draft_params(df, TABLE, "y", time="t").exclude_features


def _series_table(trend: float, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day = np.arange(n)
    x = rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "day": pd.date_range("2020-01-01", periods=n, freq="D"),
            "x": x,
            "y": 100 + trend * day + 10 * x + rng.normal(0, 1, n),
        }
    )


def test_time_split_regression_bounds_are_the_training_constant_on_the_test_rows() -> None:
    # given a trending series (test values above every training value) and a flat one
    trending, flat = _series_table(trend=1.0), _series_table(trend=0.0)
    # when init drafts both with a time split
    up = draft_params(trending, TABLE, "y", time="day")
    level = draft_params(flat, TABLE, "y", time="day")
    # then the no-skill bounds are the training mean/median scored on the test rows
    assert up.time is not None
    cut = pd.Timestamp(up.time.cut)
    fit, test = trending.loc[trending["day"] < cut, "y"], trending.loc[trending["day"] >= cut, "y"]
    rmse = float(np.sqrt(np.mean((test - fit.mean()) ** 2)))
    assert up.values["rmse"][1].value == pytest.approx(rmse, rel=0.01)
    assert rmse > 1.5 * trending["y"].std(ddof=0)  # the whole-table std: out of reach
    assert up.values["r2"][1].value < -1  # the training mean is far worse than the test mean
    assert "learnt before the time cut" in up.values["rmse"][1].note
    # and the trend is named for review; the flat series has no such note and a bound near its
    # own spread
    assert any("outside every training value" in note for note in up.review)
    assert not any("outside every training value" in note for note in level.review)
    assert level.values["rmse"][1].value == pytest.approx(flat["y"].std(ddof=0), rel=0.25)
    assert level.values["r2"][1].value == pytest.approx(0.0, abs=0.05)


def test_monitor_bins_keep_psi_noise_under_half_the_threshold() -> None:
    from retrain.profiling import monitor_bins_for

    # given the champion's expected held-out rows, when init drafts monitor.bins,
    # then the PSI noise floor (k - 1) * 2 / n stays <= 0.1, between 2 and the default 10
    for n in (1, 20, 85, 179, 180, 82_609):
        k = monitor_bins_for(n)
        assert 2 <= k <= 10
        assert k == 2 or (k - 1) * 2 / n <= 0.1
    assert [monitor_bins_for(n) for n in (20, 85, 180, 82_609)] == [2, 5, 10, 10]
