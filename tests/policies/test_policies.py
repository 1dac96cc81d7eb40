"""Each retrain policy on small synthetic drifts: a shift it must catch, noise it must ignore."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from retrain.config import parse_params
from retrain.errors import UserError
from retrain.policies import POLICIES, PolicyContext, Sample, decide


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def classified(rng: np.random.Generator, n: int, spread: float) -> Sample:
    """Covariate shift: the inputs' spread moves, the label rule P(y | x) does not; the
    champion's score is monotone in x. A narrower spread means a lower AUC."""
    x = rng.normal(0, spread, n)
    labels = (rng.random(n) < sigmoid(2.0 * x)).astype(int)
    return Sample(scores=sigmoid(1.5 * x + 0.2), labels=labels)


def context(params: dict | None = None, **fields) -> PolicyContext:
    defaults = {
        "params": parse_params(params or {}),
        "task": "classification",
        "metric": "roc_auc",
        "registered": None,
        "periods_since_retrain": 1,
        "seed": 0,
    }
    return PolicyContext(**{**defaults, **fields})


@pytest.fixture(scope="module")
def reference() -> Sample:
    return classified(np.random.default_rng(1), 4000, 1.5)


def registered_auc(sample: Sample) -> float:
    return float(roc_auc_score(sample.labels, sample.scores))


def test_every_policy_is_registered() -> None:
    assert set(POLICIES) == {
        "never",
        "periodic",
        "drift",
        "decay",
        "estimated",
        "challenger",
        "cost_aware",
    }


def test_never_never_fires() -> None:
    made = decide("never", context(periods_since_retrain=50))
    assert not made.fired and made.policy == "never" and made.event_type is None


def test_periodic_fires_every_n_periods_and_its_old_name_still_works() -> None:
    params = {"policy": {"periodic": {"every": 2}}}
    assert not decide("periodic", context(params, periods_since_retrain=1)).fired
    made = decide("periodic", context(params, periods_since_retrain=2))
    assert made.fired and made.event_type == "data-updated"
    assert made.evidence == {"periods_since_retrain": 2, "every": 2}
    assert decide("monthly", context(periods_since_retrain=1)).policy == "periodic"


def test_unknown_policy_is_a_user_error() -> None:
    from retrain.errors import UserError

    with pytest.raises(UserError, match="unknown retrain policy 'sometimes'"):
        decide("sometimes", context())


def test_decay_catches_a_real_drop_and_ignores_noise(reference: Sample) -> None:
    registered = registered_auc(reference)
    rng = np.random.default_rng(2)
    # given many newly labelled rows where the champion really is worse (narrower inputs)
    shifted = classified(rng, 5000, 0.6)
    made = decide("decay", context(registered=registered, labelled=shifted))
    # then it fires, as a performance degradation measured on labels
    assert made.fired and made.event_type == "performance-degraded" and not made.estimated
    assert made.evidence["decay"] > 0.05 and made.evidence["decay_bound"] > 0
    # given new labelled rows from the same population: noise
    same = classified(rng, 5000, 1.5)
    assert not decide("decay", context(registered=registered, labelled=same)).fired


def test_decay_does_not_fire_on_a_small_noisy_window(reference: Sample) -> None:
    registered = registered_auc(reference)
    # given 250 labelled rows whose point decay passes the trigger by sampling luck alone
    found = None
    for seed in range(200):
        rows = classified(np.random.default_rng(100 + seed), 250, 1.5)
        if registered - registered_auc(rows) >= 0.03:
            found = rows
            break
    assert found is not None
    made = decide("decay", context(registered=registered, labelled=found))
    # then the bootstrap bound keeps it quiet
    assert made.evidence["decay"] >= made.evidence["trigger"]
    assert not made.fired and made.evidence["decay_bound"] <= 0
    # and a window below policy.decay.min_rows is not judged at all
    tiny = Sample(found.scores[:50], found.labels[:50])
    assert "needs 200" in decide("decay", context(registered=registered, labelled=tiny)).reason


def test_estimated_catches_a_covariate_shift_without_labels(reference: Sample) -> None:
    registered = registered_auc(reference)
    rng = np.random.default_rng(3)
    shifted = classified(rng, 4000, 0.6)
    unlabelled = Sample(scores=shifted.scores)  # the policy never sees labels of the period
    made = decide(
        "estimated", context(registered=registered, reference=reference, current=unlabelled)
    )
    assert made.fired and made.estimated and made.event_type == "performance-degraded"
    realised = registered_auc(shifted)
    assert made.evidence["estimate"] == pytest.approx(realised, abs=0.02)
    # the interval (label-sampling noise) is tight next to the decay it reports
    assert made.evidence["high"] - made.evidence["low"] < made.evidence["decay"] / 2
    # noise: another sample of the reference population
    same = Sample(scores=classified(rng, 4000, 1.5).scores)
    quiet = decide("estimated", context(registered=registered, reference=reference, current=same))
    assert not quiet.fired and abs(quiet.evidence["decay"]) < 0.02


def wobbling_reference(rng: np.random.Generator) -> Sample:
    """A labelled reference of five weeks whose label rule P(y | x) wobbles from week to week
    (a calibration pooled over them is off on any one), rows stored out of time order: only
    their `event_time` says which week a row is in."""
    weeks = []
    for week, slope in enumerate((1.4, 2.6, 1.7, 2.3, 1.5)):
        x = rng.normal(0, 1.5, 2000)
        labels = (rng.random(2000) < sigmoid(slope * x)).astype(int)
        when = pd.Timestamp("2013-03-01") + pd.to_timedelta(7 * week + rng.random(2000) * 7, "D")
        weeks.append(pd.DataFrame({"score": sigmoid(1.5 * x + 0.2), "label": labels, "t": when}))
    rows = pd.concat(weeks).sample(frac=1.0, random_state=0)
    features = rows[["t"]].rename(columns={"t": "event_time"})
    return Sample(rows["score"].to_numpy(), rows["label"].to_numpy(), features)


def test_estimated_interval_holds_the_realised_auc_when_the_calibration_is_off() -> None:
    rng = np.random.default_rng(8)
    reference = wobbling_reference(rng)
    registered = registered_auc(reference)
    old = {"policy": {"estimated": {"cross_fit_folds": 0}}}
    sampling_only = cross_fitted = 0
    for month in range(9):
        # given a month whose label rule is within the reference weeks' range, inputs moving
        x = rng.normal(0, 1.5 - 0.05 * month, 4000)
        labels = (rng.random(4000) < sigmoid(rng.uniform(1.4, 2.6) * x)).astype(int)
        scores = sigmoid(1.5 * x + 0.2)
        realised = float(roc_auc_score(labels, scores))
        common = {"registered": registered, "reference": reference, "seed": month}
        # when the policy estimates it without labels, with and without cross-fitting
        found = decide("estimated", context(current=Sample(scores), **common)).evidence
        narrow = decide("estimated", context(old, current=Sample(scores), **common)).evidence
        sampling_only += narrow["low"] <= realised <= narrow["high"]
        cross_fitted += found["low"] <= realised <= found["high"]
    # then the label-sampling interval alone misses most months, the cross-fitted one (blocks
    # by event time) holds the realised AUC in >= 7 of 9
    assert sampling_only <= 3
    assert cross_fitted >= 7
    # and a real covariate shift still fires through the wider interval; noise does not
    x = rng.normal(0, 0.5, 4000)
    shifted = Sample(sigmoid(1.5 * x + 0.2))
    made = decide("estimated", context(registered=registered, reference=reference, current=shifted))
    assert made.fired and made.evidence["high"] < registered
    same = Sample(sigmoid(1.5 * rng.normal(0, 1.5, 4000) + 0.2))
    quiet = decide("estimated", context(registered=registered, reference=reference, current=same))
    assert not quiet.fired


def concept(rng: np.random.Generator, n: int, slope: float, spread: float = 1.5) -> Sample:
    """Concept drift: the label rule's slope moves, the champion's score (monotone in x) does
    not; a flatter rule means a lower AUC at the same scores."""
    x = rng.normal(0, spread, n)
    labels = (rng.random(n) < sigmoid(slope * x)).astype(int)
    return Sample(scores=sigmoid(1.5 * x + 0.2), labels=labels)


def test_estimated_calibrates_on_the_labels_that_arrived_since_the_test_window() -> None:
    rng = np.random.default_rng(21)
    # given a champion tested on a steep label rule, which has since flattened month by month
    reference = concept(rng, 4000, 3.0)
    registered = registered_auc(reference)
    since = [concept(rng, 3000, slope) for slope in (2.2, 1.6, 1.2)]
    calibration = Sample(
        np.concatenate([reference.scores, *(s.scores for s in since)]),
        np.concatenate([reference.labels, *(s.labels for s in since)]),
    )
    current = concept(rng, 4000, 1.1)
    realised = registered_auc(current)
    common = {"registered": registered, "reference": reference, "current": Sample(current.scores)}
    # when the policy estimates the current month with the default calibration, and with the
    # champion's test window alone (CBPE as published)
    pooled = decide("estimated", context(calibration=calibration, **common)).evidence
    published = decide(
        "estimated",
        context(
            {"policy": {"estimated": {"calibration": "reference"}}},
            calibration=calibration,
            **common,
        ),
    ).evidence
    without = decide("estimated", context(**common)).evidence
    # then the labels that arrived bring the estimate nearer the realised AUC
    assert abs(published["estimate"] - realised) > 0.05  # the test window's rule is stale
    assert abs(pooled["estimate"] - realised) < 0.7 * abs(published["estimate"] - realised)
    # and without them (a caller that has none) the test window is the calibration
    assert without["estimate"] == published["estimate"]


def test_estimated_falls_back_to_the_test_window_when_few_labels_arrived(reference: Sample) -> None:
    rng = np.random.default_rng(22)
    few = concept(rng, 50, 0.5)  # min_reference_rows is 100
    current = Sample(classified(rng, 4000, 1.5).scores)
    common = {"registered": registered_auc(reference), "reference": reference, "current": current}
    fallback = decide("estimated", context(calibration=few, **common)).evidence
    plain = decide("estimated", context(**common)).evidence
    assert fallback["estimate"] == plain["estimate"]


def test_the_estimate_calibration_setting_is_checked() -> None:
    with pytest.raises(UserError, match="policy.estimated.calibration.*'labelled' or 'reference'"):
        parse_params({"policy": {"estimated": {"calibration": "newest"}}})


def regression(
    rng: np.random.Generator, n: int, centre: float, spread: float = 1.5
) -> tuple[Sample, pd.DataFrame]:
    """y = 3x + noise whose spread grows with |x|; the champion predicts 3x (right on average).
    Moving the inputs to large |x| (inside the reference's range: a loss model does not
    extrapolate) raises its RMSE; only x, not y, is seen on current rows."""
    x = rng.normal(centre, spread, n)
    y = 3 * x + rng.normal(0, 0.5 + np.abs(x), n)
    features = pd.DataFrame({"x": x, "kind": np.where(x > 0, "a", "b")})
    return Sample(scores=3 * x, labels=y, features=features), features


def test_estimated_regression_catches_a_shift_in_the_error() -> None:
    rng = np.random.default_rng(4)
    ref, _ = regression(rng, 3000, 0.0)
    rmse = lambda s: float(np.sqrt(np.mean((s.scores - s.labels) ** 2)))  # noqa: E731
    registered = rmse(ref)
    params = {"base": {"task": "regression", "target": "y", "positive_above": None}}
    shifted, _ = regression(rng, 3000, 2.0, 0.7)
    current = Sample(scores=shifted.scores, features=shifted.features)
    made = decide(
        "estimated",
        context(
            params,
            task="regression",
            metric="rmse",
            registered=registered,
            reference=ref,
            current=current,
        ),
    )
    assert made.fired and made.estimated
    assert made.evidence["estimate"] == pytest.approx(rmse(shifted), rel=0.1)
    same, _ = regression(rng, 3000, 0.0)
    quiet = decide(
        "estimated",
        context(
            params,
            task="regression",
            metric="rmse",
            registered=registered,
            reference=ref,
            current=Sample(scores=same.scores, features=same.features),
        ),
    )
    assert not quiet.fired


def test_cost_aware_weighs_the_estimated_gain_against_the_measured_cost(
    reference: Sample,
) -> None:
    registered = registered_auc(reference)
    shifted = Sample(scores=classified(np.random.default_rng(5), 4000, 0.6).scores)
    common = {"registered": registered, "reference": reference, "current": shifted}
    # the gain of recovering ~0.1 AUC for 3 periods at $0.01 a point: ~$0.3
    cheap = decide("cost_aware", context(retrain_usd=0.05, **common))
    assert cheap.fired and cheap.estimated and cheap.evidence["gain_usd"] > 0.05
    dear = decide("cost_aware", context(retrain_usd=5.0, **common))
    assert not dear.fired and dear.evidence["cost_usd"] == 5.0
    # nothing measured and no policy.cost_aware.retrain_usd: it does not guess
    unknown = decide("cost_aware", context(**common))
    assert not unknown.fired and "no measured retrain cost" in unknown.reason
    # noise: no gain to pay for even a cheap retrain
    same = Sample(scores=classified(np.random.default_rng(6), 4000, 1.5).scores)
    quiet = decide("cost_aware", context(retrain_usd=0.05, **{**common, "current": same}))
    assert not quiet.fired


def test_drift_is_the_monitors_rule() -> None:
    from retrain.monitor.drift import DriftReport, feature_drift
    from retrain.monitor.drift import decide as drift_rule

    params = parse_params({"monitor": {"trigger": {"persistence": 1}}})
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(0, 1, 2000)})

    def check(current: pd.DataFrame):
        features = feature_drift(ref, current, params.monitor)
        report = DriftReport(features, None, None, len(ref), len(current))
        return lambda: (
            report,
            drift_rule(report, params.monitor.trigger, "2013-05-01..2013-06-01"),
        )

    moved = pd.DataFrame({"a": rng.normal(2, 1, 2000), "b": rng.normal(0, 1, 2000)})
    made = decide("drift", context(params.model_dump(by_alias=True), drift=check(moved)))
    assert made.fired and made.event_type == "drift-detected"
    assert made.evidence["drift_share"] == 0.5 and made.evidence["persistence"] == 1
    same = pd.DataFrame({"a": rng.normal(0, 1, 2000), "b": rng.normal(0, 1, 2000)})
    assert not decide("drift", context(drift=check(same))).fired
