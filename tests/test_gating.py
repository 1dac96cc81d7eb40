"""The gate's rules with the defaults `retrain init` drafts for a multiclass table (scikit-learn's
wine, three cultivars): an honest model is blessed, a leaking one is not and is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from retrain.config import Params, parse_params
from retrain.gating import evaluate_gate
from retrain.metrics import score
from retrain.params_template import render
from retrain.profiling import draft_params

N_TRAIN = 141  # the drafted time cut leaves the last 37 tastings for the test


def _wine() -> pd.DataFrame:
    """Wine with text cultivars, rows shuffled (the bundled order is sorted by class), one
    tasting a day (as tests/stages/test_own_table.py's table)."""
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame["cultivar"] = np.asarray(["barolo", "grignolino", "barbera"])[data.target]
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame.insert(0, "tasted", pd.date_range("2020-01-01", periods=len(frame), freq="D"))
    return frame


@pytest.fixture(scope="module")
def drafted() -> tuple[Params, pd.DataFrame, pd.DataFrame]:
    """init's params for wine, and its train/test rows with labels coded as base.classes."""
    frame = _wine()
    draft = draft_params(frame, Path("data/wine.csv"), "cultivar", time="tasted")
    params = parse_params(yaml.safe_load(render(draft)), "params.yaml")
    assert params.base.task == "multiclass"
    assert draft.time is not None and draft.time.n_test == len(frame) - N_TRAIN
    codes = {name: i for i, name in enumerate(params.base.classes or ())}
    rows = frame.drop(columns=["cultivar"]).assign(label=frame["cultivar"].map(codes))
    return params, rows.iloc[:N_TRAIN], rows.iloc[N_TRAIN:]


def _features(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("tasted", "label")]


def _fit(train: pd.DataFrame, c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    return model.fit(train[_features(train)], train["label"])


def _cv(train: pd.DataFrame, c: float) -> tuple[str, float]:
    """The honest CV score of the same model (stratified, seeded), as the search reports it."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    proba = cross_val_predict(
        _fit(train, c), train[_features(train)], train["label"], cv=folds, method="predict_proba"
    )
    return "roc_auc_ovr", score("roc_auc_ovr", train["label"].to_numpy(), proba)


def _gate(params: Params, train, test, candidate, champion, cv):
    return evaluate_gate(
        params.gate,
        params.base.task,
        test,
        candidate,
        champion,
        None if champion is None else "1",
        seed=params.base.seed,
        train=train,
        cv=cv,
        candidate_sha256="a" * 64,
    )


def test_honest_multiclass_model_is_blessed_first_and_against_a_champion(drafted) -> None:
    params, train, test = drafted
    # given an honest model, a weaker honest champion and the model's own CV score
    candidate, champion = _fit(train, 1.0), _fit(train, 0.01)
    cv = _cv(train, 1.0)
    # when the drafted gate judges it as the first model and against the champion
    first = _gate(params, train, test, candidate, None, cv)
    second = _gate(params, train, test, candidate, champion, cv)
    # then both are blessed, with every multiclass suspicion check run and passed
    for verdict in (first, second):
        assert verdict.blessed and not verdict.suspicious, verdict.summary
        assert verdict.leaking_features == []
    names = {c.name for c in second.checks}
    assert {
        "suspicion.leakage",
        "suspicion.cv_gain.roc_auc_ovr",
        "suspicion.gain.roc_auc_ovr",
        "bootstrap.roc_auc_ovr",
        "change.accuracy",
        "change.f1_macro",
        "change.log_loss",
    } <= names
    assert second.candidate["roc_auc_ovr"] > 0.95  # an easy table: honest and near-perfect


def test_leaking_multiclass_feature_is_flagged_and_named(drafted) -> None:
    params, train, test = drafted
    # given a feature that is the class code plus a little noise (known only after the label)
    rng = np.random.default_rng(0)

    def leak(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(cellar_code=frame["label"] + rng.normal(0, 0.05, len(frame)))

    train, test = leak(train), leak(test)
    candidate, champion = _fit(train, 1.0), _fit(train.drop(columns="cellar_code"), 0.01)
    # when the drafted gate judges the model trained with it
    verdict = _gate(params, train, test, candidate, champion, _cv(train, 1.0))
    # then it is not blessed, flagged suspicious, and the feature is named
    assert not verdict.blessed and verdict.suspicious
    assert verdict.leaking_features == ["cellar_code"]
    assert "cellar_code" in verdict.summary


def test_multiclass_gain_over_cv_beyond_the_bound_is_flagged(drafted) -> None:
    params, train, test = drafted
    # given an honest model whose search claimed a CV score far below its test score
    candidate = _fit(train, 1.0)
    # when the gate compares the test score with that CV score
    verdict = _gate(params, train, test, candidate, None, ("roc_auc_ovr", 0.80))
    # then the gain over CV is "suspiciously good": not blessed
    check = next(c for c in verdict.checks if c.name == "suspicion.cv_gain.roc_auc_ovr")
    assert not check.passed and not verdict.blessed and verdict.suspicious


def test_r2_gain_counts_from_zero_when_the_champion_is_below_no_skill() -> None:
    from retrain.config.gate import SuspicionSettings
    from retrain.gating import suspicion_checks

    settings = SuspicionSettings()  # max_gain r2: 0.1

    def gain_check(new: float, old: float):
        checks = suspicion_checks(settings, {"r2": new}, {"r2": old}, None, None, None)
        return next(c for c in checks if c.name == "suspicion.gain.r2")

    # given a champion far below the test mean (R² −4.64, a trending table): a better honest
    # model (−2.0) is not suspicious, one that jumps above no skill by more than the bound is
    assert gain_check(-2.0, -4.64).passed
    assert not gain_check(0.95, -4.64).passed
    # and above zero the bound applies as before
    assert gain_check(0.55, 0.5).passed and not gain_check(0.7, 0.5).passed


def test_a_decayed_champion_counts_the_gain_from_its_registered_value() -> None:
    from retrain.config.gate import SuspicionSettings
    from retrain.gating import suspicion_checks

    settings = SuspicionSettings()  # max_gain roc_auc: 0.05

    def gain_check(new: float, now: float, registered: dict[str, float] | None):
        checks = suspicion_checks(
            settings, {"roc_auc": new}, {"roc_auc": now}, None, None, None, registered=registered
        )
        return next(c for c in checks if c.name == "suspicion.gain.roc_auc")

    # given a champion registered at 0.736 that scores 0.634 on the new window (the 2013
    # replay's July champion after four stale months), and a retrain scoring 0.776
    # then the gain counts from the registered level: +0.040, plausible ...
    recovered = gain_check(0.776, 0.634, {"roc_auc": 0.736})
    assert recovered.passed and recovered.value == pytest.approx(0.040)
    assert "from its registered value" in recovered.detail
    # ... where counting from the decayed score (+0.142) would block every retrain
    assert not gain_check(0.776, 0.634, None).passed
    # and a jump beyond the best the champion ever scored is still suspicious
    assert not gain_check(0.80, 0.634, {"roc_auc": 0.736}).passed
    # a champion scoring better now than when registered: the gain counts from now
    now = gain_check(0.80, 0.76, {"roc_auc": 0.70})
    assert now.passed and now.value == pytest.approx(0.04)
    assert "registered" not in now.detail
