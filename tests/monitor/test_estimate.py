"""CBPE: the champion's performance estimated without labels, checked against a hand-computed
case and against realised metrics under simulated covariate shift."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from retrain.errors import UserError
from retrain.monitor.estimate import (
    Estimate,
    calibrate,
    cross_fit_errors,
    estimate_accuracy,
    estimate_classification,
    estimate_roc_auc,
    expected_roc_auc,
    fold_blocks,
    widened,
)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def population(rng: np.random.Generator, n: int, shift: float, spread: float):
    """Inputs that move (covariate shift), a label rule that does not, and a champion whose
    scores are monotone in the truth but not calibrated."""
    x = rng.normal(shift, spread, n)
    labels = (rng.random(n) < sigmoid(2.0 * x - 1.0)).astype(int)
    scores = sigmoid(1.2 * x + 0.3)
    return scores, labels


def wobbling(rng: np.random.Generator, n: int, slope: float, shift: float = 0.0, spread=1.0):
    """Like `population`, but the label rule's slope is the period's own: P(label | score)
    moves from week to week, so a calibration fitted on some weeks is off on others."""
    x = rng.normal(shift, spread, n)
    labels = (rng.random(n) < sigmoid(slope * x - 1.0)).astype(int)
    return sigmoid(1.2 * x + 0.3), labels


def test_expected_auc_matches_a_hand_computed_case() -> None:
    # given four rows: calibrated P(positive) 0, .5, .5, 1 in score order
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    probabilities = np.array([0.0, 0.5, 0.5, 1.0])
    # then sum p_i q_j [s_i > s_j] = .5*1 + .5*1.5 + 1*2 = 3.25 over 2*2 - .5 = 3.5 pairs
    assert expected_roc_auc(scores, probabilities) == pytest.approx(13 / 14)
    # with certain labels it is the ordinary AUC, ties counting half
    tied = np.array([0.1, 0.3, 0.3, 0.4])
    certain = np.array([0.0, 1.0, 0.0, 1.0])
    assert expected_roc_auc(tied, certain) == pytest.approx(roc_auc_score(certain, tied))


def test_cbpe_tracks_the_realised_auc_under_covariate_shift() -> None:
    # given a reference window with labels, and nine months whose inputs drift away from it
    rng = np.random.default_rng(7)
    ref_scores, ref_labels = population(rng, 20_000, 0.0, 1.0)
    calibrator = calibrate(ref_scores, ref_labels)
    naive = roc_auc_score(ref_labels, ref_scores)
    months = [(0.1 * k, 1.0 - 0.06 * k) for k in range(9)]
    close = inside = naive_close = 0
    errors, naive_errors = [], []
    for month, (shift, spread) in enumerate(months):
        scores, labels = population(rng, 8_000, shift, spread)
        # when the champion's AUC is estimated from its scores alone
        estimate = estimate_roc_auc(calibrator, scores, seed=month)
        realised = roc_auc_score(labels, scores)
        close += abs(estimate.value - realised) <= 0.02
        inside += estimate.contains(realised)
        naive_close += abs(naive - realised) <= 0.02
        errors.append(abs(estimate.value - realised))
        naive_errors.append(abs(naive - realised))
        assert estimate.low < estimate.value < estimate.high and estimate.n_rows == 8_000
    # then (the bar) within 0.02 in >= 7 of 9 months, realised inside the interval in
    # >= 7 of 9, and clearly better than assuming the registered (reference) AUC still holds
    assert close >= 7 and inside >= 7
    assert np.mean(errors) < np.mean(naive_errors) / 3
    assert naive_close < 7


def test_cbpe_estimates_accuracy_at_the_threshold() -> None:
    rng = np.random.default_rng(3)
    calibrator = calibrate(*population(rng, 20_000, 0.0, 1.0))
    scores, labels = population(rng, 8_000, 0.6, 0.7)
    threshold = 0.6
    estimate = estimate_accuracy(calibrator, scores, threshold, seed=1)
    realised = ((scores >= threshold) == labels).mean()
    assert abs(estimate.value - realised) <= 0.02 and estimate.contains(realised)


def test_cbpe_refuses_what_it_cannot_estimate_from() -> None:
    rng = np.random.default_rng(0)
    scores, labels = population(rng, 1_000, 0.0, 1.0)
    with pytest.raises(UserError, match="at least 100"):
        calibrate(scores[:50], labels[:50])
    with pytest.raises(UserError, match="not both 0 and 1"):
        calibrate(scores, np.zeros_like(labels))
    with pytest.raises(UserError, match="no current rows"):
        estimate_roc_auc(calibrate(scores, labels), np.array([]))


def test_direct_loss_estimate_follows_the_realised_rmse_under_a_shift() -> None:
    import pandas as pd

    from retrain.monitor.estimate import estimate_direct_loss, fit_direct_loss

    def sample(rng: np.random.Generator, n: int, centre: float, spread: float):
        x = rng.normal(centre, spread, n)
        y = 3 * x + rng.normal(0, 0.5 + np.abs(x), n)  # errors grow with |x|
        return 3 * x, y, pd.DataFrame({"x": x})

    rng = np.random.default_rng(0)
    pred, y, frame = sample(rng, 3000, 0.0, 1.5)
    # given a loss model fitted on the labelled reference window
    model = fit_direct_loss("rmse", y, pred, frame, seed=0)
    naive = float(np.sqrt(np.mean((pred - y) ** 2)))  # "as on the reference"
    close = inside = naive_close = 0
    for centre in (0.0, 0.8, 1.5, 2.0, -2.0):
        # when the inputs move and only they are seen
        p, truth, f = sample(rng, 2000, centre, 0.7)
        found = estimate_direct_loss(model, p, f, level=0.9)
        realised = float(np.sqrt(np.mean((p - truth) ** 2)))
        close += abs(found.value - realised) <= 0.1 * realised
        inside += found.contains(realised)
        naive_close += abs(naive - realised) <= 0.1 * realised
    # then the estimate tracks the realised RMSE where the naive one cannot
    assert close >= 4 and inside >= 3 and naive_close <= 2


def test_direct_loss_refuses_a_metric_it_cannot_estimate() -> None:
    from retrain.monitor.estimate import fit_direct_loss

    with pytest.raises(UserError, match="no label-free estimate of 'r2'"):
        fit_direct_loss("r2", np.zeros(200), np.zeros(200))


def test_fold_blocks_are_runs_in_time_order_or_a_seeded_shuffle() -> None:
    # given ten rows whose event times are not in row order
    times = np.array([5, 1, 9, 3, 7, 0, 8, 2, 6, 4])
    # when they are cut into blocks by time
    blocks = fold_blocks(10, 3, order=times)
    # then each block is a run of consecutive times, and together they are every row once
    assert [sorted(times[b].tolist()) for b in blocks] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    # without times: a shuffle, the same for the same seed, a partition all the same
    shuffled = fold_blocks(10, 3, seed=1)
    assert [b.tolist() for b in shuffled] == [b.tolist() for b in fold_blocks(10, 3, seed=1)]
    assert sorted(np.concatenate(shuffled).tolist()) == list(range(10))
    assert [b.tolist() for b in shuffled] != [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_widened_adds_the_level_quantile_of_the_fold_errors_to_each_side() -> None:
    # given a sampling interval [0.69, 0.71] and five fold errors
    found = Estimate("roc_auc", 0.70, 0.69, 0.71, 0.9, 100)
    errors = np.array([-0.05, 0.01, 0.02, 0.03, 0.04])
    # when it is widened
    wide = widened(found, errors)
    # then by the 0.9 quantile of |errors|: .04 + 0.6 x (.05 - .04) = .046, on each side
    assert wide.margin == pytest.approx(0.046)
    assert (wide.low, wide.high) == pytest.approx((0.644, 0.756))
    assert wide.value == found.value and wide.n_rows == found.n_rows
    # an AUC interval stays inside [0, 1]; no errors measured: the sampling interval as is
    edge = widened(Estimate("roc_auc", 0.98, 0.97, 0.99, 0.9, 100), errors)
    assert edge.high == 1.0
    assert widened(found, np.array([])) == found


def test_cross_fitting_adds_little_where_the_calibration_holds() -> None:
    # given a reference whose label rule holds all along (time = row order)
    rng = np.random.default_rng(0)
    scores, labels = wobbling(rng, 20_000, 2.0)
    # when each of five time blocks is estimated from a calibration on the others
    errors = cross_fit_errors("roc_auc", scores, labels, folds=5, order=np.arange(20_000))
    # then the estimator's error is small: the blocks' own sampling noise
    assert len(errors) == 5 and np.abs(errors).max() < 0.015


def test_interval_holds_the_realised_auc_when_the_calibration_is_off() -> None:
    # given a labelled reference of five weeks whose label rule wobbles (time-ordered blocks)
    rng = np.random.default_rng(0)
    weeks = [wobbling(rng, 4_000, slope) for slope in (1.6, 2.4, 1.8, 2.2, 1.7)]
    scores = np.concatenate([w[0] for w in weeks])
    labels = np.concatenate([w[1] for w in weeks])
    week = np.repeat(np.arange(5), 4_000)
    calibrator = calibrate(scores, labels)
    errors = cross_fit_errors("roc_auc", scores, labels, folds=5, order=week)
    sampling_only = cross_fitted = 0
    for month in range(9):
        # when nine months come with their inputs moving and a rule within the weeks' range
        current, truth = wobbling(rng, 8_000, rng.uniform(1.6, 2.4), 0.1 * month, 1 - 0.05 * month)
        realised = roc_auc_score(truth, current)
        old = estimate_classification("roc_auc", calibrator, current, seed=month)
        new = estimate_classification("roc_auc", calibrator, current, seed=month, errors=errors)
        sampling_only += old.contains(realised)
        cross_fitted += new.contains(realised)
        assert new.value == old.value and new.low < old.low and new.high > old.high
    # then the label-sampling interval alone misses most months, the widened one holds >= 7 of 9
    assert sampling_only <= 3
    assert cross_fitted >= 7


def test_direct_loss_interval_widens_by_its_out_of_fold_errors() -> None:
    import pandas as pd

    from retrain.monitor.estimate import estimate_direct_loss, fit_direct_loss

    # given a loss model fitted on four time-ordered blocks of a reference
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1.5, 2_000)
    y = 3 * x + rng.normal(0, 0.5 + np.abs(x), 2_000)
    model = fit_direct_loss(
        "rmse", y, 3 * x, pd.DataFrame({"x": x}), folds=4, order=np.arange(2_000)
    )
    assert len(model.fold_errors) == 4
    # when the same current rows are estimated with and without the cross-fitted widening
    current = rng.normal(0.5, 1.0, 1_000)
    frame = pd.DataFrame({"x": current})
    wide = estimate_direct_loss(model, 3 * current, frame, level=0.9)
    narrow = estimate_direct_loss(model, 3 * current, frame, level=0.9, cross_fit=False)
    # then the value is the same and the interval strictly wider, by its reported margin
    assert wide.value == narrow.value and narrow.margin == 0.0 and wide.margin > 0
    assert wide.low < narrow.low and wide.high > narrow.high
