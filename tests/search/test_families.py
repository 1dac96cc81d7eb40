from __future__ import annotations

import importlib.util
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retrain.config import replay as replay_config
from retrain.config import train as train_config
from retrain.config.train import FamilySpec, ParamSpec
from retrain.errors import UserError
from retrain.model_io import load_model, save_model, trusted_types
from retrain.scoring import predict_scores
from retrain.search import ensemble, preprocess
from retrain.search import families as fam
from retrain.search.calendar import CalendarFeatures
from retrain.search.study import columns_for

SMALL = {
    "linear": {"alpha": 1.0},
    "random_forest": {"n_estimators": 5, "max_depth": 4},
    "extra_trees": {"n_estimators": 5, "max_depth": 4},
    "hist_gradient_boosting": {"max_iter": 10},
    "lightgbm": {"n_estimators": 10, "min_child_samples": 5},
}


# Families whose package may be absent: lightgbm is locked in the `bench` group only (through
# FLAML), so `make test` on the default groups skips its fits (`uv sync --all-groups` runs them).
OPTIONAL = {"lightgbm": "lightgbm"}
NEEDS_LIGHTGBM = pytest.mark.skipif(
    importlib.util.find_spec("lightgbm") is None,
    reason="lightgbm missing: it is in the bench group (uv sync --all-groups)",
)


def _installed(family: str) -> bool:
    return family not in OPTIONAL or importlib.util.find_spec(OPTIONAL[family]) is not None


def _buildable() -> list[Any]:
    """Every registered family, those whose package is absent marked skipped."""
    return [
        pytest.param(name, marks=NEEDS_LIGHTGBM) if name in OPTIONAL else name
        for name in fam.family_names()
    ]


def _unseen_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.head(3).copy()
    rows["carrier"] = ["ZZ", None, "ZZ"]  # a level never seen in training, and a missing one
    rows["tailnum"] = ["NEW1", "NEW2", None]
    rows["temp"] = np.nan
    return rows


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("family", _buildable())
def test_pipeline_takes_raw_rows_and_round_trips_through_skops(
    family: str, task: str, train_frame: pd.DataFrame, tmp_path: Path, small_settings: Any
) -> None:
    settings = small_settings()
    frame = train_frame.drop(columns=["label"])
    y = train_frame["label"].to_numpy()
    if task == "regression":
        y = y * 30.0 + np.arange(len(y)) % 7  # any numeric target
    columns = columns_for(train_frame, settings)
    assert "flight_id" not in columns.all and "tailnum" in columns.high_cardinality
    model = fam.build_pipeline(
        family, SMALL[family], task=task, columns=columns, seed=1, timezone="America/New_York"
    )
    model.fit(frame, y)
    rows = _unseen_rows(frame)
    before = predict_scores(model, rows, task)
    assert np.isfinite(before).all()
    save_model(model, tmp_path / "model.skops")  # refuses types outside the allow-list
    after = predict_scores(load_model(tmp_path / "model.skops"), rows, task)
    np.testing.assert_array_equal(before, after)


def test_unknown_estimator_parameter_is_a_user_error() -> None:
    spec = FamilySpec(space={"learning_rat": ParamSpec(type="float", low=0.1, high=0.2)})
    with pytest.raises(UserError, match="unknown parameter\\(s\\): learning_rat"):
        fam.get_family("hist_gradient_boosting").check_space(spec, "classification")


def test_default_params_use_estimator_defaults_inside_the_space() -> None:
    spec = FamilySpec(
        space={
            "learning_rate": ParamSpec(type="float", low=0.01, high=0.5, log=True),
            "max_leaf_nodes": ParamSpec(type="int", low=40, high=160, log=True),
        }
    )
    chosen = fam.get_family("hist_gradient_boosting").default_params(spec, "classification")
    assert chosen["learning_rate"] == 0.1  # sklearn's default, inside the range
    assert chosen["max_leaf_nodes"] == 80  # default 31 is outside: geometric middle


def test_config_family_names_are_the_registered_families() -> None:
    # given the config's FamilyName literal (train.families keys, replay.families items)
    names = typing.get_args(train_config.FamilyName)
    # then it names exactly the registered families, so the two cannot drift apart
    assert sorted(names) == sorted(fam.family_names())
    assert sorted(typing.get_args(replay_config.FamilyName)) == sorted(fam.family_names())


def test_every_family_supports_both_tasks_and_unknown_names_are_user_errors() -> None:
    for task in ("classification", "regression"):
        assert fam.family_names(task) == fam.family_names()
    with pytest.raises(UserError, match="unknown model family 'xgboost'"):
        fam.get_family("xgboost")


def test_a_family_without_the_task_is_refused_by_name() -> None:
    # given a family that declares a classifier only
    only = fam.Family(
        "classifier_only",
        estimators={"classification": "sklearn.linear_model.LogisticRegression"},
        build=lambda cls, params, ctx: cls(**params),
    )
    # then asking it for a regressor names the task
    assert only.tasks == {"classification"}
    with pytest.raises(UserError, match="does not support the regression task"):
        only.estimator_class("regression")


def test_the_allow_list_is_exactly_what_the_registered_families_build(
    train_frame: pd.DataFrame, small_settings: Any
) -> None:
    """Each family's declared skops types (plus the shared preprocessing's) cover its fitted
    Pipeline, and no type in the allow-list is one that no model needs."""
    import skops.io as sio

    # given every family, for both tasks, on every kind of column (calendar features included)
    settings = small_settings(calendar_features=True)
    columns = columns_for(train_frame, settings)
    assert columns.categorical and columns.high_cardinality and columns.event_time
    frame = train_frame.drop(columns=["label"])
    y = train_frame["label"].to_numpy()
    targets = {"classification": y, "regression": y * 30.0 + np.arange(len(y)) % 7}
    needed: set[str] = set()
    members = []
    absent: set[str] = set()  # the types of families whose package is not installed
    for name in fam.family_names():
        family = fam.get_family(name)
        if not _installed(name):
            absent |= family.skops_types
            continue
        for task, target in targets.items():
            model = fam.build_pipeline(
                name, SMALL[name], task=task, columns=columns, seed=1, timezone="UTC"
            ).fit(frame, target)
            # when its fitted Pipeline is serialized
            types = set(sio.get_untrusted_types(data=sio.dumps(model)))
            # then the family declared every type it holds
            assert types <= family.skops_types | preprocess.SKOPS_TYPES, name
            needed |= types
            if task == "classification":
                members.append((name, model))
    vote = ensemble.voting_model(members[:2], "classification").fit(frame, y)
    vote_types = set(sio.get_untrusted_types(data=sio.dumps(vote)))
    assert vote_types - needed <= ensemble.SKOPS_TYPES
    assert sorted(needed | vote_types) == sorted(set(trusted_types()) - (absent - needed))


def test_calendar_features_holiday_distance_is_local_and_signed() -> None:
    stamps = pd.DataFrame(
        {
            "t": pd.to_datetime(
                # 2013-07-04 03:00 UTC is July 3rd 23:00 in New York: one day before July 4th
                ["2013-07-04 03:00", "2013-07-04 16:00", "2013-07-06 16:00", "2013-03-15 16:00"],
                utc=True,
            )
        }
    )
    out = CalendarFeatures("America/New_York").fit(stamps).transform(stamps)
    assert out[:, 2].tolist() == [1.0, 0.0, -2.0, -14.0]  # capped at the horizon
    assert out[0, 0] == 23 * 60 and out[1, 1] == 3.0  # minute of day; Thursday


@NEEDS_LIGHTGBM
def test_lightgbm_multiclass_scores_every_class_and_round_trips(
    train_frame: pd.DataFrame, tmp_path: Path, small_settings: Any
) -> None:
    # given a three-class target on the fixture rows
    frame = train_frame.drop(columns=["label"])
    y = np.arange(len(frame)) % 3
    columns = columns_for(train_frame, small_settings())
    model = fam.build_pipeline(
        "lightgbm", SMALL["lightgbm"], task="multiclass", columns=columns, seed=1, timezone="UTC"
    ).fit(frame, y)
    # when it scores rows (unseen and missing levels included) before and after a skops round trip
    rows = _unseen_rows(frame)
    before = predict_scores(model, rows, "multiclass")
    save_model(model, tmp_path / "model.skops")
    after = predict_scores(load_model(tmp_path / "model.skops"), rows, "multiclass")
    # then every row gets a probability per class, unchanged by the round trip
    assert before.shape == (3, 3)
    np.testing.assert_allclose(before.sum(axis=1), 1.0)
    np.testing.assert_array_equal(before, after)


@NEEDS_LIGHTGBM
def test_lightgbm_splits_natively_on_the_categorical_codes() -> None:
    import json

    # given a label that only a categorical column's levels explain (and its codes' order not)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"level": rng.choice(list("abcdef"), 600), "noise": rng.normal(size=600)})
    y = frame["level"].isin(["b", "e"]).to_numpy().astype(int)
    columns = preprocess.feature_columns(
        frame, exclude=set(), event_time=None, calendar=False, max_categories=60
    )
    # when the lightgbm family fits it
    model = fam.build_pipeline(
        "lightgbm", {"n_estimators": 5}, task="classification", columns=columns, seed=1,
        timezone="UTC",
    ).fit(frame, y)  # fmt: skip
    # then its trees split on categories (decision "=="), not on thresholds of the codes
    trees = json.dumps(model[-1].booster_.dump_model()["tree_info"])
    assert '"decision_type": "=="' in trees


def test_a_family_whose_package_is_missing_names_the_fix() -> None:
    # given a family whose estimator lives in a package that is not installed
    missing = fam.Family(
        "not_installed",
        estimators={"classification": "no_such_package_retrain.Estimator"},
        build=lambda cls, params, ctx: cls(**params),
    )
    # then using it is a UserError naming the package and both ways out, not an ImportError
    with pytest.raises(UserError, match="needs the no_such_package_retrain package") as err:
        missing.estimator_class("classification")
    assert "train.families.not_installed.enabled: false" in str(err.value.hint)


def test_extra_requirements_follow_the_types_the_model_holds() -> None:
    # given the skops types of a LightGBM pipeline and of a scikit-learn-only one
    lgbm = ["lightgbm.basic.Booster", "lightgbm.sklearn.LGBMClassifier", "collections.OrderedDict"]
    hgb = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    # then only the first needs the lightgbm package where it is served
    assert fam.requirements_for(lgbm) == ("lightgbm",)
    assert fam.requirements_for(hgb) == ()
