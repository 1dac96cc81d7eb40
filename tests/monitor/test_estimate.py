"""CBPE: the champion's performance estimated without labels, checked against a hand-computed
case and against realised metrics under simulated covariate shift."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from retrain.errors import UserError
from retrain.monitor.estimate import (
    calibrate,
    estimate_accuracy,
    estimate_roc_auc,
    expected_roc_auc,
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
