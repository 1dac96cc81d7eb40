"""The `challenger` policy: a cheap seeded model trained on the newest labelled window, fired
only when it beats the champion on the newest labelled period beyond bootstrap noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retrain.config import parse_params
from retrain.errors import UserError
from retrain.policies import PolicyContext, Sample, decide
from retrain.policies.challenger import fit_challenger

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "monitor" / "features.parquet"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def rows(rng: np.random.Generator, n: int, weights: tuple[float, float]) -> pd.DataFrame:
    """Two inputs; the label rides on `weights` . (a, b) (the concept)."""
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    logit = 2.0 * (weights[0] * frame["a"] + weights[1] * frame["b"])
    return frame.assign(label=(rng.random(n) < sigmoid(logit.to_numpy())).astype(int))


def sample(frame: pd.DataFrame, scores: np.ndarray) -> Sample:
    return Sample(scores, frame["label"].to_numpy(), frame.drop(columns="label"))


def context(params: dict | None = None, **fields) -> PolicyContext:
    defaults = {
        "params": parse_params(params or {}),
        "task": "classification",
        "metric": "roc_auc",
        "registered": 0.8,
        "periods_since_retrain": 1,
        "seed": 0,
    }
    return PolicyContext(**{**defaults, **fields})


def champion_on(frame: pd.DataFrame, params: dict | None = None) -> object:
    """A champion of the same cheap family, fitted on `frame` (what a retrain would give)."""
    model, _ = fit_challenger(frame, parse_params(params or {}))
    return model


def scores(model: object, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame.drop(columns="label"))[:, 1]  # type: ignore[attr-defined]


def test_fires_when_a_fresh_model_clearly_wins_on_a_concept_shift() -> None:
    rng = np.random.default_rng(0)
    # given a champion trained when the label rode on `a`, and since then it rides on `b`
    champion = champion_on(rows(rng, 3000, (1, 0)))
    window, newest = rows(rng, 3000, (0, 1)), rows(rng, 3000, (0, 1))
    made = decide(
        "challenger",
        context(
            labelled=sample(newest, scores(champion, newest)),
            history=sample(window, np.zeros(len(window))),
        ),
    )
    # then the challenger trained on the latest window wins by far, and the policy fires
    assert made.fired and made.event_type == "performance-degraded" and not made.estimated
    ev = made.evidence
    assert ev["challenger"] > 0.75 and ev["champion"] < 0.6
    assert ev["gain"] == pytest.approx(ev["challenger"] - ev["champion"], abs=1e-5)
    assert 0 < ev["gain_low"] <= ev["gain"] <= ev["gain_high"]
    assert ev["margin"] == pytest.approx(0.01 * ev["champion"], abs=1e-5)
    assert ev["fit_s"] > 0 and ev["train_rows"] == 3000 and ev["n"] == 3000
    assert ev["family"] == "hist_gradient_boosting"


def test_does_not_fire_on_noise_from_the_same_distribution() -> None:
    rng = np.random.default_rng(1)
    # given a champion trained on the same concept the new periods still follow
    champion = champion_on(rows(rng, 3000, (1, 0.5)))
    window, newest = rows(rng, 3000, (1, 0.5)), rows(rng, 3000, (1, 0.5))
    made = decide(
        "challenger",
        context(
            labelled=sample(newest, scores(champion, newest)),
            history=sample(window, np.zeros(len(window))),
        ),
    )
    # then the challenger is no better beyond noise: no retrain
    assert not made.fired
    assert abs(made.evidence["gain"]) < 0.02 and made.evidence["gain_low"] <= 0


def test_a_gain_below_the_margin_does_not_fire() -> None:
    rng = np.random.default_rng(0)
    champion = champion_on(rows(rng, 3000, (1, 0)))
    window, newest = rows(rng, 3000, (0, 1)), rows(rng, 3000, (0, 1))
    labelled = sample(newest, scores(champion, newest))
    # given the clear win above, but a margin larger than the gain
    made = decide(
        "challenger",
        context(
            {"policy": {"challenger": {"margin": 0.5}}},
            labelled=labelled,
            history=sample(window, np.zeros(len(window))),
        ),
    )
    # then it is significant but not enough
    assert made.evidence["gain_low"] > 0 and not made.fired and made.evidence["margin"] == 0.5


def test_works_for_regression_with_a_lower_is_better_metric() -> None:
    rng = np.random.default_rng(2)

    def prices(n: int, level: float) -> pd.DataFrame:
        x = rng.uniform(0, 10, n)
        return pd.DataFrame({"x": x, "label": 3 * x + level + rng.normal(0, 1, n)})

    params = {"base": {"task": "regression", "positive_above": None}}
    # given a champion fitted when the level was 0, and the level has moved to 10
    champion, _ = fit_challenger(prices(2000, 0), parse_params(params))
    window, newest = prices(2000, 10), prices(2000, 10)
    labelled = Sample(champion.predict(newest[["x"]]), newest["label"].to_numpy(), newest[["x"]])
    history = Sample(np.zeros(len(window)), window["label"].to_numpy(), window[["x"]])
    made = decide(
        "challenger",
        context(params, task="regression", metric="rmse", labelled=labelled, history=history),
    )
    # then the challenger's RMSE is lower (better): a positive gain, and it fires
    ev = made.evidence
    assert made.fired and ev["metric"] == "rmse" and ev["challenger"] < ev["champion"]
    assert ev["gain"] == pytest.approx(ev["champion"] - ev["challenger"], abs=1e-5)
    # and on the unchanged level it stays quiet
    same = prices(2000, 0)
    quiet = decide(
        "challenger",
        context(
            params,
            task="regression",
            metric="rmse",
            labelled=Sample(champion.predict(same[["x"]]), same["label"].to_numpy(), same[["x"]]),
            history=Sample(np.zeros(2000), prices(2000, 0)["label"].to_numpy(), same[["x"]]),
        ),
    )
    assert not quiet.fired


def test_without_newly_labelled_rows_it_does_not_fire_or_train() -> None:
    rng = np.random.default_rng(3)
    window = rows(rng, 1000, (0, 1))
    # given no labels newer than the champion (they have not arrived yet)
    made = decide(
        "challenger", context(labelled=None, history=sample(window, np.zeros(len(window))))
    )
    assert not made.fired and "no newly labelled period" in made.reason
    # given too few of them
    few = rows(rng, 50, (0, 1))
    made = decide(
        "challenger",
        context(labelled=sample(few, np.zeros(50)), history=sample(window, np.zeros(len(window)))),
    )
    assert not made.fired and "needs 200" in made.reason


def test_the_replay_gives_it_only_labels_that_arrived(tmp_path: Path) -> None:
    from retrain.artifacts import VersionTags
    from retrain.replay import PolicyRun, Replay

    # given a replay whose labels arrive one month late, and a champion gated on February
    params = parse_params(
        {
            "base": {"timezone": "America/New_York"},
            "replay": {
                "initial_periods": 3,
                "last_period": 4,
                "train_periods": 2,
                "label_delay": 1,
                "policies": ["challenger"],
            },
        }
    )
    replay = Replay(params, pd.read_parquet(FIXTURE), tmp_path, f"sqlite:///{tmp_path}/r.db")
    first, _ = fit_challenger(replay.labelled(1), replay.params)
    run = PolicyRun("challenger", "m", version="1", pipeline=first, promoted_month=2)
    run.tags = VersionTags(sha256="0" * 64, primary_metric="roc_auc", metrics={"roc_auc": 0.7})
    # when it decides at the end of April
    seen = replay.context(run, 4)
    # then it compares on March (April's labels have not arrived) and trains on Jan-Feb
    local = pd.to_datetime(seen.labelled.features["event_time"], utc=True).dt.tz_convert(
        "America/New_York"
    )
    assert set(local.dt.month) == {3}
    before = pd.to_datetime(seen.history.features["event_time"], utc=True).dt.tz_convert(
        "America/New_York"
    )
    assert set(before.dt.month) == {1, 2}
    # and a champion gated on March has no newer labels at the end of April: nothing to judge
    run.promoted_month = 3
    late = replay.context(run, 4)
    assert late.labelled is None and late.history is None
    assert not decide("challenger", late).fired


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"family": "xgboost"}, "policy.challenger.family"),
        ({"seconds": 0}, "policy.challenger.seconds"),
        ({"margin": -0.01}, "policy.challenger.margin"),
        ({"level": 1.0}, "policy.challenger.level"),
        ({"resamples": 10}, "policy.challenger.resamples"),
        ({"max_rows": 5}, "policy.challenger.max_rows"),
        ({"famliy": "linear"}, "key 'famliy' in section 'policy.challenger'"),
    ],
)
def test_bad_settings_are_refused_at_load_naming_the_key(settings: dict, key: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_params({"policy": {"challenger": settings}})
    assert key in caught.value.message


def test_good_settings_load_and_the_monitor_can_use_it() -> None:
    params = parse_params(
        {"policy": {"monitor": "challenger", "challenger": {"family": "linear", "margin": 0.01}}}
    )
    assert params.policy.monitor == "challenger"
    assert params.policy.challenger.family == "linear" and params.policy.challenger.margin == 0.01
    assert parse_params({"replay": {"policies": ["never", "challenger"]}}).replay.policies == [
        "never",
        "challenger",
    ]
